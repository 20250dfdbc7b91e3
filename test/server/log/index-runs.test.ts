/** The search index's run files (index-runs.ts): a built or merged run's Bloom filter holds every leaf hash. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Run, RunWorker } from '../../../src/server/log/index-runs.js';
import { loadSqlite } from '../../../src/server/log/sqlite.js';

const leaf = (n: number): Buffer => createHash('sha256').update(`leaf ${n}`).digest();

test('index runs: a merged run larger than one read of its leaves (65,536) finds every leaf hash, repeated hashes across a read boundary included', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-runs-'));
  const worker = new RunWorker(dir);
  const { DatabaseSync } = await loadSqlite();
  try {
    // Two runs of 40,000 entries each; one hash repeats at 300 indexes, so that its rows straddle the
    // first read's last row whatever the hashes' order.
    const PER = 40_000;
    const hashOf = (i: number): Buffer => (i % 250 === 7 ? leaf(-1) : leaf(i));
    const build = async (lo: number, hi: number): Promise<string> => {
      const n = hi - lo;
      const leafHashes = new Uint8Array(n * 32);
      const leafIdx = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        leafHashes.set(hashOf(lo + i), i * 32);
        leafIdx[i] = lo + i;
      }
      const out = join(dir, `run-${lo}-${hi}.sqlite`);
      await worker.run({ op: 'build', lo, hi, leafHashes, leafIdx, keys: [], keyIdx: new Float64Array(0), out });
      return out;
    };
    const a = await build(0, PER);
    const b = await build(PER, 2 * PER);
    const merged = join(dir, 'merged.sqlite');
    await worker.run({ op: 'merge', lo: 0, hi: 2 * PER, inputs: [a, b], out: merged });
    for (const path of [a, b, merged]) {
      const run = new Run(DatabaseSync, path);
      try {
        let missing = 0;
        for (let i = run.lo; i < run.hi; i++) if (!run.mayHave(hashOf(i))) missing++;
        assert.equal(missing, 0, `${path}: leaf hashes missing from the Bloom filter`);
        assert.equal(run.leaf(leaf(-1)), run.lo + 7);
        // ~1% false positives at 10 bits per hash: far fewer than half of some absent hashes.
        let hits = 0;
        for (let i = 0; i < 2000; i++) if (run.mayHave(leaf(10_000_000 + i))) hits++;
        assert.ok(hits < 200, `${hits} of 2000 absent hashes pass the filter`);
      } finally {
        run.close();
      }
    }
  } finally {
    await worker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
