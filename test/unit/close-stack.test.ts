/**
 * The close stack: closes in reverse order of opening, once; an assembly that throws half-way has
 * closed what it opened before its error reaches the caller; a close that fails does not stop the
 * others.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseStack } from '../../src/lib/close-stack.js';

test('closes last-opened first, once, however often it is asked', async () => {
  const closed: string[] = [];
  const stack = new CloseStack();
  stack.defer(() => void closed.push('first'));
  const second = stack.adopt({ name: 'second' }, (resource) => void closed.push(resource.name));
  stack.defer(async () => {
    await Promise.resolve();
    closed.push('third');
  });
  assert.equal(second.name, 'second');
  await Promise.all([stack.close(), stack.close()]);
  await stack.close();
  assert.deepEqual(closed, ['third', 'second', 'first']);
  assert.throws(() => stack.defer(() => undefined), /closed stack/);
});

test('an assembly that fails half-way closes what it had opened, then throws its error', async () => {
  const closed: string[] = [];
  await assert.rejects(
    CloseStack.openWith(async (stack) => {
      stack.defer(() => void closed.push('watcher'));
      stack.defer(() => void closed.push('poll'));
      await Promise.resolve();
      throw new Error('the key file is not a key');
    }),
    /the key file is not a key/,
  );
  assert.deepEqual(closed, ['poll', 'watcher']);
});

test('a close that fails is reported, and the rest still close', async () => {
  const closed: string[] = [];
  const failures: unknown[] = [];
  const [value, stack] = await CloseStack.openWith(
    (opened) => {
      opened.defer(() => void closed.push('a'));
      opened.defer(() => {
        throw new Error('b failed');
      });
      opened.defer(() => void closed.push('c'));
      return Promise.resolve(42);
    },
    (error) => failures.push(error),
  );
  assert.equal(value, 42);
  await stack.close();
  assert.deepEqual(closed, ['c', 'a']);
  assert.equal(failures.length, 1);
});
