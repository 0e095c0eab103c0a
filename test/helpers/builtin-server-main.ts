/**
 * Child-process entry for crash tests: `node builtin-server-main.js ROOT` serves the built-in
 * registry on 127.0.0.1 (a free port) and prints one line `listening <baseUrl>` when ready.
 * It is meant to be killed with SIGKILL at any moment.
 */
import { startBuiltinServer } from './builtin-server.js';

const root = process.argv[2];
if (!root) {
  process.stderr.write('usage: builtin-server-main ROOT\n');
  process.exit(2);
}
const running = await startBuiltinServer({ root });
process.stdout.write(`listening ${running.baseUrl}\n`);
process.on('SIGTERM', () => {
  void running.close().then(() => process.exit(0));
});
