/**
 * Behaviour every log storage must show, checked only through the public interface and the independent
 * verifiers in src/tlog (proofs, checkpoints), never through the storage's own internals.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { isSignetError } from '../../../src/errors.js';
import {
  EMPTY_ROOT,
  TILE_WIDTH,
  decodeEntryBundle,
  leafHash,
  rootFromLeafHashes,
  tileHashes,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from '../../../src/tlog/index.js';
import type { SignedCheckpoint, TransparencyLog } from '../../../src/server/log/index.js';

export function body(tag: string, i: number): Buffer {
  return Buffer.from(JSON.stringify({ tag, i, pad: 'x'.repeat(i % 97) }));
}

/** Verifies a checkpoint's signature with the log's public key and returns its parsed content. */
export function checkCheckpoint(log: TransparencyLog, cp: SignedCheckpoint) {
  const v = verifyCheckpoint(cp.note, { name: log.origin.split(' - ')[0]!, publicKey: log.publicKey }, { origin: log.origin });
  assert.equal(v.size, cp.size);
  assert.ok(Buffer.from(v.rootHash).equals(cp.rootHash));
  return v;
}

export async function checkIncluded(log: TransparencyLog, index: number, leaf: Buffer, cp: SignedCheckpoint): Promise<void> {
  const proof = await log.inclusionProof(index, cp.size);
  verifyInclusion(leaf, index, cp.size, proof, cp.rootHash);
}

export async function checkConsistent(log: TransparencyLog, older: SignedCheckpoint, newer: SignedCheckpoint): Promise<void> {
  const proof = await log.consistencyProof(older.size, newer.size);
  verifyConsistency(older.size, newer.size, proof, older.rootHash, newer.rootHash);
}

/** Rebuilds the root from level-0 tiles alone, and checks the entry bundles hash to those leaves. */
export async function checkTilesMatch(log: TransparencyLog, cp: SignedCheckpoint): Promise<void> {
  const leaves: Uint8Array[] = [];
  for (let k = 0; k * TILE_WIDTH < cp.size; k++) {
    const w = Math.min(TILE_WIDTH, cp.size - k * TILE_WIDTH);
    const tile = await log.tile(0, k, w === TILE_WIDTH ? undefined : w);
    assert.ok(tile, `tile 0/${k} width ${w} exists`);
    const hashes = tileHashes(tile);
    assert.equal(hashes.length, w);
    const bundle = await log.entryBundle(k, w === TILE_WIDTH ? undefined : w);
    assert.ok(bundle, `entry bundle ${k} width ${w} exists`);
    const entries = decodeEntryBundle(bundle, w);
    entries.forEach((e, j) => assert.ok(Buffer.from(leafHash(e)).equals(Buffer.from(hashes[j]!)), `bundle ${k} entry ${j} matches tile`));
    leaves.push(...hashes);
  }
  assert.ok(Buffer.from(rootFromLeafHashes(leaves)).equals(cp.rootHash), 'root rebuilt from tiles equals the checkpoint root');
}

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isSignetError(e), `expected SignetError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

/**
 * Registers the shared tests. `open` opens (or reopens) the log under test; `fresh` gives a new empty
 * log each time.
 */
export function logSuite(name: string, fresh: () => Promise<{ open: () => Promise<TransparencyLog> }>): void {
  test(`${name}: an empty log has a signed size-0 checkpoint and the default origin`, async () => {
    const { open } = await fresh();
    const log = await open();
    try {
      const cp = await log.checkpoint();
      assert.equal(cp.size, 0);
      assert.ok(cp.rootHash.equals(Buffer.from(EMPTY_ROOT)));
      checkCheckpoint(log, cp);
      assert.equal(log.origin, `signet-log - ${log.treeId}`);
      assert.ok(log.treeId > 0n && log.treeId < 1n << 63n);
      const spki = log.publicKey.export({ format: 'der', type: 'spki' });
      assert.ok(log.logId.equals(createHash('sha256').update(spki).digest()));
      assert.equal(await log.entryByIndex(0), null);
      assert.equal(await log.tile(0, 0, 1), null);
      assert.equal(await log.entryBundle(0), null);
      assert.deepEqual(await log.consistencyProof(0, 0), []);
    } finally {
      await log.close();
    }
  });

  test(`${name}: appends, reads, searches and proves; tiles reproduce every checkpoint`, async () => {
    const { open } = await fresh();
    const log = await open();
    try {
      const cps: SignedCheckpoint[] = [await log.checkpoint()];
      const leaves: Buffer[] = [];
      // Rounds of different sizes cross tile boundaries at several offsets (256, 512, 768).
      for (const n of [1, 2, 253, 1, 300, 256, 10]) {
        const start = leaves.length;
        const rs = await Promise.all(
          Array.from({ length: n }, (_, j) => log.append({ body: body('a', start + j), indexKeys: [`sha256:${(start + j) % 5}`, 'all'] })),
        );
        for (const [j, r] of rs.entries()) {
          assert.equal(r.status, 'created');
          if (r.status !== 'created') continue;
          assert.ok(r.checkpoint.size > r.entry.index);
          assert.ok(r.entry.leafHash.equals(Buffer.from(leafHash(body('a', start + j)))));
          leaves[r.entry.index] = r.entry.leafHash;
        }
        const cp = await log.checkpoint();
        checkCheckpoint(log, cp);
        assert.equal(cp.size, start + n);
        cps.push(cp);
      }
      const last = cps[cps.length - 1]!;
      assert.equal(last.size, leaves.length);
      assert.ok(Buffer.from(rootFromLeafHashes(leaves)).equals(last.rootHash));
      await checkTilesMatch(log, last);
      for (const cp of cps.slice(1)) await checkTilesMatch(log, cp); // narrower widths are served as prefixes
      for (let i = 0; i < cps.length; i++) for (let j = i; j < cps.length; j++) await checkConsistent(log, cps[i]!, cps[j]!);
      for (const i of [0, 1, 255, 256, 257, 511, 512, 700, leaves.length - 1]) {
        await checkIncluded(log, i, leaves[i]!, last);
        const e = await log.entryByIndex(i);
        assert.ok(e);
        assert.ok(e.body.equals(body('a', i)));
        assert.ok(e.leafHash.equals(leaves[i]!));
        assert.ok(Math.abs(e.integratedTime - Date.now() / 1000) < 60);
        const byHash = await log.entryByLeafHash(leaves[i]!);
        assert.equal(byHash?.index, i);
      }
      assert.equal(await log.entryByIndex(leaves.length), null);
      assert.equal(await log.entryByLeafHash(Buffer.alloc(32)), null);
      const hits = await log.search('sha256:3');
      assert.deepEqual(
        hits,
        leaves.map((_, i) => i).filter((i) => i % 5 === 3),
      );
      assert.equal((await log.search('all')).length, leaves.length);
      assert.deepEqual(await log.search('nothing'), []);
      // Level-1 tile: one hash per full level-0 tile.
      const l1 = await log.tile(1, 0, Math.floor(last.size / TILE_WIDTH));
      assert.ok(l1);
      assert.equal(l1.length, 32 * Math.floor(last.size / TILE_WIDTH));
      // A full tile asked for at a width it does not have yet is absent, not truncated.
      assert.equal(await log.tile(0, Math.floor(last.size / TILE_WIDTH)), null);
    } finally {
      await log.close();
    }
  });

  test(`${name}: duplicates within a batch and across batches get the first entry`, async () => {
    const { open } = await fresh();
    const log = await open();
    try {
      const b = Buffer.from('same entry');
      const [r1, r2, r3] = await Promise.all([
        log.append({ body: b, indexKeys: ['k'] }),
        log.append({ body: Buffer.from(b), indexKeys: ['k'] }),
        log.append({ body: Buffer.from('other'), indexKeys: [] }),
      ]);
      const results = [r1!, r2!, r3!];
      const created = results.filter((r) => r.status === 'created');
      assert.equal(created.length, 2);
      const dup = results.find((r) => r.status === 'duplicate')!;
      const orig = results.find((r) => r.status === 'created' && r.entry.body.equals(b))!;
      assert.equal(dup.entry.index, orig.entry.index);
      const again = await log.append({ body: b, indexKeys: ['k'] });
      assert.equal(again.status, 'duplicate');
      assert.equal(again.entry.index, orig.entry.index);
      assert.ok(again.entry.body.equals(b));
      assert.equal((await log.checkpoint()).size, 2);
      assert.deepEqual(await log.search('k'), [orig.entry.index]);
      const m = log.metrics();
      assert.equal(m.appends, 2);
      assert.equal(m.duplicates, 2);
    } finally {
      await log.close();
    }
  });

  test(`${name}: 1000 concurrent appends commit in few batches, each answered with a covering checkpoint`, async () => {
    const { open } = await fresh();
    const log = await open();
    try {
      const rs = await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append({ body: body('c', i), indexKeys: [] })));
      const m = log.metrics();
      assert.ok(m.batches <= 3, `expected at most 3 batches, got ${m.batches}`);
      assert.equal(m.appends, 1000);
      assert.equal(m.size, 1000);
      const indices = new Set<number>();
      const cps = new Map<number, SignedCheckpoint>();
      for (const r of rs) {
        assert.equal(r.status, 'created');
        if (r.status !== 'created') continue;
        indices.add(r.entry.index);
        assert.ok(r.checkpoint.size > r.entry.index);
        cps.set(r.checkpoint.size, r.checkpoint);
      }
      assert.equal(indices.size, 1000);
      for (const cp of cps.values()) checkCheckpoint(log, cp);
      for (const r of rs.filter((_, i) => i % 37 === 0)) {
        if (r.status === 'created') await checkIncluded(log, r.entry.index, r.entry.leafHash, r.checkpoint);
      }
    } finally {
      await log.close();
    }
  });

  test(`${name}: proofs asked for in one turn, against several tree sizes, are each right; a bad request among them fails alone`, async () => {
    const { open } = await fresh();
    const log = await open();
    try {
      const leaves: Buffer[] = [];
      const cps: SignedCheckpoint[] = [];
      // Batches of uneven sizes, so the trees end inside tiles and on tile borders.
      for (const n of [1, 255, 3, 300, 1]) {
        const rs = await Promise.all(Array.from({ length: n }, (_, i) => log.append({ body: body(`p${cps.length}`, i), indexKeys: [] })));
        for (const r of rs) leaves[r.entry.index] = r.entry.leafHash;
        const last = rs[rs.length - 1]!;
        if (last.status === 'created') cps.push(last.checkpoint);
      }
      const asks: Array<{ index: number; cp: SignedCheckpoint }> = [];
      for (const cp of cps) for (let i = 0; i < cp.size; i += cp.size > 50 ? 7 : 1) asks.push({ index: i, cp });
      const bad = rejectsWith(log.inclusionProof(cps[0]!.size, cps[0]!.size), 'USAGE', /outside a tree/);
      const proofs = await Promise.all(asks.map((a) => log.inclusionProof(a.index, a.cp.size)));
      await bad;
      proofs.forEach((proof, k) => verifyInclusion(leaves[asks[k]!.index]!, asks[k]!.index, asks[k]!.cp.size, proof, asks[k]!.cp.rootHash));
      // A wrong leaf fails against the same proof: the check above can fail.
      assert.throws(() => verifyInclusion(leaves[1]!, 0, cps[1]!.size, proofs[asks.findIndex((a) => a.cp === cps[1])]!, cps[1]!.rootHash));
    } finally {
      await log.close();
    }
  });

  test(`${name}: a restart keeps entries, index, tiles and checkpoint; appends continue the same tree`, async () => {
    const { open } = await fresh();
    let log = await open();
    const first = await Promise.all(Array.from({ length: 300 }, (_, i) => log.append({ body: body('r', i), indexKeys: [`key${i % 2}`] })));
    const cp1 = await log.checkpoint();
    const treeId = log.treeId;
    await log.close();
    log = await open();
    try {
      assert.equal(log.treeId, treeId);
      const cp2 = await log.checkpoint();
      assert.equal(cp2.note, cp1.note);
      await checkTilesMatch(log, cp2);
      assert.equal((await log.search('key1')).length, 150);
      const r = await log.append({ body: body('r', 0), indexKeys: [] });
      assert.equal(r.status, 'duplicate');
      assert.equal(r.entry.index, first[0]!.entry.index);
      const more = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append({ body: body('r2', i), indexKeys: [] })));
      assert.ok(more.every((x) => x.status === 'created' && x.entry.index >= 300));
      const cp3 = await log.checkpoint();
      assert.equal(cp3.size, 350);
      await checkConsistent(log, cp1, cp3);
      await checkTilesMatch(log, cp3);
      for (const x of first.filter((_, i) => i % 50 === 0)) await checkIncluded(log, x.entry.index, x.entry.leafHash, cp3);
    } finally {
      await log.close();
    }
  });

  test(`${name}: bad entries and bad requests are refused with clear errors and write nothing`, async () => {
    const { open } = await fresh();
    const log = await open();
    try {
      await log.append({ body: Buffer.from('one'), indexKeys: [] });
      await rejectsWith(log.append({ body: Buffer.alloc(65536, 1), indexKeys: [] }), 'TOO_LARGE', /65536 bytes exceeds the 65535-byte limit/);
      await rejectsWith(log.append({ body: Buffer.alloc(0), indexKeys: [] }), 'USAGE', /empty/);
      await rejectsWith(log.append({ body: Buffer.from('x'), indexKeys: [''] }), 'USAGE', /search keys/);
      // The largest allowed entry goes in and round-trips through its entry bundle.
      const big = Buffer.alloc(65535, 7);
      const r = await log.append({ body: big, indexKeys: [] });
      assert.equal(r.status, 'created');
      assert.ok((await log.entryByIndex(r.entry.index))?.body.equals(big));
      assert.equal((await log.checkpoint()).size, 2);
      await rejectsWith(log.inclusionProof(2, 2), 'USAGE', /outside a tree of size 2/);
      await rejectsWith(log.inclusionProof(0, 3), 'USAGE', /greater than the current size/);
      await rejectsWith(log.inclusionProof(-1, 2), 'USAGE');
      await rejectsWith(log.consistencyProof(2, 1), 'USAGE', /greater than last tree size/);
      await rejectsWith(log.consistencyProof(1, 3), 'USAGE', /greater than the current size/);
      await rejectsWith(log.tile(0, 0, 0), 'USAGE');
      await rejectsWith(log.tile(0, 0, 257), 'USAGE');
      await rejectsWith(log.tile(-1, 0), 'USAGE');
      await rejectsWith(log.entryByIndex(1.5), 'USAGE');
      await rejectsWith(log.entryByLeafHash(Buffer.alloc(31)), 'USAGE');
      assert.equal(await log.tile(0, 0, 3), null);
      assert.equal(await log.entryBundle(0, 3), null);
      assert.equal(await log.tile(0, 1, 1), null);
    } finally {
      await log.close();
    }
    await rejectsWith(log.append({ body: Buffer.from('late'), indexKeys: [] }), 'TLOG', /closed/);
  });
}
