/**
 * The embedded log never serves or signs bytes that do not hash to its committed tree: a flipped byte
 * in an entry bundle, a level-0 or a level-1 tile, or a deleted file, is caught when read (a
 * STORAGE_CORRUPT error naming the file; a bare 500 over HTTP), on start for the newest files (and
 * every missing one), and by `fsckLog` anywhere.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isSignetError } from '../../../src/errors.js';
import { fsckLog } from '../../../src/server/log/fsck.js';
import { openLog } from '../../../src/server/log/index.js';
import type { TransparencyLog } from '../../../src/server/log/types.js';
import { startServer } from '../../../src/server/serve.js';
import { decodeEntryBundle, entriesPath, leafHash, tilePath, verifyInclusion } from '../../../src/tlog/index.js';
import { file, flip, logFixture } from './log-files.js';

/** Past 65,536 entries, so that a level-1 tile is full: 258 full bundles and level-0 tiles, 88 entries after. */
const SIZE = 65536 + 600;
const entry = (i: number): Buffer => Buffer.from(`entry ${i}`);
/** Appends entries `from` … `from + n - 1` concurrently (one or a few batches). */
const appendRange = (log: TransparencyLog, from: number, n: number): Promise<unknown> =>
  Promise.all(Array.from({ length: n }, (_, j) => log.append({ body: entry(from + j), indexKeys: [] })));
const { tempDir, copy: copyOfLog } = logFixture('signet-integrity-', SIZE, 4096, entry);


/** Expects the log in `dir` not to open; one that opens after all is closed again, so a failing test ends. */
async function assertRefused(dir: string, check: (e: unknown) => boolean): Promise<void> {
  let log;
  try {
    log = await openLog({ dataDir: dir });
  } catch (e) {
    assert.ok(check(e), String(e));
    return;
  }
  await log.close();
  assert.fail(`the log in ${dir} opened`);
}

const corruptNaming =
  (path: string) =>
  (e: unknown): boolean =>
    isSignetError(e, 'STORAGE_CORRUPT') && e.message.includes(path) && !e.message.includes('\n');

test('integrity: a clean log passes fsck, which changes nothing; fsck refuses a log a server holds open', async () => {
  const dir = copyOfLog();
  const before = readFileSync(join(dir, 'log.sqlite'));
  const seen: number[] = [];
  const r = await fsckLog(dir, { progress: (done) => seen.push(done) });
  assert.deepEqual(r.problems, []);
  assert.equal(r.treeSize, SIZE);
  assert.equal(r.checkpointSignature, 'verified');
  assert.equal(r.files, 258 + 258 + 1); // bundles, level-0 tiles, the level-1 tile
  assert.equal(r.entries, SIZE);
  assert.ok(seen.length > 1 && seen[seen.length - 1] === r.files);
  assert.ok(readFileSync(join(dir, 'log.sqlite')).equals(before));
  const log = await openLog({ dataDir: dir });
  try {
    assert.equal((await log.checkpoint()).size, SIZE);
    await assert.rejects(fsckLog(dir), (e: unknown) => isSignetError(e, 'TLOG') && /in use by a running server/.test((e as Error).message));
    assert.ok((await log.entryByIndex(SIZE - 1))!.body.equals(entry(SIZE - 1)));
  } finally {
    await log.close();
  }
});

test('integrity: a flipped byte in an entry bundle is refused when read, on start (newest bundles) and by fsck', async () => {
  // An older bundle: the log starts, and refuses only what the bad file would have to serve.
  const dir = copyOfLog();
  const bundle3 = file(dir, entriesPath(3));
  flip(bundle3);
  const log = await openLog({ dataDir: dir });
  try {
    const bad = 3 * 256 + 255;
    await assert.rejects(log.entryByIndex(bad), corruptNaming(bundle3));
    await assert.rejects(log.entryByLeafHash(Buffer.from(leafHash(entry(bad)))), corruptNaming(bundle3));
    await assert.rejects(log.entryBundle(3), corruptNaming(bundle3));
    await assert.rejects(log.entryBundle(3, 10), corruptNaming(bundle3));
    // Entries of the same bundle whose bytes are intact, and other bundles, are still served.
    assert.ok((await log.entryByIndex(3 * 256))!.body.equals(entry(3 * 256)));
    assert.ok((await log.entryBundle(4))!.length > 0);
    // A bundle changed while the log runs is caught on its next read.
    const bundle5 = file(dir, entriesPath(5));
    flip(bundle5);
    await assert.rejects(log.entryByIndex(5 * 256 + 255), corruptNaming(bundle5));
  } finally {
    await log.close();
  }
  const report = await fsckLog(dir);
  assert.deepEqual(
    report.problems.map((p) => p.file),
    [bundle3, file(dir, entriesPath(5))],
  );

  // The newest bundle: the log refuses to start, naming it.
  const dir2 = copyOfLog();
  const newest = file(dir2, entriesPath(257));
  flip(newest, 100);
  await assertRefused(dir2, corruptNaming(newest));
  assert.deepEqual((await fsckLog(dir2)).problems.map((p) => p.file), [newest]);
});

test('integrity: an entry read takes its bundle only as far as its entry ends; a bundle cut short before it, or framed past its end, is refused', async () => {
  const dir = copyOfLog();
  const bundle6 = file(dir, entriesPath(6));
  const bytes = readFileSync(bundle6);
  // Where entry 100 of the bundle starts (each entry is a 2-byte length, then its bytes).
  let at = 0;
  for (let j = 0; j < 100; j++) at += 2 + bytes.readUInt16BE(at);
  writeFileSync(bundle6, bytes.subarray(0, at + 3));
  const bundle7 = file(dir, entriesPath(7));
  const framed = readFileSync(bundle7);
  framed.writeUInt16BE(0xfff0, 0); // entry 0 now claims to run far past the file's end
  writeFileSync(bundle7, framed);
  const log = await openLog({ dataDir: dir });
  try {
    // Entries before the cut are intact and served; the one cut and those after it are refused.
    for (const j of [0, 50, 99]) assert.ok((await log.entryByIndex(6 * 256 + j))!.body.equals(entry(6 * 256 + j)), `entry ${j}`);
    for (const j of [100, 255]) await assert.rejects(log.entryByIndex(6 * 256 + j), (e: unknown) => corruptNaming(bundle6)(e) && /ends at byte/.test((e as Error).message));
    // A length prefix that runs past the end: every entry from there on is refused.
    for (const j of [0, 1, 200]) await assert.rejects(log.entryByIndex(7 * 256 + j), corruptNaming(bundle7));
    // The whole bundle, as a tile client reads it, is refused for both.
    await assert.rejects(log.entryBundle(6), corruptNaming(bundle6));
    await assert.rejects(log.entryBundle(7), corruptNaming(bundle7));
  } finally {
    await log.close();
  }
});

test('integrity: an entry that ends beyond the read buffer (a bundle of large entries) is read from the whole bundle, and checked the same', async () => {
  const dir = tempDir();
  const big = (i: number): Buffer => Buffer.alloc(3000, `large entry ${i} `);
  let log = await openLog({ dataDir: dir });
  try {
    await Promise.all(Array.from({ length: 800 }, (_, i) => log.append({ body: big(i), indexKeys: [] })));
  } finally {
    await log.close();
  }
  const bundle0 = file(dir, entriesPath(0));
  assert.ok(readFileSync(bundle0).length > 256 * 1024, 'the bundle is larger than the read buffer');
  log = await openLog({ dataDir: dir });
  try {
    for (const j of [0, 80, 200, 255]) assert.ok((await log.entryByIndex(j))!.body.equals(big(j)), `entry ${j}`);
    // Changed while the log runs (bundles are read from disk for every entry read).
    flip(bundle0);
    await assert.rejects(log.entryByIndex(255), corruptNaming(bundle0));
    assert.ok((await log.entryByIndex(254))!.body.equals(big(254)));
  } finally {
    await log.close();
  }
});

test('integrity: a resubmitted entry whose bundle is corrupt fails alone; the other submissions of its batch are logged', async () => {
  const dir = copyOfLog();
  const bundle3 = file(dir, entriesPath(3));
  flip(bundle3);
  const log = await openLog({ dataDir: dir });
  try {
    const bad = 3 * 256 + 255;
    // The first append of a turn starts a batch of its own; the two after it queue into the next batch together.
    const [lead, dup, fresh] = await Promise.allSettled([
      log.append({ body: Buffer.from('a leading entry'), indexKeys: [] }),
      log.append({ body: entry(bad), indexKeys: [] }),
      log.append({ body: Buffer.from('a new entry'), indexKeys: [] }),
    ]);
    assert.equal(lead.status, 'fulfilled');
    assert.equal(dup.status, 'rejected');
    assert.ok(corruptNaming(bundle3)((dup as PromiseRejectedResult).reason), String((dup as PromiseRejectedResult).reason));
    assert.equal(fresh.status, 'fulfilled', String((fresh as PromiseRejectedResult).reason));
    assert.equal((fresh as PromiseFulfilledResult<{ status: string; entry: { index: number } }>).value.status, 'created');
    assert.equal((fresh as PromiseFulfilledResult<{ status: string; entry: { index: number } }>).value.entry.index, SIZE + 1);
    // An intact entry resubmitted beside it is still answered as a duplicate.
    const again = await log.append({ body: entry(3 * 256), indexKeys: [] });
    assert.equal(again.status, 'duplicate');
  } finally {
    await log.close();
  }
});

test('integrity: a flipped byte in a level-0 tile is refused when read (entries, proofs, tiles), on start and by fsck', async () => {
  const dir = copyOfLog();
  const tile3 = file(dir, tilePath(0, 3));
  flip(tile3, 7 * 32);
  const log = await openLog({ dataDir: dir });
  try {
    const cp = await log.checkpoint();
    await assert.rejects(log.entryByIndex(3 * 256 + 7), corruptNaming(tile3));
    await assert.rejects(log.entryByIndex(3 * 256 + 100), corruptNaming(tile3));
    await assert.rejects(log.inclusionProof(3 * 256 + 100, cp.size), corruptNaming(tile3));
    await assert.rejects(log.tile(0, 3), corruptNaming(tile3));
    // The bundle itself is intact: the digest its commit stored vouches for it without the bad tile.
    assert.ok(Buffer.from(decodeEntryBundle((await log.entryBundle(3))!)[7]!).equals(entry(3 * 256 + 7)));
    // Proofs that do not need the bad tile still verify.
    const i = 10 * 256 + 1;
    verifyInclusion(Buffer.from(leafHash(entry(i))), i, cp.size, await log.inclusionProof(i, cp.size), cp.rootHash);
  } finally {
    await log.close();
  }
  // fsck names the tile, not the (intact) bundle it checks the entries of.
  assert.deepEqual((await fsckLog(dir)).problems.map((p) => p.file), [tile3]);

  const dir2 = copyOfLog();
  const newest = file(dir2, tilePath(0, 257));
  flip(newest);
  await assertRefused(dir2, corruptNaming(newest));
});

test('integrity: a tile or bundle changed on disk after its check and its eviction from memory is refused on its next read (by its digest)', async () => {
  const dir = copyOfLog();
  const log = await openLog({ dataDir: dir, cachedTiles: 2 });
  const tile3 = file(dir, tilePath(0, 3));
  const bundle5 = file(dir, entriesPath(5));
  try {
    const good = await log.tile(0, 3);
    assert.ok(good);
    assert.ok(await log.entryBundle(5));
    // Evict tile 3's bytes: the next read comes from the file again.
    for (let k = 10; k < 20; k++) await log.tile(0, k);
    assert.deepEqual(await log.tile(0, 3), good, 'an unchanged file is served after its eviction');
    assert.ok(await log.entryBundle(5));
    for (let k = 10; k < 20; k++) await log.tile(0, k);
    flip(tile3, 7 * 32);
    flip(bundle5);
    const changed = (path: string) => (e: unknown) => corruptNaming(path)(e) && /changed since it was written or checked/.test((e as Error).message);
    await assert.rejects(log.tile(0, 3), changed(tile3));
    await assert.rejects(log.entryBundle(5), changed(bundle5));
    // Reads of one entry check that entry against its leaf hash, as on a first read.
    await assert.rejects(log.entryByIndex(5 * 256 + 255), corruptNaming(bundle5));
  } finally {
    await log.close();
  }
});

test('integrity: a tile or bundle this server wrote and that changed on disk since is refused by the digest of what it wrote', async () => {
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  try {
    // Tiles 0 and 1 complete in earlier commits; the last commit (tile 2) keeps its files in memory.
    for (const [from, n] of [[0, 300], [300, 300], [600, 200]] as const) {
      await appendRange(log, from, n);
    }
    const tile1 = file(dir, tilePath(0, 1));
    const bundle0 = file(dir, entriesPath(0));
    flip(tile1, 5 * 32);
    flip(bundle0);
    // Never read before: without the written digest, this first read would hash the tile up the tree.
    const changed = (path: string) => (e: unknown) => corruptNaming(path)(e) && /changed since it was written or checked/.test((e as Error).message);
    await assert.rejects(log.tile(0, 1), changed(tile1));
    await assert.rejects(log.entryBundle(0), changed(bundle0));
    // An untouched file this server wrote is served as written.
    assert.ok(await log.tile(0, 0));
  } finally {
    await log.close();
  }
});

/** The `file_digests` rows of a stopped log, by `kind/tile` (kind -1: bundles), hex. */
async function storedDigests(dir: string): Promise<Map<string, string>> {
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(dir, 'log.sqlite'), { readOnly: true });
  try {
    const rows = db.prepare('SELECT kind, tile, digest FROM file_digests').all() as { kind: number; tile: number; digest: Uint8Array }[];
    return new Map(rows.map((r) => [`${r.kind}/${r.tile}`, Buffer.from(r.digest).toString('hex')]));
  } finally {
    db.close();
  }
}

const sha256Hex = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

const changedSince = (path: string) => (e: unknown) => corruptNaming(path)(e) && /changed since it was written or checked/.test((e as Error).message);

test('integrity: the commit that completes a tile or bundle stores its digest; after a restart a file changed on disk is refused by it on its first read', async () => {
  const dir = copyOfLog();
  // Every full file of the fixture (written through the request path) has its row, matching the file.
  const stored = await storedDigests(dir);
  assert.equal(stored.size, 258 + 258 + 1);
  assert.equal(stored.get('0/3'), sha256Hex(file(dir, tilePath(0, 3))));
  assert.equal(stored.get('-1/5'), sha256Hex(file(dir, entriesPath(5))));
  assert.equal(stored.get('1/0'), sha256Hex(file(dir, tilePath(1, 0))));
  const tile3 = file(dir, tilePath(0, 3));
  const bundle5 = file(dir, entriesPath(5));
  // Never read by any server: without a stored digest the first read would hash it up the tree.
  flip(tile3, 0);
  flip(bundle5);
  const log = await openLog({ dataDir: dir });
  try {
    await assert.rejects(log.tile(0, 3), changedSince(tile3));
    await assert.rejects(log.entryBundle(5), changedSince(bundle5));
    await assert.rejects(log.entryBundle(5, 100), changedSince(bundle5));
    // Reads of one entry check it against its leaf hash; its level-0 tile is checked by digest.
    await assert.rejects(log.entryByIndex(5 * 256 + 255), corruptNaming(bundle5));
    await assert.rejects(log.entryByIndex(3 * 256 + 1), changedSince(tile3));
    // Untouched files are served, and proofs verify.
    const cp = await log.checkpoint();
    const i = 20 * 256 + 9;
    assert.ok((await log.entryByIndex(i))!.body.equals(entry(i)));
    verifyInclusion(Buffer.from(leafHash(entry(i))), i, cp.size, await log.inclusionProof(i, cp.size), cp.rootHash);
  } finally {
    await log.close();
  }
});

test('integrity: a log without the digest table (an older log) opens and works; files it checks get their rows, later refused by them', async () => {
  const dir = copyOfLog();
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(dir, 'log.sqlite'));
  db.exec('DROP TABLE file_digests');
  db.close();
  const tile3 = file(dir, tilePath(0, 3));
  const tile7 = file(dir, tilePath(0, 7));
  flip(tile7, 0);
  let log = await openLog({ dataDir: dir });
  try {
    const cp = await log.checkpoint();
    assert.equal(cp.size, SIZE);
    // Without a row, the first read is the full check against the tree.
    await assert.rejects(log.tile(0, 7), (e: unknown) => corruptNaming(tile7)(e) && /does not hash to the value the tile above it holds/.test((e as Error).message));
    assert.ok(await log.tile(0, 3));
    assert.ok(await log.entryBundle(4));
    assert.ok((await log.entryByIndex(3 * 256 + 4))!.body.equals(entry(3 * 256 + 4)));
    const more = await log.append({ body: Buffer.from('after the upgrade'), indexKeys: [] });
    assert.equal(more.entry.index, SIZE);
  } finally {
    await log.close();
  }
  // The newest files (checked on start) and those read since are stored; the refused tile is not.
  const stored = await storedDigests(dir);
  assert.equal(stored.get('0/3'), sha256Hex(tile3));
  assert.equal(stored.get('-1/4'), sha256Hex(file(dir, entriesPath(4))));
  assert.equal(stored.get('0/257'), sha256Hex(file(dir, tilePath(0, 257))));
  assert.equal(stored.has('0/7'), false);
  assert.equal(stored.has('0/100'), false);
  flip(tile3, 0);
  log = await openLog({ dataDir: dir });
  try {
    await assert.rejects(log.tile(0, 3), changedSince(tile3));
    assert.ok(await log.tile(0, 100));
  } finally {
    await log.close();
  }
});

test('integrity: files written by a batch that never committed leave no stored digest', async () => {
  const dir = tempDir();
  let log = await openLog({ dataDir: dir });
  try {
    await appendRange(log, 0, 255);
    // The next entry completes level-0 tile 0 and bundle 0: the tile is written first, then a directory
    // where the bundle must go fails its rename, so the batch fails after a file went into place.
    const blocker = join(dir, 'tiles', 'tile', 'entries', '000');
    mkdirSync(join(blocker, 'x'), { recursive: true });
    const failed = await Promise.allSettled([log.append({ body: entry(255), indexKeys: [] })]);
    assert.equal(failed[0]!.status, 'rejected');
    assert.ok(existsSync(file(dir, tilePath(0, 0))), 'the uncommitted tile is on disk');
    rmSync(blocker, { recursive: true });
  } finally {
    await log.close();
  }
  assert.equal((await storedDigests(dir)).size, 0);
  log = await openLog({ dataDir: dir });
  try {
    assert.equal((await log.checkpoint()).size, 255);
    await appendRange(log, 1000, 10);
    assert.ok(await log.tile(0, 0));
  } finally {
    await log.close();
  }
  const stored = await storedDigests(dir);
  assert.deepEqual([...stored.keys()].sort(), ['-1/0', '0/0']);
  assert.equal(stored.get('0/0'), sha256Hex(file(dir, tilePath(0, 0))));
  assert.equal(stored.get('-1/0'), sha256Hex(file(dir, entriesPath(0))));
});

test('integrity: a stored digest that disagrees with a file the tree vouches for is refused on start', async () => {
  const dir = copyOfLog();
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(dir, 'log.sqlite'));
  db.prepare('UPDATE file_digests SET digest = ? WHERE kind = 0 AND tile = 257').run(Buffer.alloc(32, 7));
  db.close();
  await assertRefused(dir, (e: unknown) => isSignetError(e, 'STORAGE_CORRUPT') && /file_digests/.test((e as Error).message) && e.message.includes(tilePath(0, 257)));
  // fsck finds it, and a wrong row of an older file that start-up does not look at.
  const db2 = new DatabaseSync(join(dir, 'log.sqlite'));
  db2.prepare('UPDATE file_digests SET digest = ? WHERE kind = -1 AND tile = 9').run(Buffer.alloc(32, 7));
  db2.close();
  const problems = (await fsckLog(dir)).problems;
  assert.deepEqual(
    problems.map((p) => p.file).sort(),
    [`${join(dir, 'log.sqlite')} (table file_digests, ${entriesPath(9)})`, `${join(dir, 'log.sqlite')} (table file_digests, ${tilePath(0, 257)})`].sort(),
  );
});

test('integrity: a flipped byte in a level-1 tile is refused when read, on start and by fsck', async () => {
  const dir = copyOfLog();
  const log = await openLog({ dataDir: dir });
  const tile1 = file(dir, tilePath(1, 0));
  try {
    // Changed while the log runs: caught by every read that needs it. An entry read needs only its
    // bundle and level-0 tile, which their stored digests vouch for.
    flip(tile1, 5 * 32);
    assert.ok((await log.entryByIndex(9))!.body.equals(entry(9)));
    await assert.rejects(log.tile(1, 0), corruptNaming(tile1));
    await assert.rejects(log.inclusionProof(9, SIZE), corruptNaming(tile1));
  } finally {
    await log.close();
  }
  await assertRefused(dir, corruptNaming(tile1));
  // Only the bad tile: the level-0 tile under the flipped hash agrees with its bundle.
  assert.deepEqual((await fsckLog(dir)).problems.map((p) => p.file), [tile1]);
});

test('integrity: a deleted tile or bundle is refused on start and when read, and fsck names it', async () => {
  for (const rel of [tilePath(0, 3), entriesPath(10), tilePath(1, 0)]) {
    const dir = copyOfLog();
    rmSync(file(dir, rel));
    await assertRefused(dir, (e: unknown) => corruptNaming(file(dir, rel))(e) && /is missing/.test((e as Error).message));
    const problems = (await fsckLog(dir)).problems;
    assert.equal(problems[0]!.file, file(dir, rel));
    assert.match(problems[0]!.problem, /is missing/);
  }
  const dir = copyOfLog();
  const log = await openLog({ dataDir: dir });
  try {
    rmSync(file(dir, entriesPath(4)));
    rmSync(file(dir, tilePath(0, 6)));
    await assert.rejects(log.entryByIndex(4 * 256), corruptNaming(file(dir, entriesPath(4))));
    await assert.rejects(log.tile(0, 6), corruptNaming(file(dir, tilePath(0, 6))));
  } finally {
    await log.close();
  }
});

test('integrity: partial-bundle entries in log.sqlite that do not match the partial level-0 tile are refused on start and by fsck', async () => {
  const dir = copyOfLog();
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(dir, 'log.sqlite'));
  db.prepare('UPDATE partial_entries SET body = ? WHERE idx = ?').run(Buffer.from('not the entry'), SIZE - 5);
  db.close();
  await assertRefused(dir, (e: unknown) => isSignetError(e, 'STORAGE_CORRUPT') && e.message.includes('partial_entries') && e.message.includes(String(SIZE - 5)));
  const problems = (await fsckLog(dir)).problems;
  assert.equal(problems.length, 1);
  assert.match(problems[0]!.file, /partial_entries/);
});

test('integrity: fsck of a crash-consistent copy of a running log checks files not yet flushed as the bytes the server rewrites on start', async () => {
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  try {
    for (const n of [300, 300]) await Promise.all(Array.from({ length: n }, (_, i) => log.append({ body: Buffer.from(`crash ${n} ${i}`), indexKeys: [] })));
    const copy = tempDir();
    cpSync(dir, copy, { recursive: true });
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(join(copy, 'log.sqlite'), { readOnly: true });
    const rows = db.prepare('SELECT kind, tile, width FROM unsynced WHERE width = 256').all() as { kind: number; tile: number }[];
    db.close();
    assert.ok(rows.length > 0, 'recent files are awaiting their flush');
    // What a power cut may do to files written without a flush.
    for (const r of rows) writeFileSync(file(copy, r.kind === -1 ? entriesPath(r.tile) : tilePath(r.kind, r.tile)), '');
    const report = await fsckLog(copy);
    assert.deepEqual(report.problems, []);
    assert.equal(report.pendingRewrite, rows.length);
  } finally {
    await log.close();
  }
});

test('integrity: over HTTP a corrupt file is a bare 500 (no SET, no path), and the server log line names the file', async () => {
  const dir = copyOfLog();
  const bundle3 = file(dir, entriesPath(3));
  const tile4 = file(dir, tilePath(0, 4));
  flip(bundle3);
  flip(tile4, 0);
  const lines: string[] = [];
  const srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: { write: (l: string) => lines.push(l) } });
  try {
    const base = srv.url;
    const expect500 = async (res: Response, path: string): Promise<void> => {
      assert.equal(res.status, 500);
      const text = await res.text();
      assert.deepEqual(JSON.parse(text), { code: 500, message: 'internal server error' });
      assert.ok(lines.some((l) => l.includes('"level":"error"') && l.includes(path)), `a log line names ${path}`);
    };
    const bad = 3 * 256 + 255;
    await expect500(await fetch(`${base}/api/v1/log/entries?logIndex=${bad}`), bundle3);
    await expect500(await fetch(`${base}/api/v1/log/entries/${Buffer.from(leafHash(entry(bad))).toString('hex')}`), bundle3);
    await expect500(
      await fetch(`${base}/api/v1/log/entries/retrieve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ logIndexes: [bad] }) }),
      bundle3,
    );
    await expect500(await fetch(`${base}/api/v2/tile/entries/003`), bundle3);
    await expect500(await fetch(`${base}/api/v1/log/entries?logIndex=${4 * 256 + 1}`), tile4);
    await expect500(await fetch(`${base}/api/v2/tile/0/004`), tile4);
    // Intact entries are still served with their SET and proof.
    const ok = await fetch(`${base}/api/v1/log/entries?logIndex=${10 * 256}`);
    assert.equal(ok.status, 200);
    const doc = Object.values((await ok.json()) as Record<string, { verification: { signedEntryTimestamp: string } }>)[0]!;
    assert.ok(doc.verification.signedEntryTimestamp.length > 0);
  } finally {
    await srv.close();
  }
});
