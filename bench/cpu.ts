/**
 * CPU time of a server and its children (cluster or nginx workers, libuv and Go threads included),
 * from /proc/PID/stat: user + system time. Read before and after a transfer, it gives the server's
 * CPU seconds per GB moved, a figure that depends much less than MB/s on what else runs on the
 * machine. A proxy's figure does not include the registry behind it.
 */
import { readFile } from 'node:fs/promises';
import { runProcess } from '../test/helpers/process.js';
import { processTree } from './memory.js';

let ticksPerSecond: Promise<number> | undefined;

function clockTicks(): Promise<number> {
  ticksPerSecond ??= runProcess('getconf', ['CLK_TCK'])
    .then((result) => Number(result.stdout.trim()) || 100)
    .catch(() => 100);
  return ticksPerSecond;
}

/** User + system CPU seconds used so far by `pid` and its live descendants. */
export async function cpuSecondsOfTree(pid: number): Promise<number> {
  let ticks = 0;
  for (const p of await processTree(pid)) {
    try {
      const stat = await readFile(`/proc/${p}/stat`, 'utf8');
      // utime and stime are fields 14 and 15; fields after "pid (comm)" start at 3.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited while we looked
    }
  }
  return ticks / (await clockTicks());
}
