/** perTurnBatcher: calls of one turn run as batches, per key, in chunks; a failed batch rejects only its own items. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { perTurnBatcher } from '../src/batching.js';

it('runs the calls of one turn together, grouped by key, in order, and splits large groups into chunks', async () => {
  const runs: number[][] = [];
  const double = perTurnBatcher<number, number>(
    async (xs) => {
      runs.push(xs);
      return xs.map((x) => x * 2);
    },
    { key: (x) => x % 2, maxChunks: 2, minChunk: 4 },
  );
  const results = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17].map(double));
  assert.deepEqual(results, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34]);
  // Odd (9 items: two chunks) and even (8 items: two chunks of four).
  assert.deepEqual(runs, [[1, 3, 5, 7, 9], [11, 13, 15, 17], [2, 4, 6, 8], [10, 12, 14, 16]]);
  // A later turn is a new batch.
  assert.equal(await double(21), 42);
  assert.deepEqual(runs.at(-1), [21]);
});

it('a batch that fails rejects its own items only', async () => {
  const check = perTurnBatcher<number, number>(
    async (xs) => {
      if (xs.includes(13)) throw new Error('unlucky batch');
      return xs;
    },
    { key: (x) => x > 10 },
  );
  const [a, b, c] = await Promise.allSettled([check(1), check(13), check(12)]);
  assert.deepEqual(a, { status: 'fulfilled', value: 1 });
  assert.equal(b.status, 'rejected');
  assert.equal(c.status, 'rejected');
  assert.match(String((c as PromiseRejectedResult).reason), /unlucky batch/);
});
