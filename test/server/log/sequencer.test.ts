/**
 * Group commit against a storage whose commits the test releases by hand: an idle log commits a lone
 * append at once; after a large batch, a few stragglers wait for company, but never for long.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { BatchItem, BatchOutcome, LogStorage } from '../../../src/server/log/common.js';
import { Sequencer } from '../../../src/server/log/sequencer.js';

class HeldStorage {
  readonly treeId = 1n;
  readonly origin = 'test - 1';
  readonly batches: number[] = [];
  #size = 0;
  #release: Array<() => void> = [];

  commitBatch(items: BatchItem[]): Promise<BatchOutcome> {
    this.batches.push(items.length);
    return new Promise((resolve) => {
      this.#release.push(() => {
        const start = this.#size;
        this.#size += items.length;
        resolve({
          results: items.map((it, i) => ({ entry: { index: start + i, leafHash: it.leafHash, body: it.body, integratedTime: 0 }, duplicate: false })),
          checkpoint: { origin: this.origin, size: this.#size, rootHash: Buffer.alloc(32), note: '' },
        });
      });
    });
  }

  /** Lets every commit in progress finish. */
  release(): void {
    for (const r of this.#release.splice(0)) r();
  }

  get waiting(): number {
    return this.#release.length;
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
let n = 0;
const entry = () => ({ body: Buffer.from(`entry ${n++}`), indexKeys: [] });

function sequencer(): { seq: Sequencer; store: HeldStorage } {
  const store = new HeldStorage();
  return { seq: new Sequencer(store as unknown as LogStorage), store };
}

/** Releases commits until every promise has settled. */
async function settle<T>(store: HeldStorage, ps: Promise<T>[]): Promise<T[]> {
  let done = false;
  const all = Promise.all(ps).finally(() => (done = true));
  while (!done) {
    await tick();
    store.release();
  }
  return all;
}

/**
 * A wave of 64 appends: the first is committed alone (the log was idle), the other 63 together, in a
 * commit held for 50 ms (the wait for stragglers is bounded by half the last commit's duration).
 */
async function wave(seq: Sequencer, store: HeldStorage): Promise<number> {
  const all = Array.from({ length: 64 }, () => seq.append(entry()));
  await tick();
  store.release();
  await tick();
  await new Promise((r) => setTimeout(r, 50));
  await settle(store, all);
  assert.deepEqual(store.batches, [1, 63]);
  return 63;
}

test('an idle log commits a lone append at once', async () => {
  const { seq, store } = sequencer();
  const p = seq.append(entry());
  await tick();
  assert.deepEqual(store.batches, [1]);
  store.release();
  assert.equal((await p).entry.index, 0);
});

test('after a large batch, stragglers wait until a quarter of it has gathered', async () => {
  const { seq, store } = sequencer();
  const last = await wave(seq, store);
  const fill = Math.floor(last / 4);
  // All synchronous: the wait's timer cannot fire in between.
  const next = [seq.append(entry())];
  assert.equal(store.waiting, 0, 'one straggler does not start a commit of its own');
  for (let i = 1; i < fill; i++) next.push(seq.append(entry()));
  await tick();
  assert.deepEqual(store.batches, [1, 63, fill]);
  store.release();
  assert.deepEqual((await Promise.all(next)).map((r) => r.entry.index), Array.from({ length: fill }, (_, i) => 64 + i));
});

test('a straggler that gets no company is committed after a short wait', async () => {
  const { seq, store } = sequencer();
  await wave(seq, store);
  const lone = seq.append(entry());
  // The wait is bounded by half the last commit's duration (and 20 ms).
  for (let i = 0; i < 200 && store.waiting === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(store.batches, [1, 63, 1]);
  store.release();
  assert.equal((await lone).entry.index, 64);
});

test('close ends a wait and commits what is queued', async () => {
  const { seq, store } = sequencer();
  await wave(seq, store);
  const lone = seq.append(entry());
  const closing = seq.close();
  await tick();
  assert.deepEqual(store.batches, [1, 63, 1]);
  store.release();
  await closing;
  assert.equal((await lone).entry.index, 64);
  await assert.rejects(seq.append(entry()), /closed/);
});

test('an append is logged as a copy of its bytes under the RFC 6962 leaf hash of those bytes', async () => {
  const { seq, store } = sequencer();
  const bodies = [Buffer.from('{"a":1}'), Buffer.alloc(5000, 7), Buffer.from([0])];
  const ps = bodies.map((body) => seq.append({ body, indexKeys: [] }));
  // The caller reuses its buffers at once: what is logged is what was given.
  const given = bodies.map((b) => Buffer.from(b));
  for (const b of bodies) b.fill(0xff);
  const rs = await settle(store, ps);
  rs.forEach((r, i) => {
    assert.deepEqual(r.entry.body, given[i]);
    assert.deepEqual(r.entry.leafHash, createHash('sha256').update(Buffer.from([0])).update(given[i]!).digest());
  });
});
