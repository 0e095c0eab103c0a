/**
 * The benchmark's scratch space and its clean-up: one temp dir for everything (certificates,
 * htpasswd files, configs, registry storage, blob files), and a stack of clean-up steps that runs
 * on success, on failure and on Ctrl-C / SIGTERM, newest first.
 */
import { makeTempDir, removeDir } from '../test/helpers/process.js';

type CleanupStep = () => Promise<void> | void;

export interface Workspace {
  /** `registry-gate-bench-XXXX` under the OS temp dir. */
  dir: string;
  /** Run `step` at clean-up time (steps run newest first; a failing step does not stop the others). */
  defer(step: CleanupStep): void;
  /** Runs every step once; later calls wait for the first. */
  cleanup(): Promise<void>;
}

export async function openWorkspace(options: { keep: boolean; log: (line: string) => void }): Promise<Workspace> {
  const dir = await makeTempDir('registry-gate-bench-');
  const steps: CleanupStep[] = [];
  let running: Promise<void> | undefined;

  const cleanup = (): Promise<void> => {
    running ??= (async () => {
      for (let step = steps.pop(); step !== undefined; step = steps.pop()) {
        try {
          await step();
        } catch (err) {
          options.log(`clean-up step failed: ${(err as Error).message}`);
        }
      }
      if (options.keep) options.log(`kept ${dir}`);
      else await removeDir(dir);
    })();
    return running;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    options.log(`${signal}: stopping servers and removing ${dir}`);
    const code = signal === 'SIGINT' ? 130 : 143;
    // A second signal while cleaning up exits at once; test/helpers/process.ts SIGKILLs children on exit.
    process.once(signal, () => process.exit(code));
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  return { dir, defer: (step) => steps.push(step), cleanup };
}
