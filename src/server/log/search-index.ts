/**
 * The embedded log's search index (leaf hash → index, search key → indexes) in its own database file,
 * index.sqlite, attached to log.sqlite's connection as `ix`.
 *
 * The index has a file of its own because its random-key B-tree inserts were most of what each commit
 * wrote (~10 of 16 KiB per entry) and so most of what each commit's flush waited for. A batch's commit
 * records its index rows only as one packed, sequential `index_journal` row in log.sqlite (flushed with
 * it, see `journal`); they are written into index.sqlite after the batch is answered (within 250 ms, the
 * batches of that time in one transaction) and served from memory until then, so lookups, searches and
 * the duplicate check see them at once. index.sqlite's WAL is flushed in the background (at most once a
 * second), after which the next commit deletes the journal rows it covers. On start (`recover`), an
 * index behind the log (a crash before rows were applied, or a power cut that lost unflushed index
 * writes) is replayed from the journal, one ahead of it (the log lost its last, unacknowledged batch) is
 * trimmed, and one kept in log.sqlite (the older layout) is moved here.
 */
import type { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { SignetError } from '../../errors.js';
import { openWal, transaction } from './io.js';

/** An entry's index rows: its leaf hash and search keys. */
export type IndexEntry = { leafHash: Buffer; indexKeys: string[] };
/** A committed batch's index rows: entry `start + j` is `entries[j]`. */
export type IndexBatch = { start: number; entries: IndexEntry[] };

/**
 * One batch's index rows as an `index_journal` row: per entry its 32-byte leaf hash, a u16 count of
 * search keys, and each key as a u16 byte length and UTF-8.
 */
export function encodeIndexRows(rows: { leafHash: Uint8Array; indexKeys: string[] }[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of rows) {
    if (r.leafHash.length !== 32) throw new SignetError('INTERNAL', 'a leaf hash is 32 bytes');
    const head = Buffer.alloc(34);
    head.set(r.leafHash, 0);
    head.writeUInt16BE(r.indexKeys.length, 32);
    parts.push(head);
    for (const k of r.indexKeys) {
      const b = Buffer.from(k, 'utf8');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(b.length, 0);
      parts.push(len, b);
    }
  }
  return Buffer.concat(parts);
}

export function decodeIndexRows(data: Uint8Array): IndexEntry[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out: IndexEntry[] = [];
  let pos = 0;
  const need = (n: number): void => {
    if (pos + n > buf.length) throw new SignetError('TLOG', 'a row of the log\'s index journal is truncated');
  };
  while (pos < buf.length) {
    need(34);
    const leafHash = Buffer.from(buf.subarray(pos, pos + 32));
    let count = buf.readUInt16BE(pos + 32);
    pos += 34;
    const indexKeys: string[] = [];
    while (count-- > 0) {
      need(2);
      const len = buf.readUInt16BE(pos);
      need(2 + len);
      indexKeys.push(buf.toString('utf8', pos + 2, pos + 2 + len));
      pos += 2 + len;
    }
    out.push({ leafHash, indexKeys });
  }
  return out;
}

/** The search index's own database file, attached to log.sqlite as `ix` (see the header). */
export const INDEX_DB = 'index.sqlite';
/** Its tables: the journal in log.sqlite (`main`), the index in index.sqlite (`ix`). */
export const INDEX_SCHEMA = `
CREATE TABLE IF NOT EXISTS index_journal (start INTEGER PRIMARY KEY, rows BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ix.leaves (leaf_hash BLOB PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ix.search (key TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (key, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ix.indexed (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL);
`;
/**
 * Index rows of committed batches are written into index.sqlite this long after, or at once past this
 * many. Each apply's cost is mostly the index pages it dirties, written whole into the WAL at COMMIT, so
 * rows gathered over a longer time share pages. On 2 cores, fresh log: 50 → 1000 ms gave +11% writes/s
 * (5 of 5 alternating runs), 250 ms as much as 1000, with shorter stalls of the loop per apply. In a
 * large index (1M entries) rows rarely share a page, and the gain is small.
 */
const INDEX_APPLY_MS = 250;
const INDEX_APPLY_ENTRIES = 8192;
/** How often, at most, index.sqlite's WAL is flushed in the background (OpenLogOptions.indexSyncMs). */
export const INDEX_SYNC_MS = 1000;

/** Rows per multi-row INSERT: well under SQLite's default limit of 32766 bound parameters. */
const ROWS_PER_INSERT = 128;

export class SearchIndex {
  readonly #db: DatabaseSync;
  readonly #dir: string;
  readonly #syncMs: number;
  readonly #stmt: {
    leaf: StatementSync;
    search: StatementSync;
    journal: StatementSync;
    dropJournalBelow: StatementSync;
    indexed: StatementSync;
  };
  /** Open descriptor on index.sqlite-wal, flushed in the background. */
  #wal: fs.FileHandle | null = null;
  /** The log size up to which index.sqlite holds the index rows. */
  #applied = 0;
  /** The log size up to which the index is durable: `index_journal` rows below it are dropped. */
  #durable = 0;
  /**
   * Committed batches whose index rows are not yet in index.sqlite (they are in `index_journal`), and
   * those rows in memory for lookups: leaf hash (latin1) → index, search key → indexes.
   */
  #pending: IndexBatch[] = [];
  readonly #pendingLeaves = new Map<string, number>();
  readonly #pendingSearch = new Map<string, number[]>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** `index_journal` rows below this start are already deleted. */
  #journalFloor = 0;
  #sync: Promise<void> | null = null;
  #lastSync = performance.now();
  /** Multi-row statements by purpose and row count (known, #insertRows). */
  readonly #multi = new Map<string, StatementSync>();
  #closed = false;
  /** Pending rows include those of a bulk append: inserted ignoring leaf hashes already indexed. */
  #bulk = false;

  /** `db` has index.sqlite attached as `ix` and INDEX_SCHEMA created; `dir` holds both files. */
  constructor(db: DatabaseSync, dir: string, syncMs = INDEX_SYNC_MS) {
    this.#db = db;
    this.#dir = dir;
    this.#syncMs = syncMs;
    this.#stmt = {
      leaf: db.prepare('SELECT idx FROM ix.leaves WHERE leaf_hash = ?'),
      search: db.prepare('SELECT idx FROM ix.search WHERE key = ? ORDER BY idx'),
      journal: db.prepare('INSERT INTO index_journal (start, rows) VALUES (?, ?)'),
      dropJournalBelow: db.prepare('DELETE FROM index_journal WHERE start < ?'),
      indexed: db.prepare('UPDATE ix.indexed SET size = ? WHERE id = 1'),
    };
  }

  /** The log size up to which the index is durable in index.sqlite. */
  get durable(): number {
    return this.#durable;
  }

  /** The index of a leaf hash, from the rows in memory or index.sqlite. */
  lookup(leafHash: Buffer): number | undefined {
    const pending = this.#pendingLeaves.get(leafHash.toString('latin1'));
    if (pending !== undefined) return pending;
    return (this.#stmt.leaf.get(leafHash) as { idx: number } | undefined)?.idx;
  }

  /** Indexes for one search key, ascending. */
  search(key: string): number[] {
    // Pending rows are of the newest batches, so they follow every applied one in index order.
    const applied = (this.#stmt.search.all(key) as { idx: number }[]).map((r) => r.idx);
    const pending = this.#pendingSearch.get(key);
    return pending ? [...applied, ...pending] : applied;
  }

  /**
   * Inside a commit's transaction: the batch's index rows as one journal row, and the journal rows
   * below `durable` (the value of `durable` when the batch began) deleted.
   */
  journal(start: number, rows: IndexEntry[], durable: number): void {
    this.#stmt.journal.run(start, encodeIndexRows(rows));
    if (durable > this.#journalFloor) this.#stmt.dropJournalBelow.run(durable);
  }

  /** After that transaction committed: its rows are due (served from memory until applied). */
  committed(batch: IndexBatch, durable: number, bulk = false): void {
    this.#journalFloor = Math.max(this.#journalFloor, durable);
    if (bulk) this.#bulk = true;
    this.#queue(batch);
  }

  /** Applies the pending rows now (bulk appends, whose leaf hashes may repeat: the first index is kept). */
  applyNow(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#apply();
    if (this.#pending.length > 0) throw new SignetError('IO', `cannot write the search index ${join(this.#dir, INDEX_DB)}`);
  }

  /**
   * Start-up for the search index (index.sqlite): brings it level with the log from `index_journal`
   * (after a power cut lost index writes that were never flushed), trims it back (when it outran the
   * log's last, unacknowledged batch), or moves it out of log.sqlite (logs written before it had a file
   * of its own). Then makes it durable and drops the journal.
   */
  async recover(size: number): Promise<void> {
    const db = this.#db;
    const ixPath = join(this.#dir, INDEX_DB);
    const legacy = (db.prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name IN ('leaves', 'search')").all() as { name: string }[]).map(
      (r) => r.name,
    );
    let indexed = (db.prepare('SELECT size FROM ix.indexed WHERE id = 1').get() as { size: number } | undefined)?.size;
    if (legacy.length > 0) {
      transaction(this.#db, () => {
        if (legacy.includes('leaves')) db.exec('INSERT OR IGNORE INTO ix.leaves (leaf_hash, idx) SELECT leaf_hash, idx FROM main.leaves');
        if (legacy.includes('search')) db.exec('INSERT OR IGNORE INTO ix.search (key, idx) SELECT key, idx FROM main.search');
        db.prepare('INSERT OR REPLACE INTO ix.indexed (id, size) VALUES (1, ?)').run(size);
      });
      indexed = size;
    } else if (indexed === undefined) {
      const first = (db.prepare('SELECT min(start) AS start FROM index_journal').get() as { start: number | null }).start;
      if (size > 0 && first !== 0) {
        throw new SignetError('TLOG', `the log in ${this.#dir} has ${size} entries but its search index ${ixPath} is missing; restore it from a backup`);
      }
      transaction(this.#db, () => db.prepare('INSERT INTO ix.indexed (id, size) VALUES (1, 0)').run());
      indexed = 0;
    }
    if (indexed > size) {
      transaction(this.#db, () => {
        db.prepare('DELETE FROM ix.leaves WHERE idx >= ?').run(size);
        db.prepare('DELETE FROM ix.search WHERE idx >= ?').run(size);
      });
    } else if (indexed < size) {
      const rows = db.prepare('SELECT start, rows FROM index_journal WHERE start >= ? AND start < ? ORDER BY start').all(indexed, size) as { start: number; rows: Uint8Array }[];
      const incomplete = (): never => {
        throw new SignetError('TLOG', `the search index ${ixPath} covers ${indexed} of the log's ${size} entries and the journal to rebuild it is incomplete; restore it from a backup`);
      };
      const batches = rows.map((r) => ({ start: r.start, entries: decodeIndexRows(r.rows) }));
      // The journal's batches must run without a gap from the index's size to the log's.
      let next = indexed;
      for (const b of batches) {
        if (b.start !== next) incomplete();
        next += b.entries.length;
      }
      if (next !== size) incomplete();
      transaction(this.#db, () => this.#indexRows(batches, true));
    }
    // Also creates index.sqlite-wal where no write above did.
    transaction(this.#db, () => this.#stmt.indexed.run(size));
    this.#wal = await openWal(ixPath, this.#dir);
    this.#applied = size;
    this.#durable = size;
    transaction(this.#db, () => {
      this.#stmt.dropJournalBelow.run(size);
      // Only now that the index is durable in its own file does the older layout's copy go.
      for (const t of legacy) db.exec(`DROP TABLE main.${t}`);
    });
    this.#journalFloor = size;
  }

  /**
   * Flushes index.sqlite's WAL in the background, at most once per `indexSyncMs`: until then the index rows of
   * recent batches are also in `index_journal` (flushed with every commit), which the next commit
   * trims up to what this flush made durable.
   */
  maybeSync(force = false): Promise<void> {
    if (this.#sync) return this.#sync;
    const upTo = this.#applied;
    if (!this.#wal || this.#durable >= upTo) return Promise.resolve();
    if (!force && performance.now() - this.#lastSync < this.#syncMs) return Promise.resolve();
    this.#lastSync = performance.now();
    this.#sync = this.#wal.datasync().then(
      () => {
        this.#durable = Math.max(this.#durable, upTo);
      },
      () => undefined, // kept in the journal; the next flush tries again
    );
    this.#sync = this.#sync.finally(() => (this.#sync = null));
    return this.#sync;
  }

  /** Inserts the index rows of journaled batches (`replay`: over an index that may hold some already). */
  #indexRows(batches: IndexBatch[], replay: boolean): void {
    const leafRows: (Buffer | number)[] = [];
    const searchRows: (string | number)[] = [];
    for (const b of batches) {
      b.entries.forEach((e, j) => {
        leafRows.push(e.leafHash, b.start + j);
        for (const key of e.indexKeys) searchRows.push(key, b.start + j);
      });
    }
    this.#insertRows('leaves', leafRows, replay);
    this.#insertRows('search', searchRows, replay);
  }

  /** Adds a committed batch's index rows to the pending ones (and to the in-memory lookups). */
  #queue(batch: IndexBatch): void {
    this.#pending.push(batch);
    batch.entries.forEach((e, j) => {
      const lk = e.leafHash.toString("latin1");
      if (!this.#pendingLeaves.has(lk)) this.#pendingLeaves.set(lk, batch.start + j);
      for (const key of e.indexKeys) {
        const l = this.#pendingSearch.get(key);
        if (l) l.push(batch.start + j);
        else this.#pendingSearch.set(key, [batch.start + j]);
      }
    });
    this.#schedule();
  }

  /** Applies the pending batches soon: at once past INDEX_APPLY_ENTRIES, else after INDEX_APPLY_MS. */
  #schedule(delay = this.#pending.reduce((n, b) => n + b.entries.length, 0) >= INDEX_APPLY_ENTRIES ? 0 : INDEX_APPLY_MS): void {
    if (this.#timer && delay > 0) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#closed) this.#apply();
    }, delay);
    // Nothing is lost if the process ends first: the rows are journaled.
    this.#timer.unref();
  }

  /**
   * Writes the pending batches' rows into index.sqlite, in one transaction, after their writes were
   * answered. On failure they stay pending (and journaled) and the next schedule retries.
   */
  #apply(): void {
    if (this.#pending.length === 0) return;
    const batches = this.#pending;
    const last = batches[batches.length - 1]!;
    const upTo = last.start + last.entries.length;
    try {
      transaction(this.#db, () => {
        this.#indexRows(batches, this.#bulk);
        this.#stmt.indexed.run(upTo);
      });
    } catch {
      this.#schedule(INDEX_APPLY_MS);
      return;
    }
    this.#pending = [];
    this.#bulk = false;
    this.#pendingLeaves.clear();
    this.#pendingSearch.clear();
    this.#applied = upTo;
  }

  /** Indexes of the leaf hashes already in the log (keyed by the hash as a latin1 string), many per query. */
  known(hashes: Buffer[]): Map<string, number> {
    const out = new Map<string, number>();
    if (this.#pendingLeaves.size > 0) {
      for (const h of hashes) {
        const k = h.toString('latin1');
        const idx = this.#pendingLeaves.get(k);
        if (idx !== undefined) out.set(k, idx);
      }
    }
    for (let at = 0; at < hashes.length; at += ROWS_PER_INSERT) {
      const part = hashes.slice(at, at + ROWS_PER_INSERT);
      const key = `known/${part.length}`;
      let stmt = this.#multi.get(key);
      if (!stmt) {
        this.#multi.set(key, (stmt = this.#db.prepare(`SELECT leaf_hash, idx FROM ix.leaves WHERE leaf_hash IN (${Array(part.length).fill('?').join(', ')})`)));
      }
      for (const row of stmt.all(...part) as { leaf_hash: Uint8Array; idx: number }[]) {
        out.set(Buffer.from(row.leaf_hash).toString('latin1'), row.idx);
      }
    }
    return out;
  }

  /**
   * Inserts (a, b) pairs, many rows per statement: node:sqlite's cost is mostly per statement run, and a
   * write batch inserts two or three rows per entry.
   */
  #insertRows(table: 'leaves' | 'search', flat: (Buffer | string | number)[], replay = false): void {
    for (let at = 0; at < flat.length; at += 2 * ROWS_PER_INSERT) {
      const part = flat.slice(at, at + 2 * ROWS_PER_INSERT);
      const rows = part.length / 2;
      const key = `${table}/${rows}/${replay}`;
      let stmt = this.#multi.get(key);
      if (!stmt) {
        // A new leaf hash is unique (the sequencer merges duplicates): a conflict fails the batch, except
        // when journal rows are replayed over an index that may already hold some of them.
        const sql =
          table === 'leaves'
            ? `INSERT${replay ? ' OR IGNORE' : ''} INTO ix.leaves (leaf_hash, idx) VALUES ${Array(rows).fill('(?, ?)').join(', ')}`
            : `INSERT OR IGNORE INTO ix.search (key, idx) VALUES ${Array(rows).fill('(?, ?)').join(', ')}`;
        this.#multi.set(key, (stmt = this.#db.prepare(sql)));
      }
      stmt.run(...part);
    }
  }

  /** Ends background applies: the log is closing. */
  stop(): void {
    this.#closed = true;
  }

  /** Applies and flushes what is pending and drops the journal it covers; best effort, the rest is replayed on start. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#apply(); // best effort: what fails stays in the journal for the next start
    await this.#sync;
    await this.maybeSync(true);
    try {
      if (this.#durable > this.#journalFloor) transaction(this.#db, () => this.#stmt.dropJournalBelow.run(this.#durable));
    } catch {
      // left for the next start
    }
    await this.closeWal();
  }

  async closeWal(): Promise<void> {
    await this.#wal?.close().catch(() => undefined);
  }
}
