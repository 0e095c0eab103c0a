/**
 * Memory of a server and its workers, from /proc: the peak resident set size (VmHWM) summed over a
 * process and all its descendants, reset before a workload (`5` → /proc/PID/clear_refs) so the
 * peak belongs to that workload, with a VmRSS sampler as a cross-check and as the fallback when the
 * reset is not allowed.
 *
 * Summed RSS counts pages shared between processes (the node or nginx binary, mapped by every
 * worker) once per process. The sampler therefore also reads the proportional set size (Pss, from
 * /proc/PID/smaps_rollup), which splits shared pages between their users; the kernel keeps no peak
 * of it, so its peak is the highest 50 ms sample.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';

/** `pid` and every descendant still alive. */
export async function processTree(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows "pid (comm) state"; comm may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // exited while we looked
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  }
  return tree.filter((p) => p === pid || parents.has(p));
}

type MemoryField = 'VmHWM' | 'VmRSS' | 'Pss';

async function statusField(pid: number, field: MemoryField): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/${field === 'Pss' ? 'smaps_rollup' : 'status'}`, 'utf8');
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function sumOver(pid: number, field: MemoryField): Promise<number> {
  const values = await Promise.all((await processTree(pid)).map((p) => statusField(p, field)));
  return values.reduce((a, b) => a + b, 0);
}

export interface PeakMemory {
  /** Bytes: the larger of the summed VmHWM (if the reset worked) and the highest summed VmRSS sample. */
  peakBytes: number;
  /** 'VmHWM' when the peak counters were reset before the workload, else 'sampled VmRSS'. */
  method: 'VmHWM' | 'sampled VmRSS';
  /** Bytes: the highest summed Pss sample. */
  peakPssBytes: number;
  processes: number;
}

/** Measures the peak memory of `pid`'s tree while `workload` runs. */
export async function measurePeakMemory<T>(pid: number, workload: () => Promise<T>): Promise<{ result: T; memory: PeakMemory }> {
  const pids = await processTree(pid);
  let reset = true;
  for (const p of pids) {
    try {
      await writeFile(`/proc/${p}/clear_refs`, '5');
    } catch {
      reset = false;
    }
  }
  let sampled = 0;
  let sampledPss = 0;
  const sample = async (): Promise<void> => {
    const [rss, pss] = await Promise.all([sumOver(pid, 'VmRSS'), sumOver(pid, 'Pss')]);
    sampled = Math.max(sampled, rss);
    sampledPss = Math.max(sampledPss, pss);
  };
  await sample();
  const sampling = { on: true };
  const sampler = (async () => {
    while (sampling.on) {
      await sample();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  try {
    const result = await workload();
    const hwm = reset ? await sumOver(pid, 'VmHWM') : 0;
    return {
      result,
      memory: {
        peakBytes: Math.max(hwm, sampled),
        method: reset ? 'VmHWM' : 'sampled VmRSS',
        peakPssBytes: sampledPss,
        processes: (await processTree(pid)).length,
      },
    };
  } finally {
    sampling.on = false;
    await sampler;
  }
}

/** Field 22 of /proc/PID/stat: when the process started, to tell it from a later one with the same PID. */
async function startTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The pid of a process that started (a started child always has one). */
export function childPid(proc: { readonly child: { readonly pid?: number | undefined } }): number {
  const { pid } = proc.child;
  if (pid === undefined) throw new Error('the started process has no pid');
  return pid;
}

/**
 * Stop a server with `stop` (SIGTERM, then SIGKILL), then SIGKILL any of its descendants that
 * outlived it (nginx workers whose master was killed), by PID, checking that each PID is still
 * the same process.
 */
export async function stopWithTree(pid: number, stop: () => Promise<void>): Promise<void> {
  const tree = await processTree(pid).catch(() => [pid]);
  const started = new Map<number, string | undefined>();
  for (const p of tree) if (p !== pid) started.set(p, await startTime(p));
  await stop();
  for (const [p, time] of started) {
    if (time === undefined || (await startTime(p)) !== time) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
