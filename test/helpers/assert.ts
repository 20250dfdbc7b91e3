/** Assertions shared by tests: a SignetError with this code and a one-line message. */
import assert from 'node:assert/strict';
import { isSignetError } from '../../src/errors.js';

export function throwsCode(fn: () => unknown, code: string, msg?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isSignetError(e), `expected SignetError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (msg) assert.match(e.message, msg);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    return true;
  });
}
