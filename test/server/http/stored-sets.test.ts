/**
 * A v1 entry's SET is signed once, by its write, and kept in log.sqlite (set-store.ts): reads after a
 * restart serve that SET instead of signing another (ECDSA signatures differ each time, so an equal SET
 * shows it was not signed again). A stored SET changed on disk or moved to another entry is never served.
 */
import assert from 'node:assert/strict';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { importLog } from '../../../src/server/log/import.js';
import { openLog } from '../../../src/server/log/index.js';
import { startServer } from '../../../src/server/serve.js';
import { verifySET } from '../../../src/tlog/index.js';
import { ecKey, hashedRekordV1 } from '../../rekor/fixtures.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

type V1 = { body: string; integratedTime: number; logID: string; logIndex: number; verification: { signedEntryTimestamp: string } };

async function entryAt(base: string, index: number, logKey: KeyObject): Promise<V1> {
  const r = await fetch(`${base}/api/v1/log/entries?logIndex=${index}`);
  assert.equal(r.status, 200);
  const e = Object.values((await r.json()) as Record<string, V1>)[0]!;
  // Whatever is served verifies with the log key.
  verifySET({ body: e.body, integratedTime: e.integratedTime, logID: e.logID, logIndex: e.logIndex }, Buffer.from(e.verification.signedEntryTimestamp, 'base64'), logKey);
  return e;
}

async function withDb(dir: string, fn: (db: import('node:sqlite').DatabaseSync) => void): Promise<void> {
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(dir, 'log.sqlite'));
  try {
    fn(db);
  } finally {
    db.close();
  }
}

test('stored SETs: reads after a restart serve the SET the write signed; a changed or moved one is not served', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-sets-'));
  dirs.push(dir);
  const key = ecKey();
  const written: string[] = [];
  let srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false });
  let logKey: KeyObject;
  try {
    logKey = createPublicKey(await (await fetch(`${srv.url}/api/v1/log/publicKey`)).text());
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`${srv.url}/api/v1/log/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hashedRekordV1(key)) });
      assert.equal(r.status, 201);
      written.push(Object.values((await r.json()) as Record<string, V1>)[0]!.verification.signedEntryTimestamp);
    }
  } finally {
    await srv.close();
  }
  await withDb(dir, (db) => assert.equal((db.prepare('SELECT count(*) AS n FROM entry_sets').get() as { n: number }).n, 4));

  srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false });
  try {
    for (let i = 0; i < 4; i++) assert.equal((await entryAt(srv.url, i, logKey)).verification.signedEntryTimestamp, written[i], `entry ${i}`);
  } finally {
    await srv.close();
  }

  // Entry 0's row gets a flipped signature byte, entry 1's row is entry 2's: neither is served.
  await withDb(dir, (db) => {
    const row = (i: number): Uint8Array => (db.prepare('SELECT data FROM entry_sets WHERE idx = ?').get(i) as { data: Uint8Array }).data;
    const bad = Buffer.from(row(0));
    bad[bad.length - 1]! ^= 1;
    db.prepare('UPDATE entry_sets SET data = ? WHERE idx = ?').run(bad, 0);
    db.prepare('UPDATE entry_sets SET data = ? WHERE idx = ?').run(row(2), 1);
  });
  srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false });
  try {
    const e = await Promise.all([0, 1, 2].map((i) => entryAt(srv.url, i, logKey)));
    assert.notEqual(e[0]!.verification.signedEntryTimestamp, written[0]);
    assert.notEqual(e[1]!.verification.signedEntryTimestamp, written[1]);
    assert.notEqual(e[1]!.verification.signedEntryTimestamp, written[2]);
    assert.equal(e[2]!.verification.signedEntryTimestamp, written[2]);
    // Signed once by this server, then served from its cache.
    assert.equal((await entryAt(srv.url, 0, logKey)).verification.signedEntryTimestamp, e[0]!.verification.signedEntryTimestamp);
  } finally {
    await srv.close();
  }
});

test('stored SETs: a log without the table (an older log) opens, its reads sign, and its new writes keep their SETs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-sets-'));
  dirs.push(dir);
  const key = ecKey();
  let srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false });
  let logKey: KeyObject;
  try {
    logKey = createPublicKey(await (await fetch(`${srv.url}/api/v1/log/publicKey`)).text());
    const r = await fetch(`${srv.url}/api/v1/log/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hashedRekordV1(key)) });
    assert.equal(r.status, 201);
  } finally {
    await srv.close();
  }
  await withDb(dir, (db) => db.exec('DROP TABLE entry_sets'));
  let written: string;
  srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false });
  try {
    await entryAt(srv.url, 0, logKey);
    const r = await fetch(`${srv.url}/api/v1/log/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hashedRekordV1(key)) });
    assert.equal(r.status, 201);
    written = Object.values((await r.json()) as Record<string, V1>)[0]!.verification.signedEntryTimestamp;
  } finally {
    await srv.close();
  }
  srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false });
  try {
    await entryAt(srv.url, 0, logKey);
    assert.equal((await entryAt(srv.url, 1, logKey)).verification.signedEntryTimestamp, written);
  } finally {
    await srv.close();
  }
});

test('stored SETs: kept rows are written by the next commit, or within a second on an idle log; none for entries beyond the log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-sets-'));
  dirs.push(dir);
  const log = await openLog({ dataDir: dir });
  try {
    const e = (await Promise.all([0, 1, 2].map((i) => log.append({ body: Buffer.from(`e${i}`), indexKeys: [] })))).map((r) => r.entry).sort((a, b) => a.index - b.index);
    log.keepSet(e[0]!, Buffer.from('zero'));
    const beyond = { ...e[2]!, index: 7 };
    log.keepSet(beyond, Buffer.from('beyond the log'));
    assert.equal(log.storedSet(e[0]!), undefined, 'not written yet');
    await log.append({ body: Buffer.from('e3'), indexKeys: [] });
    assert.equal(Buffer.from(log.storedSet(e[0]!)!).toString(), 'zero');
    // Bound to its entry: not another's, nor the same index with another time or leaf.
    assert.equal(log.storedSet({ ...e[0]!, integratedTime: e[0]!.integratedTime + 1 }), undefined);
    assert.equal(log.storedSet({ ...e[1]!, index: 0 }), undefined);
    log.keepSet(e[1]!, Buffer.from('one'));
    const t0 = Date.now();
    while (log.storedSet(e[1]!) === undefined && Date.now() - t0 < 10_000) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(Buffer.from(log.storedSet(e[1]!)!).toString(), 'one');
    assert.equal(log.storedSet(beyond), undefined);
  } finally {
    await log.close();
  }
});

test('stored SETs: an import with sets signs and stores every entry\'s SET, served by reads after it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-sets-'));
  dirs.push(dir);
  const n = 600;
  const report = await importLog({
    dataDir: dir,
    chunk: 256,
    sets: true,
    source: {
      name: 'test entries',
      async *read(from: number) {
        yield Array.from({ length: n - from }, (_, j) => ({ body: Buffer.from(`{"imported":${from + j}}`), indexKeys: [], integratedTime: 1_700_000_000 + from + j }));
      },
    },
  });
  assert.equal(report.treeSize, n);
  await withDb(dir, (db) => assert.equal((db.prepare('SELECT count(*) AS n FROM entry_sets').get() as { n: number }).n, n));
  const first: string[] = [];
  let srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false });
  let logKey: KeyObject;
  try {
    logKey = createPublicKey(await (await fetch(`${srv.url}/api/v1/log/publicKey`)).text());
    for (const i of [0, 255, 256, 599]) {
      const e = await entryAt(srv.url, i, logKey);
      assert.equal(e.integratedTime, 1_700_000_000 + i);
      first.push(e.verification.signedEntryTimestamp);
    }
  } finally {
    await srv.close();
  }
  srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false });
  try {
    const again = await Promise.all([0, 255, 256, 599].map(async (i) => (await entryAt(srv.url, i, logKey)).verification.signedEntryTimestamp));
    assert.deepEqual(again, first);
  } finally {
    await srv.close();
  }
});
