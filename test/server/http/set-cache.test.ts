import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SetCache } from '../../../src/server/http/rekor.js';

test('the SET cache answers only for the log index it holds, past 2^31 too', () => {
  const c = new SetCache(16);
  assert.equal(c.get(0), undefined);
  for (let i = 0; i < 40; i++) c.set(i, `set-${i}`);
  // The newest 16 are held; older ones were replaced by the entries in their slots.
  for (let i = 24; i < 40; i++) assert.equal(c.get(i), `set-${i}`);
  for (let i = 0; i < 24; i++) assert.equal(c.get(i), undefined);
  const big = 2 ** 31 + 5;
  c.set(big, 'big');
  assert.equal(c.get(big), 'big');
  assert.equal(c.get(37), undefined); // 2^31 + 5 and 37 share slot 5
  assert.equal(c.get(2 ** 40 + 5), undefined);
});
