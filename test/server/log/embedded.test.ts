import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isSignetError } from '../../../src/errors.js';
import { decodeIndexRows, encodeIndexRows } from '../../../src/server/log/embedded.js';
import { openLog } from '../../../src/server/log/index.js';
import { encodeEntryBundle, entriesPath, parseTilePath, tilePath, tileWidth, verifyInclusion } from '../../../src/tlog/index.js';
import { runUntilKilled } from './crash.js';
import { body, checkCheckpoint, checkConsistent, checkTilesMatch, logSuite } from './suite.js';
import { verifyAfterCrash } from './verify-crash.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'signet-log-'));
  dirs.push(d);
  return d;
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

logSuite('embedded', async () => {
  const dir = tempDir();
  return { open: () => openLog({ dataDir: dir }) };
});

test('embedded: the log key is created once, private (0600), and reused', async () => {
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  const id = log.logId;
  await log.close();
  assert.equal(statSync(join(dir, 'log.key')).mode & 0o777, 0o600);
  const again = await openLog({ dataDir: dir });
  assert.ok(again.logId.equals(id));
  assert.equal(again.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  await again.close();
});

test('embedded: a second server on the same directory, another key or another origin is refused', async () => {
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  try {
    await assert.rejects(openLog({ dataDir: dir }), (e: unknown) => isSignetError(e, 'TLOG') && /in use by another process/.test(e.message));
  } finally {
    await log.close();
  }
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  await assert.rejects(openLog({ dataDir: dir, signingKey: other }), (e: unknown) => isSignetError(e, 'TLOG') && /signed by the key with log ID/.test(e.message));
  await assert.rejects(openLog({ dataDir: dir, origin: 'elsewhere - 1' }), (e: unknown) => isSignetError(e, 'USAGE') && /has origin/.test(e.message));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  await assert.rejects(openLog({ dataDir: tempDir(), signingKey: rsa }), (e: unknown) => isSignetError(e, 'KEY_UNSUPPORTED'));
  await assert.rejects(openLog({ dataDir: dir, storage: 'mysql://x' }), (e: unknown) => isSignetError(e, 'USAGE') && /unknown log storage/.test(e.message));
  // The refused attempts changed nothing.
  const back = await openLog({ dataDir: dir });
  assert.equal((await back.checkpoint()).size, 0);
  await back.close();
});

test('embedded: an Ed25519 key and a custom origin sign checkpoints under the origin name', async () => {
  const key = generateKeyPairSync('ed25519').privateKey;
  const log = await openLog({ dataDir: tempDir(), signingKey: key, origin: 'log.example.com - 42' });
  try {
    const r = await log.append({ body: Buffer.from('e'), indexKeys: [] });
    assert.equal(r.status, 'created');
    if (r.status === 'created') checkCheckpoint(log, r.checkpoint);
    assert.match(r.status === 'created' ? r.checkpoint.note : '', /\n— log\.example\.com /);
  } finally {
    await log.close();
  }
});

test('embedded: a batch that fails to write is rejected for every waiter and leaves the log unchanged', async () => {
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  try {
    const ok = await Promise.all(Array.from({ length: 255 }, (_, i) => log.append({ body: body('f', i), indexKeys: [] })));
    const cp0 = await log.checkpoint();
    // One more entry completes bundle 0 and level-0 tile 0: directories where their files must go make
    // every next batch's renames fail.
    const blockers = [join(dir, 'tiles', 'tile', 'entries', '000'), join(dir, 'tiles', 'tile', '0', '000')];
    blockers.forEach((b) => mkdirSync(join(b, 'x'), { recursive: true }));
    const failed = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => log.append({ body: body('f', 255 + i), indexKeys: [] })));
    assert.ok(failed.every((r) => r.status === 'rejected' && isSignetError(r.reason, 'IO')));
    assert.equal((await log.checkpoint()).note, cp0.note);
    assert.equal(await log.entryByIndex(255), null);
    blockers.forEach((b) => rmSync(b, { recursive: true }));
    // The retry continues at index 255, from the committed state.
    const retry = await Promise.all(Array.from({ length: 10 }, (_, i) => log.append({ body: body('f', 255 + i), indexKeys: [] })));
    assert.deepEqual(retry.map((r) => r.entry.index).sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => 255 + i));
    const cp1 = await log.checkpoint();
    await checkConsistent(log, cp0, cp1);
    await checkTilesMatch(log, cp1);
    assert.ok(ok.every((r) => r.status === 'created'));
  } finally {
    await log.close();
  }
});

test('embedded: files a commit wrote without flushing are rebuilt from the database when the disk lost them', async () => {
  // A power cut can lose file data that was never flushed; SIGKILL cannot (the page cache survives), so
  // the loss is made by hand: a crash-consistent copy of a live log, with every not-yet-flushed file
  // emptied or removed, must open with the same tree.
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  const leaves: Buffer[] = [];
  let cp;
  try {
    // The last commit is one entry that completes tile 1 (and bundle 1): its files' `unsynced` rows are
    // deleted only by a commit after a sweep, so they are certainly still there when the copy is taken,
    // however slow the machine (a sweep between earlier commits may flush theirs).
    for (const n of [3, 300, 208, 1]) {
      const rs = await Promise.all(Array.from({ length: n }, (_, i) => log.append({ body: body(`u${n}`, i), indexKeys: [] })));
      for (const r of rs) leaves[r.entry.index] = r.entry.leafHash;
    }
    cp = await log.checkpoint();
    const copy = tempDir();
    cpSync(dir, copy, { recursive: true });
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(join(copy, 'log.sqlite'));
    const rows = db.prepare('SELECT kind, tile, width FROM unsynced').all() as { kind: number; tile: number; width: number }[];
    db.close();
    assert.ok(rows.length > 0, 'recent files are awaiting their flush');
    rows.forEach((r, i) => {
      const rel = r.kind === -1 ? entriesPath(r.tile, r.width) : tilePath(r.kind, r.tile, r.width);
      const f = join(copy, 'tiles', rel);
      // (A row may also name a version a newer one superseded, already deleted.)
      if (!existsSync(f)) return;
      if (i % 2 === 0) rmSync(f);
      else truncateSync(f, 0);
    });
    const reopened = await openLog({ dataDir: copy });
    try {
      const again = await reopened.checkpoint();
      assert.equal(again.note, cp.note);
      await checkTilesMatch(reopened, again);
      for (let i = 0; i < again.size; i += 17) verifyInclusion(leaves[i]!, i, again.size, await reopened.inclusionProof(i, again.size), again.rootHash);
      const more = await reopened.append({ body: body('after', 0), indexKeys: [] });
      assert.equal(more.entry.index, cp.size);
    } finally {
      await reopened.close();
    }
  } finally {
    await log.close();
  }
});

test('embedded: completed tiles written without a flush are flushed and forgotten by close', async () => {
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  try {
    // Two tiles' worth: level-0 tiles and bundles 0 and 1 complete along the way.
    for (let w = 0; w < 4; w++) await Promise.all(Array.from({ length: 130 }, (_, i) => log.append({ body: body(`s${w}`, i), indexKeys: [] })));
  } finally {
    await log.close();
  }
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(dir, 'log.sqlite'));
  assert.equal((db.prepare('SELECT count(*) AS n FROM unsynced').get() as { n: number }).n, 0);
  db.close();
  const again = await openLog({ dataDir: dir });
  try {
    await checkTilesMatch(again, await again.checkpoint());
  } finally {
    await again.close();
  }
});

test('embedded: a log whose partial tiles and bundle are files (the older layout) opens with the same tree', async () => {
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  const leaves: Buffer[] = [];
  try {
    const rs = await Promise.all(Array.from({ length: 300 }, (_, i) => log.append({ body: body('legacy', i), indexKeys: [] })));
    for (const r of rs) leaves[r.entry.index] = r.entry.leafHash;
  } finally {
    await log.close();
  }
  // The older layout: the right edge as <tile>.p/<width> files, nothing in the partial tables.
  const size = 300;
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(dir, 'log.sqlite'));
  const partials = db.prepare('SELECT kind, tile, width, data FROM partial').all() as { kind: number; tile: number; width: number; data: Uint8Array }[];
  const bodies = (db.prepare('SELECT body FROM partial_entries ORDER BY idx').all() as { body: Uint8Array }[]).map((r) => Buffer.from(r.body));
  assert.equal(bodies.length, size % 256);
  const files = [
    ...partials.map((p) => ({ rel: tilePath(p.kind, p.tile, p.width), data: p.data })),
    { rel: entriesPath(1, size % 256), data: encodeEntryBundle(bodies) },
  ];
  for (const f of files) {
    mkdirSync(join(dir, 'tiles', f.rel, '..'), { recursive: true });
    writeFileSync(join(dir, 'tiles', f.rel), f.data);
  }
  db.exec('DELETE FROM partial; DELETE FROM partial_entries;');
  db.close();
  const reopened = await openLog({ dataDir: dir });
  try {
    const cp = await reopened.checkpoint();
    assert.equal(cp.size, size);
    await checkTilesMatch(reopened, cp);
    for (let i = 0; i < size; i += 13) verifyInclusion(leaves[i]!, i, size, await reopened.inclusionProof(i, size), cp.rootHash);
    assert.ok(files.every((f) => !existsSync(join(dir, 'tiles', f.rel))), 'the partial files are gone, their content in the database');
    const more = await reopened.append({ body: body('legacy', size), indexKeys: [] });
    assert.equal(more.entry.index, size);
    await checkTilesMatch(reopened, await reopened.checkpoint());
  } finally {
    await reopened.close();
  }
});

/** Appends `n` entries tagged `tag` in one wave, each with search keys `tag` and `tag:<i>`; returns them by index. */
async function wave(log: Awaited<ReturnType<typeof openLog>>, tag: string, n: number): Promise<Map<number, Buffer>> {
  const rs = await Promise.all(Array.from({ length: n }, (_, i) => log.append({ body: body(tag, i), indexKeys: [tag, `${tag}:${i}`] })));
  return new Map(rs.map((r) => [r.entry.index, r.entry.leafHash]));
}

/** Every entry is found by its leaf hash and by both of its search keys; appending it again is a duplicate. */
async function assertIndexed(log: Awaited<ReturnType<typeof openLog>>, tag: string, entries: Map<number, Buffer>): Promise<void> {
  assert.deepEqual(await log.search(tag), [...entries.keys()].sort((a, b) => a - b), `search ${tag}`);
  let i = 0;
  for (const [index, leaf] of entries) {
    assert.equal((await log.entryByLeafHash(leaf))?.index, index);
    if (i++ % 7 === 0) {
      const r = await log.append({ body: body(tag, index - Math.min(...entries.keys())), indexKeys: [] });
      assert.equal(r.status, 'duplicate');
      assert.equal(r.entry.index, index);
    }
  }
}

test('embedded: index rows not yet in a run are rebuilt from the journal; a gap in the journal is refused', async () => {
  // A batch's index rows become part of a run shortly after its answer; until then they are only in
  // log.sqlite's index_journal. A crash-consistent copy taken while they are pending (here: the
  // background writing of runs off) must come back with every entry found and searchable.
  const dir = tempDir();
  const first = await openLog({ dataDir: dir });
  const a = await wave(first, 'a', 40);
  await first.close();
  const log = await openLog({ dataDir: dir, searchIndex: { applyMs: Number.POSITIVE_INFINITY } });
  const b = await wave(log, 'b', 300);
  const c = await wave(log, 'c', 7);
  const copy = tempDir();
  cpSync(dir, copy, { recursive: true });
  await log.close();
  // Without a batch of the journal the index cannot be rebuilt: refused, not served with a hole.
  const gap = tempDir();
  cpSync(copy, gap, { recursive: true });
  const { DatabaseSync } = await import('node:sqlite');
  const g = new DatabaseSync(join(gap, 'log.sqlite'));
  const starts = (g.prepare('SELECT start FROM index_journal ORDER BY start').all() as { start: number }[]).map((r) => r.start);
  assert.equal(starts[0], 40, 'the journal holds every batch since the last run');
  g.prepare('DELETE FROM index_journal WHERE start = ?').run(starts[1]!);
  g.close();
  await assert.rejects(openLog({ dataDir: gap }), (e: unknown) => isSignetError(e, 'TLOG') && /covers 40 of the log's 347 entries and the journal to rebuild it is incomplete/.test((e as Error).message));
  const reopened = await openLog({ dataDir: copy });
  try {
    assert.equal((await reopened.checkpoint()).size, 347);
    for (const [tag, entries] of [['a', a], ['b', b], ['c', c]] as const) await assertIndexed(reopened, tag, entries);
    assert.deepEqual(await reopened.search('b:299'), [...b.keys()].slice(299, 300));
    const more = await reopened.append({ body: body('after', 0), indexKeys: ['after'] });
    assert.equal(more.entry.index, 347);
  } finally {
    await reopened.close();
  }
  const db = new DatabaseSync(join(copy, 'log.sqlite'));
  assert.equal((db.prepare('SELECT count(*) AS n FROM index_journal').get() as { n: number }).n, 0, 'an index in runs needs no journal');
  db.close();
});

test('embedded: index rows of a batch the log itself lost are dropped on start', async () => {
  // The reverse: the log's last batch (never acknowledged) lost, the index's copy of it kept.
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  const a = await wave(log, 'a', 10);
  await log.close();
  const before = tempDir();
  cpSync(join(dir, 'log.sqlite'), join(before, 'log.sqlite'));
  const again = await openLog({ dataDir: dir });
  const lost = await wave(again, 'lost', 20);
  await again.close();
  cpSync(join(before, 'log.sqlite'), join(dir, 'log.sqlite'));
  const reopened = await openLog({ dataDir: dir });
  try {
    assert.equal((await reopened.checkpoint()).size, 10);
    await assertIndexed(reopened, 'a', a);
    assert.deepEqual(await reopened.search('lost'), []);
    for (const leaf of lost.values()) assert.equal(await reopened.entryByLeafHash(leaf), null);
    const r = await reopened.append({ body: body('lost', 0), indexKeys: ['lost'] });
    assert.equal(r.status, 'created');
    assert.equal(r.entry.index, 10);
    assert.deepEqual(await reopened.search('lost'), [10]);
  } finally {
    await reopened.close();
  }
});

/** Turns a closed log's index back into an older layout: `where` 'log.sqlite' (tables there) or 'index.sqlite' (a file of its own). */
async function toOlderLayout(dir: string, entries: Map<number, Buffer>, tag: string, where: 'log.sqlite' | 'index.sqlite', indexed = entries.size): Promise<void> {
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(dir, 'log.sqlite'));
  const prefix = where === 'log.sqlite' ? 'main' : 'ix';
  if (where === 'index.sqlite') {
    db.prepare('ATTACH DATABASE ? AS ix').run(join(dir, 'index.sqlite'));
    db.exec('CREATE TABLE ix.indexed (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL); INSERT INTO ix.indexed VALUES (1, ' + indexed + ');');
  }
  db.exec(`CREATE TABLE ${prefix}.leaves (leaf_hash BLOB PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE ${prefix}.search (key TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (key, idx)) WITHOUT ROWID;
    DROP TABLE main.index_runs; DELETE FROM main.index_journal;`);
  const min = Math.min(...entries.keys());
  for (const [index, leaf] of entries) {
    if (index >= indexed) continue;
    db.prepare(`INSERT INTO ${prefix}.leaves VALUES (?, ?)`).run(leaf, index);
    for (const k of [tag, `${tag}:${index - min}`]) db.prepare(`INSERT INTO ${prefix}.search VALUES (?, ?)`).run(k, index);
  }
  if (where === 'index.sqlite') db.exec('DETACH DATABASE ix');
  db.close();
  rmSync(join(dir, 'index'), { recursive: true });
}

test('embedded: a log whose index is in log.sqlite (the oldest layout) moves it into a run', async () => {
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  const a = await wave(log, 'a', 30);
  await log.close();
  await toOlderLayout(dir, a, 'a', 'log.sqlite');
  const reopened = await openLog({ dataDir: dir });
  try {
    await assertIndexed(reopened, 'a', a);
  } finally {
    await reopened.close();
  }
  const { DatabaseSync } = await import('node:sqlite');
  const after = new DatabaseSync(join(dir, 'log.sqlite'));
  const tables = (after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
  after.close();
  assert.ok(!tables.includes('leaves') && !tables.includes('search'), `moved out: ${tables.join(', ')}`);
  assert.equal(readdirSync(join(dir, 'index')).length, 1);
});

test('embedded: a log whose index is one B-tree in index.sqlite (the older layout) moves it into a run, rows past the log dropped', async () => {
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  const a = await wave(log, 'a', 30);
  await log.close();
  // An index.sqlite that outran the log (the log lost its last batch): rows at 30 and up must not survive.
  const extra = new Map(a);
  extra.set(30, Buffer.alloc(32, 7));
  await toOlderLayout(dir, extra, 'a', 'index.sqlite', 31);
  const reopened = await openLog({ dataDir: dir });
  try {
    await assertIndexed(reopened, 'a', a);
    assert.equal(await reopened.entryByLeafHash(Buffer.alloc(32, 7)), null);
    const r = await reopened.append({ body: body('new', 0), indexKeys: ['a'] });
    assert.equal(r.entry.index, 30);
    assert.deepEqual(await reopened.search('a'), [...a.keys(), 30]);
  } finally {
    await reopened.close();
  }
  assert.ok(!existsSync(join(dir, 'index.sqlite')), 'index.sqlite removed once moved');
});

test('embedded: a missing run of the search index is refused with a clear error naming it, not served as an empty index', async () => {
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  await wave(log, 'a', 5);
  await log.close();
  const [run] = readdirSync(join(dir, 'index'));
  rmSync(join(dir, 'index', run!));
  await assert.rejects(openLog({ dataDir: dir }), (e: unknown) => {
    assert.ok(isSignetError(e, 'STORAGE_CORRUPT'));
    assert.ok((e as Error).message.includes(run!));
    assert.ok(!(e as Error).message.includes('\n'));
    return true;
  });
  // With the manifest gone too (and no journal to rebuild from), the index is missing: refused.
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(dir, 'log.sqlite'));
  db.exec('DELETE FROM index_runs');
  db.close();
  await assert.rejects(openLog({ dataDir: dir }), (e: unknown) => isSignetError(e, 'TLOG') && /has 5 entries but its search index .* is missing/.test((e as Error).message));
});

test('embedded: entries are found by hash and key both before and after their index rows reach a run', async () => {
  // Index rows are written as a run shortly after their batch is answered; until then lookups
  // are served from memory, and a search key spans both.
  const dir = tempDir();
  const log = await openLog({ dataDir: dir });
  try {
    const a = await wave(log, 'k', 20);
    await new Promise((r) => setTimeout(r, 150)); // applied
    const b = await wave(log, 'k', 30); // the first 20 bodies again, then 10 new ones
    assert.deepEqual([...b.keys()].slice(0, 20), [...a.keys()], 'bodies already applied are duplicates');
    assert.deepEqual([...b.keys()].slice(20), [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    const c = new Map<number, Buffer>();
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => log.append({ body: body('k2', i), indexKeys: ['k', `k2:${i}`] })));
    for (const r of rs) c.set(r.entry.index, r.entry.leafHash);
    const all = [...a.keys(), ...b.keys()].filter((v, i, arr) => arr.indexOf(v) === i).concat([...c.keys()]).sort((x, y) => x - y);
    assert.deepEqual(await log.search('k'), all, 'applied rows first, then pending ones, in index order');
    for (const [index, leaf] of c) assert.equal((await log.entryByLeafHash(leaf))?.index, index);
    const dup = await log.append({ body: body('k2', 3), indexKeys: [] });
    assert.equal(dup.status, 'duplicate');
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(await log.search('k'), all);
    assert.deepEqual(await log.search('k2:3'), [dup.entry.index]);
  } finally {
    await log.close();
  }
});

test('embedded: index journal rows encode and decode; a truncated row is refused', () => {
  const rows = [
    { leafHash: Buffer.alloc(32, 1), indexKeys: [] },
    { leafHash: Buffer.alloc(32, 2), indexKeys: ['sha256:ab', 'ünïcode@example.com', 'x'.repeat(512)] },
  ];
  const data = encodeIndexRows(rows);
  assert.deepEqual(decodeIndexRows(data), rows);
  assert.deepEqual(decodeIndexRows(Buffer.alloc(0)), []);
  for (const cut of [1, 33, 35, data.length - 1]) assert.throws(() => decodeIndexRows(data.subarray(0, cut)), (e: unknown) => isSignetError(e, 'TLOG'));
});

/** Every file under tiles/ is the current version of a tile or bundle of the committed tree; tmp/ is empty. */
function assertNoStrayFiles(dir: string, size: number): void {
  const files = readdirSync(join(dir, 'tiles'), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(join(dir, 'tiles').length + 1));
  assert.ok(files.length > 0);
  for (const f of files) {
    const t = parseTilePath(f);
    const current = tileWidth(t.kind === 'entries' ? 0 : t.level, t.index, size);
    assert.equal(t.width, current, `${f} is not the current version of that tile at size ${size}`);
  }
  assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
}

test('embedded: SIGKILL mid-stream loses no acknowledged entry and keeps every checkpoint consistent (twice)', async () => {
  const dir = tempDir();
  const first = await runUntilKilled(dir, 'embedded', 'A', 1500);
  assert.doesNotMatch(first.stderr, /ExperimentalWarning/);
  let log = await openLog({ dataDir: dir });
  const after1 = await verifyAfterCrash(log, first.acks);
  assertNoStrayFiles(dir, after1.size);
  await log.close();
  const second = await runUntilKilled(dir, 'embedded', 'B', 1500);
  log = await openLog({ dataDir: dir });
  try {
    const after2 = await verifyAfterCrash(log, [...first.acks, ...second.acks]);
    assertNoStrayFiles(dir, after2.size);
    await checkConsistent(log, after1, after2);
    // The reopened log keeps appending onto the same tree.
    const r = await log.append({ body: Buffer.from('after the crashes'), indexKeys: [] });
    assert.equal(r.status, 'created');
    assert.equal(r.entry.index, after2.size);
  } finally {
    await log.close();
  }
});
