/** The embedded log's search index on its own (search-index.ts), over a bare SQLite connection. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import { transaction } from '../../../src/server/log/io.js';
import { INDEX_DB, INDEX_SCHEMA, SearchIndex } from '../../../src/server/log/search-index.js';
import { loadSqlite } from '../../../src/server/log/sqlite.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const leaf = (i: number): Buffer => createHash('sha256').update(`leaf ${i}`).digest();

test('search index: a committed batch is found at once, written into index.sqlite later, replayed from the journal after a crash, trimmed to a shorter log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-index-'));
  dirs.push(dir);
  const { DatabaseSync } = await loadSqlite();
  const open = (): DatabaseSync => {
    const db = new DatabaseSync(join(dir, 'log.sqlite'));
    db.prepare('ATTACH DATABASE ? AS ix').run(join(dir, INDEX_DB));
    db.exec('PRAGMA main.journal_mode = WAL; PRAGMA ix.journal_mode = WAL;');
    db.exec(INDEX_SCHEMA);
    return db;
  };
  const stored = (db: DatabaseSync): number => (db.prepare('SELECT count(*) AS n FROM ix.leaves').get() as { n: number }).n;

  let db = open();
  let ix = new SearchIndex(db, dir, 60_000);
  await ix.recover(0);
  const batch = { start: 0, entries: [{ leafHash: leaf(0), indexKeys: ['k'] }, { leafHash: leaf(1), indexKeys: ['k', 'j'] }] };
  transaction(db, () => ix.journal(batch.start, batch.entries, ix.durable));
  ix.committed(batch, 0);
  assert.equal(ix.lookup(leaf(1)), 1);
  assert.deepEqual(ix.search('k'), [0, 1]);
  assert.deepEqual([...ix.known([leaf(0), leaf(7)]).values()], [0]);
  assert.equal(stored(db), 0, 'served from memory before its apply');
  // A crash before the apply: only the journal row remains.
  ix.stop();
  await ix.closeWal();
  db.close();

  db = open();
  ix = new SearchIndex(db, dir);
  await ix.recover(2);
  assert.equal(stored(db), 2);
  assert.equal(ix.lookup(leaf(0)), 0);
  assert.deepEqual(ix.search('j'), [1]);
  await ix.close();
  db.close();

  // The log lost its last batch: the index rows beyond it go.
  db = open();
  ix = new SearchIndex(db, dir);
  await ix.recover(1);
  assert.equal(ix.lookup(leaf(1)), undefined);
  assert.deepEqual(ix.search('k'), [0]);
  await ix.close();
  db.close();
});
