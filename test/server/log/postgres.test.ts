import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { isSignetError } from '../../../src/errors.js';
import { type BatchItem, CheckpointSigner } from '../../../src/server/log/common.js';
import { entryLeafHash } from '../../../src/server/log/integrity.js';
import { Log, openLog } from '../../../src/server/log/index.js';
import { PostgresStorage } from '../../../src/server/log/postgres.js';
import { startServer } from '../../../src/server/serve.js';
import { verifyInclusion } from '../../../src/tlog/index.js';
import { type RunningPostgres, startPostgres } from '../../helpers/postgres.js';
import { freePort } from '../../helpers/registry.js';
import { runUntilKilled } from './crash.js';
import { body, checkConsistent, checkTilesMatch, logSuite } from './suite.js';
import { verifyAfterCrash } from './verify-crash.js';

let server: RunningPostgres;
let dbCount = 0;
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'signet-log-'));
  dirs.push(d);
  return d;
}

before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

const newLogKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

/** The batch item of an entry whose body is `s`. */
const leaf = (s: string, indexKeys: string[] = []): BatchItem => ({ leafHash: entryLeafHash(Buffer.from(s)), body: Buffer.from(s), indexKeys });

/**
 * The log statements node-postgres sends while `fn` runs, by kind: 'write' (a batch), 'read' (the state and
 * its tiles), 'lock' (the state row's lock), 'dups' (the duplicate lookup).
 */
async function statementsSent<T>(fn: () => Promise<T>): Promise<{ kinds: string[]; result: T }> {
  const kinds: string[] = [];
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const q = args[0] as string | { text?: string };
    const text = (typeof q === 'string' ? q : q.text) ?? '';
    if (/FOR UPDATE/.test(text)) kinds.push('lock');
    else if (/^WITH\s+st AS \(UPDATE signet_log_state/.test(text)) kinds.push('write');
    else if (/^SELECT s\.size, s\.root, s\.checkpoint, p\.level/.test(text)) kinds.push('read');
    else if (/FROM signet_log_entries WHERE leaf_hash = ANY/.test(text)) kinds.push('dups');
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  try {
    return { kinds, result: await fn() };
  } finally {
    pg.Client.prototype.query = query;
  }
}

/** A client of the database at `url`, connected. */
async function connected(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

/** A fresh database per test, so each starts with an empty log. */
async function freshDb(): Promise<string> {
  const name = `log${++dbCount}`;
  const c = await connected(server.url);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  return server.url.replace(/\/postgres$/, `/${name}`);
}

logSuite('postgres', async () => {
  const url = await freshDb();
  const dir = tempDir();
  return { open: () => openLog({ dataDir: dir, storage: url }) };
});

test('postgres: an unreachable database is a clear NETWORK error', async () => {
  const port = await freePort();
  const t0 = Date.now();
  await assert.rejects(openLog({ dataDir: tempDir(), storage: `postgres://signet:secret@127.0.0.1:${port}/log` }), (e: unknown) => {
    assert.ok(isSignetError(e, 'NETWORK'), String(e));
    assert.match(e.message, new RegExp(`cannot reach the log database at postgres://signet:\\*\\*\\*@127\\.0\\.0\\.1:${port}/log`));
    assert.doesNotMatch(e.message, /secret/);
    return true;
  });
  assert.ok(Date.now() - t0 < 10_000);
});

test('postgres: a server with another key is refused', async () => {
  const url = await freshDb();
  const log = await openLog({ dataDir: tempDir(), storage: url });
  await log.close();
  const other = newLogKey();
  await assert.rejects(openLog({ dataDir: tempDir(), storage: url, signingKey: other }), (e: unknown) => isSignetError(e, 'TLOG') && /same key/.test(e.message));
});

test('postgres: a failed batch is rejected for every waiter and the next one continues from committed state', async () => {
  const url = await freshDb();
  const log = await openLog({ dataDir: tempDir(), storage: url });
  const admin = await connected(url);
  try {
    await Promise.all([0, 1, 2].map((i) => log.append({ body: body('f', i), indexKeys: [] })));
    const cp0 = await log.checkpoint();
    await admin.query('ALTER TABLE signet_log_tiles RENAME TO signet_log_tiles_away');
    const failed = await Promise.allSettled([3, 4].map((i) => log.append({ body: body('f', i), indexKeys: [] })));
    assert.ok(failed.every((r) => r.status === 'rejected' && isSignetError(r.reason, 'TLOG')));
    await admin.query('ALTER TABLE signet_log_tiles_away RENAME TO signet_log_tiles');
    assert.equal((await log.checkpoint()).note, cp0.note);
    assert.equal(await log.entryByIndex(3), null);
    const retry = await Promise.all([3, 4].map((i) => log.append({ body: body('f', i), indexKeys: [] })));
    assert.deepEqual(retry.map((r) => r.entry.index).sort(), [3, 4]);
    const cp1 = await log.checkpoint();
    await checkConsistent(log, cp0, cp1);
    await checkTilesMatch(log, cp1);
  } finally {
    await admin.end();
    await log.close();
  }
});

test("postgres: a written entry's proof against its batch's checkpoint asks the database nothing about the log's size", async () => {
  const url = await freshDb();
  const key = newLogKey();
  const storage = await PostgresStorage.open(url, key);
  // The storage, counting its checkpoint reads (a query of the state row each).
  let reads = 0;
  const counted = new Proxy(storage, {
    get(target, prop) {
      if (prop === 'checkpoint') {
        return () => {
          reads++;
          return target.checkpoint();
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const log = new Log(counted, new CheckpointSigner(storage.origin, key));
  const other = await openLog({ dataDir: tempDir(), storage: url, signingKey: key });
  try {
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => log.append({ body: body('p', i), indexKeys: [] })));
    reads = 0;
    for (const r of results) {
      assert.equal(r.status, 'created');
      if (r.status !== 'created') continue;
      const proof = await log.inclusionProof(r.entry.index, r.checkpoint.size);
      verifyInclusion(r.entry.leafHash, r.entry.index, r.checkpoint.size, proof, r.checkpoint.rootHash);
      await log.consistencyProof(1, r.checkpoint.size);
    }
    assert.equal(reads, 0, 'proofs within sizes this process committed read no checkpoint');
    // A size only another server has reached is checked against the database, and one beyond the log refused.
    const later = await other.append({ body: body('other', 0), indexKeys: [] });
    assert.equal(later.status, 'created');
    if (later.status !== 'created') return;
    const proof = await log.inclusionProof(64, later.checkpoint.size);
    verifyInclusion(later.entry.leafHash, 64, later.checkpoint.size, proof, later.checkpoint.rootHash);
    assert.equal(reads, 1);
    await assert.rejects(log.inclusionProof(0, later.checkpoint.size + 1), (e) => isSignetError(e, 'USAGE') && /greater than the current size of the log \(65\)/.test(e.message));
    await assert.rejects(log.consistencyProof(1, later.checkpoint.size + 1), (e) => isSignetError(e, 'USAGE'));
  } finally {
    await log.close();
    await other.close();
  }
});

test('postgres: two log instances appending at once share one tree without loss or duplicates', async () => {
  const url = await freshDb();
  const dir = tempDir();
  const a = await openLog({ dataDir: dir, storage: url });
  const b = await openLog({ dataDir: dir, storage: url });
  try {
    const same = Buffer.from('submitted to both');
    const [ra, rb] = await Promise.all([
      Promise.all([...Array.from({ length: 400 }, (_, i) => a.append({ body: body('a', i), indexKeys: ['a'] })), a.append({ body: same, indexKeys: [] })]),
      Promise.all([...Array.from({ length: 400 }, (_, i) => b.append({ body: body('b', i), indexKeys: ['b'] })), b.append({ body: same, indexKeys: [] })]),
    ]);
    const all = [...ra, ...rb];
    assert.equal(all.filter((r) => r.status === 'duplicate').length, 1);
    assert.equal(new Set(all.map((r) => r.entry.index)).size, 801);
    const cp = await a.checkpoint();
    assert.equal(cp.size, 801);
    assert.equal((await b.checkpoint()).note, cp.note);
    assert.equal((await a.search('a')).length, 400);
    assert.equal((await b.search('b')).length, 400);
    await checkTilesMatch(b, cp);
    for (const r of all) if (r.status === 'created') await checkConsistent(a, r.checkpoint, cp);
  } finally {
    await a.close();
    await b.close();
  }
});

test('postgres: two servers writing one entry at once: the one whose write waited answers it as a duplicate, not an error', async () => {
  const url = await freshDb();
  const key = newLogKey();
  const a = await PostgresStorage.open(url, key);
  const b = await PostgresStorage.open(url, key);
  const admin = await connected(url);
  try {
    await a.commitBatch([leaf('first')]);
    // Both servers' writes wait for the state row, which the test holds; the second to get it finds the log moved on.
    await admin.query('BEGIN; SELECT size FROM signet_log_state WHERE id = 1 FOR UPDATE');
    const sent = await statementsSent(async () => {
      const [pa, pb] = [a.commitBatch([leaf('both'), leaf('a only')]), b.commitBatch([leaf('both'), leaf('b only')])];
      for (let i = 0; ; i++) {
        const waiting = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()");
        if (waiting.rows[0].n === 2) break;
        assert.ok(i < 200, 'both writes reach the lock');
        await new Promise((r) => setTimeout(r, 25));
      }
      await admin.query('COMMIT');
      return Promise.all([pa, pb]);
    });
    // b read the state before its first write (it had written nothing yet). The loser's lost write answered with
    // the winner's commit, so under the lock it needed no read: it looked its entries up, found 'both', and wrote
    // the rest.
    assert.deepEqual(sent.kinds.filter((k) => k !== 'write'), ['read', 'lock', 'dups']);
    assert.equal(sent.kinds.filter((k) => k === 'write').length, 3);
    assert.deepEqual([a.sharedWrites(), b.sharedWrites()].map((m) => [m.lost, m.locked]).sort(), [[0, 0], [1, 1]]);
    const [ra, rb] = sent.result.map((o) =>
      o.results.map((r) => {
        assert.ok('entry' in r, 'no item failed');
        return r;
      }),
    );
    const both = [ra![0]!, rb![0]!];
    assert.deepEqual(both.map((r) => r.duplicate).sort(), [false, true], 'one server wrote it, the other found it');
    assert.equal(both[0]!.entry.index, both[1]!.entry.index);
    assert.equal(ra![1]!.duplicate, false);
    assert.equal(rb![1]!.duplicate, false);
    const indexes = [both[0]!.entry.index, ra![1]!.entry.index, rb![1]!.entry.index].sort();
    assert.deepEqual(indexes, [1, 2, 3]);
    const log = new Log(a, new CheckpointSigner(a.origin, key));
    const cp = await log.checkpoint();
    assert.equal(cp.size, 4);
    await checkTilesMatch(log, cp);
  } finally {
    await admin.end();
    await a.close();
    await b.close();
  }
});

test('postgres: a batch whose write loses the race is written under the state row\'s lock, and a lost write leaves nothing', async () => {
  const url = await freshDb();
  const key = newLogKey();
  const storage = await PostgresStorage.open(url, key);
  const admin = await connected(url);
  try {
    const indexed = (body: string) => leaf(body, ['k']);
    await storage.commitBatch([indexed('first')]);
    // A trigger that makes the state row's next update lose (a BEFORE trigger returning NULL skips the row, as
    // if another server had moved the log).
    await admin.query(`
      CREATE TABLE lost (n serial);
      CREATE FUNCTION lose() RETURNS trigger AS $$
      BEGIN
        INSERT INTO lost DEFAULT VALUES;
        IF (SELECT count(*) FROM lost) <= 1 THEN RETURN NULL; END IF;
        RETURN NEW;
      END $$ LANGUAGE plpgsql;
      CREATE TRIGGER lose BEFORE UPDATE ON signet_log_state FOR EACH ROW EXECUTE FUNCTION lose()`);
    // The lost write answers with the state it expected (nothing moved it, the trigger stopped it), so the batch
    // reads the state under the lock, looks its entries up and writes.
    const sent = await statementsSent(() => storage.commitBatch([indexed('second'), indexed('third')]));
    const out = sent.result;
    assert.deepEqual(sent.kinds, ['write', 'lock', 'read', 'dups', 'write'], 'a write on its own, then one under the lock');
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM lost')).rows[0].n, 2);
    assert.deepEqual(storage.sharedWrites(), { lost: 1, locked: 1 });
    assert.deepEqual(
      out.results.map((r) => ('entry' in r ? [r.entry.index, r.duplicate] : r)),
      [
        [1, false],
        [2, false],
      ],
    );
    assert.equal(out.checkpoint.size, 3);
    await admin.query('DROP TRIGGER lose ON signet_log_state');
    // The lost writes added no entry (the retry would have collided with it).
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM signet_log_entries')).rows[0].n, 3);
    assert.deepEqual((await admin.query("SELECT idx::int FROM signet_log_search WHERE key = 'k' ORDER BY idx")).rows.map((r) => r.idx), [0, 1, 2]);
    const log = new Log(storage, new CheckpointSigner(storage.origin, key));
    assert.equal((await log.checkpoint()).note, out.checkpoint.note);
    await checkTilesMatch(log, out.checkpoint);
    // Under the lock the batch found that no other server had written since its last: the next one is optimistic.
    const next = await statementsSent(() => storage.commitBatch([indexed('fourth')]));
    assert.deepEqual(next.kinds, ['write']);
    assert.deepEqual(storage.sharedWrites(), { lost: 1, locked: 1 });
    assert.equal(next.result.checkpoint.size, 4);
    await checkConsistent(log, out.checkpoint, next.result.checkpoint);
    await checkTilesMatch(log, next.result.checkpoint);
  } finally {
    await admin.end();
    await storage.close();
  }
});

test("postgres: a server's /metrics counts its writes lost to other servers and those written under the lock", async () => {
  const url = await freshDb();
  const dir = tempDir();
  const srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false, storage: url });
  const other = await openLog({ dataDir: dir, storage: url });
  try {
    const counter = async (name: string): Promise<number> => {
      const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(srv.url + '/metrics')).text());
      assert.ok(m, `${name} is reported`);
      return Number(m[1]);
    };
    assert.equal(await counter('signet_log_writes_lost_total'), 0);
    assert.equal(await counter('signet_log_writes_locked_total'), 0);
    // The server's log writes once, another server moves the log on (across a tile boundary, so the state the
    // lost write answers with has other partial tiles), and the server's next write finds it moved.
    const first = await srv.log.append({ body: body('m', 0), indexKeys: [] });
    await Promise.all(Array.from({ length: 300 }, (_, i) => other.append({ body: body('o', i), indexKeys: [] })));
    // The lost write's answer holds the state the other server left, so under the lock the batch needs no read.
    const sent = await statementsSent(() => srv.log.append({ body: body('m', 1), indexKeys: [] }));
    assert.deepEqual(sent.kinds, ['write', 'lock', 'dups', 'write']);
    const second = sent.result;
    assert.equal(await counter('signet_log_writes_lost_total'), 1);
    assert.equal(await counter('signet_log_writes_locked_total'), 1);
    assert.ok(first.status === 'created' && second.status === 'created');
    assert.equal(second.entry.index, 301);
    assert.equal(second.checkpoint.size, 302);
    // The next batch locks first too (another server wrote before the last); it finds nobody wrote since, so
    // the one after it is optimistic again.
    const locked = await statementsSent(() => srv.log.append({ body: body('m', 2), indexKeys: [] }));
    assert.deepEqual(locked.kinds, ['lock', 'dups', 'write']);
    const optimistic = await statementsSent(() => srv.log.append({ body: body('m', 3), indexKeys: [] }));
    assert.deepEqual(optimistic.kinds, ['write']);
    assert.equal(await counter('signet_log_writes_lost_total'), 1);
    assert.equal(await counter('signet_log_writes_locked_total'), 2);
    const last = optimistic.result;
    assert.ok(last.status === 'created');
    assert.equal(last.checkpoint.size, 304);
    await checkConsistent(srv.log, first.checkpoint, last.checkpoint);
    await checkTilesMatch(srv.log, last.checkpoint);
  } finally {
    await other.close();
    await srv.close();
  }
});

test('postgres: two server processes append at once; one is SIGKILLed; nothing acknowledged is lost', async () => {
  const url = await freshDb();
  const dir = tempDir();
  // Create the schema and the shared log key before the two children race to start.
  const init = await openLog({ dataDir: dir, storage: url });
  await init.close();
  const [a, b] = await Promise.all([runUntilKilled(dir, url, 'A', 800), runUntilKilled(dir, url, 'B', 1600)]);
  assert.ok(a.acks.length >= 800 && b.acks.length >= 1600);
  const log = await openLog({ dataDir: dir, storage: url });
  try {
    const now = await verifyAfterCrash(log, [...a.acks, ...b.acks]);
    const ia = await log.search('a');
    const ib = await log.search('b');
    const fromA = new Set(await log.search('A'));
    const fromB = new Set(await log.search('B'));
    assert.equal(ia.length + ib.length, 0);
    assert.equal(fromA.size + fromB.size, now.size, 'every entry belongs to exactly one writer');
    for (const i of fromA) assert.ok(!fromB.has(i));
    for (const ack of a.acks) assert.ok(fromA.has(ack.i));
    for (const ack of b.acks) assert.ok(fromB.has(ack.i));
  } finally {
    await log.close();
  }
});
