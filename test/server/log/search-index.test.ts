/** The embedded log's search index (search-index.ts, index-runs.ts): rows in memory, sorted runs, merges. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import { openLog } from '../../../src/server/log/index.js';
import { transaction } from '../../../src/server/log/io.js';
import { INDEX_RUNS_DIR, INDEX_SCHEMA, SearchIndex, pickMerge, runTier } from '../../../src/server/log/search-index.js';
import { loadSqlite } from '../../../src/server/log/sqlite.js';
import { leafHash } from '../../../src/tlog/index.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'signet-index-'));
  dirs.push(d);
  return d;
};

const leaf = (i: number): Buffer => createHash('sha256').update(`leaf ${i}`).digest();

test('search index: a committed batch is found at once, written as a run later, replayed from the journal after a crash', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'tmp'));
  const { DatabaseSync } = await loadSqlite();
  const open = (): DatabaseSync => {
    const db = new DatabaseSync(join(dir, 'log.sqlite'));
    db.exec('PRAGMA main.journal_mode = WAL;');
    db.exec(INDEX_SCHEMA);
    return db;
  };
  const runs = (db: DatabaseSync): number => (db.prepare('SELECT count(*) AS n FROM index_runs').get() as { n: number }).n;
  const journal = (db: DatabaseSync): number => (db.prepare('SELECT count(*) AS n FROM index_journal').get() as { n: number }).n;

  let db = open();
  let ix = new SearchIndex(db, DatabaseSync, dir, async () => undefined);
  await ix.recover(0);
  const batch = { start: 0, entries: [{ leafHash: leaf(0), indexKeys: ['k'] }, { leafHash: leaf(1), indexKeys: ['k', 'j'] }] };
  transaction(db, () => ix.journal(batch.start, batch.entries, ix.durable));
  ix.committed(batch, 0);
  assert.equal(ix.lookup(leaf(1)), 1);
  assert.deepEqual(ix.search('k'), [0, 1]);
  assert.deepEqual([...ix.known([leaf(0), leaf(7)]).values()], [0]);
  assert.equal(runs(db), 0, 'served from memory before its run is written');
  // A crash before the run: only the journal row remains.
  ix.stop();
  await ix.closeWorkers();
  db.close();

  db = open();
  ix = new SearchIndex(db, DatabaseSync, dir, async () => undefined);
  await ix.recover(2);
  assert.equal(runs(db), 1);
  assert.equal(journal(db), 0, 'the journal a run covers is dropped');
  assert.equal(ix.lookup(leaf(0)), 0);
  assert.equal(ix.lookup(leaf(9)), undefined);
  assert.deepEqual(ix.search('j'), [1]);
  assert.deepEqual(ix.search('nothing'), []);
  await ix.close();
  db.close();
});

/** Entries of a log: body i, search keys `k<i>` and (every 3rd) `shared`. */
const bodyOf = (i: number): Buffer => Buffer.from(`entry ${i} ${'z'.repeat(i % 50)}`);

async function fill(dir: string, from: number, to: number, opts: Parameters<typeof openLog>[0]['searchIndex'], until?: () => boolean): Promise<number> {
  // Given `until`, writes go on past `to` (merges run in the background) until it holds.
  const log = await openLog({ dataDir: dir, ...(opts ? { searchIndex: opts } : {}) });
  let i = from;
  try {
    for (; i < to || (until && !until() && i < from + 30_000); i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => log.append({ body: bodyOf(i + j), indexKeys: [`k${i + j}`, ...((i + j) % 3 === 0 ? ['shared'] : [])] })));
    }
  } finally {
    await log.close();
  }
  return i;
}

async function checkAll(dir: string, n: number): Promise<void> {
  const log = await openLog({ dataDir: dir });
  try {
    assert.equal((await log.checkpoint()).size, n);
    const seen = new Set<number>();
    for (let i = 0; i < n; i++) {
      const e = await log.entryByLeafHash(Buffer.from(leafHash(bodyOf(i))));
      assert.ok(e, `entry ${i} found by leaf hash`);
      assert.ok(!seen.has(e.index));
      seen.add(e.index);
      assert.ok(e.body.equals(bodyOf(i)));
      const byKey = await log.search(`k${i}`);
      assert.deepEqual(byKey, [e.index], `entry ${i} found once by its key`);
    }
    const shared = await log.search('shared');
    assert.equal(shared.length, Math.ceil(n / 3), 'each entry of a shared key once');
    assert.deepEqual(shared, [...shared].sort((a, b) => a - b));
    assert.equal(new Set(shared).size, shared.length);
    assert.equal((await log.append({ body: bodyOf(3), indexKeys: [] })).status, 'duplicate');
  } finally {
    await log.close();
  }
}

test('search index: runs are merged in the background; every entry is found exactly once before, during and after', async () => {
  const dir = tmp();
  let merges = 0;
  const n = await fill(dir, 0, 1200, { runEntries: 16, beforeMergeCommit: async () => void merges++ }, () => merges >= 2);
  assert.ok(merges >= 2, 'runs were merged');
  const files = readdirSync(join(dir, INDEX_RUNS_DIR));
  assert.ok(files.length < n / 50, `merged runs replace their inputs (${files.length} files)`);
  await checkAll(dir, n);
});

test('search index: a copy of the data dir taken mid-merge opens with every entry found exactly once', async () => {
  const dir = tmp();
  const copies: string[] = [];
  await fill(dir, 0, 900, {
    runEntries: 16,
    // The merged file is complete and in place, the manifest still lists its inputs: copy now.
    beforeMergeCommit: async () => {
      if (copies.length >= 2) return;
      const c = tmp();
      // (Not tmp/, whose files the log's threads create and rename meanwhile; it is emptied on start.)
      cpSync(dir, c, { recursive: true, filter: (src) => !src.startsWith(join(dir, 'tmp') + '/') });
      copies.push(c);
    },
  }, () => copies.length >= 2);
  assert.equal(copies.length, 2);
  for (const c of copies) {
    const size = await (async () => {
      const log = await openLog({ dataDir: c });
      try {
        return (await log.checkpoint()).size;
      } finally {
        await log.close();
      }
    })();
    await checkAll(c, size);
    // The merge's unlisted file was removed on open.
    const { DatabaseSync } = await loadSqlite();
    const db = new DatabaseSync(join(c, 'log.sqlite'), { readOnly: true });
    const listed = new Set((db.prepare('SELECT name FROM index_runs').all() as { name: string }[]).map((r) => r.name));
    db.close();
    for (const f of readdirSync(join(c, INDEX_RUNS_DIR))) assert.ok(listed.has(f), `${f} is listed`);
    // And it goes on: more entries, merged again, all found.
    await fill(c, size, size + 300, { runEntries: 16 });
    await checkAll(c, size + 300);
  }
  assert.ok(existsSync(join(dir, 'log.sqlite')));
});

test('search index: the merge policy rewrites each entry about once per size tier and keeps few runs', () => {
  // Runs of 50 entries appear (base 16), as new rows do under load; merges are applied as soon as they are
  // due, or (second pass) only after every 10th new run, as when the merger lags behind the writes.
  for (const lag of [1, 10]) {
    const sizes: number[] = [];
    let merged = 0;
    let maxRuns = 0;
    let total = 0;
    for (let i = 1; i <= 2000; i++) {
      sizes.push(50);
      total += 50;
      maxRuns = Math.max(maxRuns, sizes.length);
      if (i % lag !== 0) continue;
      for (let pick = pickMerge(sizes, 16); pick; pick = pickMerge(sizes, 16)) {
        const [from, to] = pick;
        assert.ok(to - from >= 2 && to - from <= 8, `merges 2..8 runs at once (${to - from})`);
        const n = sizes.slice(from, to).reduce((a, b) => a + b, 0);
        merged += n;
        sizes.splice(from, to - from, n);
      }
    }
    assert.equal(sizes.reduce((a, b) => a + b, 0), total);
    const tiers = runTier(total, 16) + 1;
    // Before: a large run was merged again with every few small ones, so the index was rewritten over and over.
    assert.ok(merged / total <= tiers, `each entry merged ${(merged / total).toFixed(1)} times, at most once per tier (${tiers})`);
    assert.ok(sizes.length <= 3 * tiers, `${sizes.length} runs left, at most 3 per tier`);
    assert.ok(maxRuns <= 3 * tiers + lag, `at most ${maxRuns} runs at any moment`);
  }
});

test('search index: merges run on a thread of lower priority than the request path (Linux)', { skip: process.platform !== 'linux' }, async (t) => {
  const nice = (tid: string): number => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  };
  const own = nice(String(process.pid));
  if (own >= 19) return t.skip('this process already runs at the lowest priority');
  const log = await openLog({ dataDir: tmp() });
  try {
    let niced: number[] = [];
    for (let i = 0; i < 100 && niced.length < 2; i++) {
      niced = readdirSync('/proc/self/task').map(nice).filter((n) => n > own);
      if (niced.length < 2) await new Promise((r) => setTimeout(r, 50));
    }
    const n10 = Math.min(19, own + 10);
    assert.deepEqual(niced, [n10, n10], 'the two merge threads at nice +10');
  } finally {
    await log.close();
  }
});

test('search index: small runs keep being merged while a large merge runs', async () => {
  const dir = tmp();
  // runEntries 64: merges of more than 64 × 4² = 1024 entries are large. The first one is held back while
  // more entries are written; meanwhile the new runs must keep being merged (with one merge thread they
  // waited for it, however many piled up).
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => (release = r));
  let large: { lo: number; hi: number } | null = null;
  let smallDuring = 0;
  const log = await openLog({
    dataDir: dir,
    searchIndex: {
      runEntries: 64,
      // Not niced: what is tested is that small merges need not wait for a large one, not the priority
      // (its own test); under the load of other work, niced threads got too little CPU to finish in time.
      mergeNice: 0,
      beforeMergeCommit: async (m) => {
        if (m.hi - m.lo > 1024 && !large) {
          large = m;
          await held;
        } else if (large) smallDuring++;
      },
    },
  });
  let i = 0;
  try {
    // Until the large merge starts, or a minute: under the whole suite's load the niced merge threads fall
    // behind the writes, and a fixed count of entries (30,000 before) was sometimes written first.
    const startBy = Date.now() + 60_000;
    for (; Date.now() < startBy && !large; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => log.append({ body: bodyOf(i + j), indexKeys: [`k${i + j}`, ...((i + j) % 3 === 0 ? ['shared'] : [])] })));
    }
    assert.ok(large, 'a large merge started');
    // Until two small merges are done beside the held one, or a minute: a loaded machine is slow to run
    // them (the merge threads run at a lower priority, and the whole suite shares the cores).
    const giveUp = Date.now() + 60_000;
    for (; Date.now() < giveUp && smallDuring < 2; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => log.append({ body: bodyOf(i + j), indexKeys: [`k${i + j}`, ...((i + j) % 3 === 0 ? ['shared'] : [])] })));
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(smallDuring >= 2, `small merges went on beside the large one (${smallDuring})`);
  } finally {
    release();
    await log.close();
  }
  await checkAll(dir, i);
});
