/**
 * One registry-gate process for a workload that needs a configuration of its own (`ldap`, `pat`,
 * `federation`, `signatures`): the real CLI started from a YAML file in `dir`, plain HTTP on
 * 127.0.0.1, one worker, warn-level logs without the access log, no audit trail, the htpasswd file
 * `dir/htpasswd`, the built-in registry under `dir/data`. `settings` adds keys or replaces these.
 * It is stopped, with its children, when the workspace is cleaned up.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort, startProcess } from '../test/helpers/process.js';
import { childPid, stopWithTree } from './memory.js';
import type { Workspace } from './workspace.js';

const GATE_CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Starts the gate and waits until it is ready; its base URL. */
export async function startWorkloadGate(ws: Workspace, dir: string, settings: Record<string, unknown>): Promise<string> {
  const port = await freePort();
  const configFile = join(dir, 'registry-gate.yaml');
  await writeFile(
    configFile,
    stringify({
      listen: `127.0.0.1:${port}`,
      tls: 'off',
      dataDir: join(dir, 'data'),
      workers: 1,
      log: { level: 'warn', access: false },
      audit: { enabled: false },
      auth: { htpasswd: 'htpasswd' },
      ...settings,
    }),
  );
  const proc = await startProcess(process.execPath, [GATE_CLI, 'serve', '--config', configFile], {
    cwd: dir,
    readyUrl: `http://127.0.0.1:${port}/readyz`,
    timeoutMs: 30_000,
  });
  const pid = childPid(proc);
  ws.defer(() => stopWithTree(pid, () => proc.stop()));
  return `http://127.0.0.1:${port}`;
}
