/** Reading registry-gate's stdout as what it must be: one JSON log line per line, nothing else. */
import assert from 'node:assert/strict';

/** Every non-empty line parsed; a line that is not JSON fails the test, naming it. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return assert.fail(`a stdout line that is not a JSON log line: ${line}`);
      }
    });
}
