/**
 * Embedded storage: full C2SP tiles and entry bundles as files under <dir>/tiles, everything else in
 * SQLite: <dir>/log.sqlite holds the partial tiles and bundle at the right edge of the tree, the
 * integration time per batch, the index journal and the log state; <dir>/index.sqlite, attached to the
 * same connection as `ix`, holds the search index (leaf hash → index, search key → indexes).
 *
 * The index has a file of its own because its random-key B-tree inserts were most of what each commit
 * wrote (~10 of 16 KiB per entry) and so most of what each commit's flush waited for. A batch's commit
 * records its index rows only as one packed, sequential `index_journal` row in log.sqlite (flushed with
 * it); they are written into index.sqlite after the batch is answered (within 250 ms, the batches of
 * that time in one transaction) and served from memory until then, so lookups, searches and the duplicate
 * check see them at once. index.sqlite's WAL is flushed in the background (at most once a second), after
 * which the next commit deletes the journal rows it covers. On start, an index behind the log (a crash
 * before rows were applied, or a power cut that lost unflushed index writes) is replayed from the
 * journal, and one ahead of it (the log lost its last, unacknowledged batch) is trimmed.
 *
 * Commit per batch, with one flush to disk: a single SQLite transaction records the new state, the new
 * versions of the partial tiles (table `partial`, one row per tile, also kept in memory), the bodies of
 * the new entries of the partial bundle (table `partial_entries`: only new bytes, where rewriting the
 * whole partial bundle made every flush carry ~100 KiB), and the bytes of any tile or bundle the batch
 * completed (table `unsynced`). That transaction is the commit
 * point; it is durable once the WAL file is fsynced, which happens before any waiter is answered. Files
 * of completed tiles are written into place (temp + rename, no flush) just before it; a background sweep
 * later fsyncs them and their directories, after which their `unsynced` rows are deleted. On start (and
 * after a failed batch) remaining rows are written out durably first.
 *
 * Why: each flush, and under load each file created or renamed (ext4 makes those wait for its journal
 * commits), waits for the device. On the bench machine a flush took 1.5-4 ms under load; the first
 * design (every partial version a new file: flush it, its directory, then the WAL) spent five or more
 * per batch, most of a commit's latency. Now a batch touches no file at all until a tile fills up.
 *
 * That fsync is ours, not SQLite's: with synchronous=FULL SQLite fsyncs the WAL inside COMMIT, on the
 * event loop, stalling every request for the length of a disk flush. With synchronous=NORMAL the COMMIT
 * only write()s the WAL frames (they survive a SIGKILL from the page cache), and we fdatasync the WAL
 * through the libuv pool before acknowledging, which gives FULL's guarantee without blocking the loop.
 * The WAL file keeps its inode while the database is open (SQLite rewinds it in place after a
 * checkpoint, and checkpoints sync the main file themselves under NORMAL), so one descriptor serves.
 * Files of a batch that never committed only ever sit at paths beyond the committed tree (later tiles),
 * so the committed tree's files are never damaged; on start they are removed.
 *
 * Files are not trusted: a full tile or bundle read from disk is checked against the tree before it is
 * served or used for a proof or SET (integrity.ts), and on start every full file must exist and the
 * newest ones must match; a mismatch is STORAGE_CORRUPT naming the file. Checked tiles stay in memory.
 *
 * Only the newest version of each partial tile is kept: a tile of width w is the first w hashes of any
 * wider version (bundles likewise), so older widths are served as prefixes. Logs written before
 * partials moved into the database have them as files (<tile>.p/<width>): read once on start, stored
 * as rows, and the files removed.
 */
import { type KeyObject, randomBytes } from 'node:crypto';
import { promises as fs, constants as fsc, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { SignetError } from '../../errors.js';
import {
  EMPTY_ROOT,
  TILE_WIDTH,
  TileAppender,
  type TileId,
  decodeEntryBundle,
  encodeEntryBundle,
  entriesPath,
  hashEquals,
  tilePath,
  tileWidth,
} from '../../tlog/index.js';
import {
  type BatchItem,
  type BatchOutcome,
  CheckpointSigner,
  type LogStorage,
  checkTileArgs,
  defaultOrigin,
  type OriginDefault,
  newTreeId,
} from './common.js';
import { FileWriter } from './file-writer.js';
import { loadSqlite } from './sqlite.js';
import { type Kind, VerifiedBytes, checkBundle, corrupt, entryLeafHash, hashAt, hashTileProblem, resourcePath } from './integrity.js';
import type { SignedCheckpoint, StoredEntry } from './types.js';

interface StateRow {
  tree_id: string;
  origin: string;
  log_id: Uint8Array;
  size: number;
  root: Uint8Array;
  checkpoint: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS log_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  tree_id TEXT NOT NULL,
  origin TEXT NOT NULL,
  log_id BLOB NOT NULL,
  size INTEGER NOT NULL,
  root BLOB NOT NULL,
  checkpoint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (start INTEGER PRIMARY KEY, itime INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS index_journal (start INTEGER PRIMARY KEY, rows BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS unsynced (kind INTEGER NOT NULL, tile INTEGER NOT NULL, width INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (kind, tile, width)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partial (kind INTEGER NOT NULL, tile INTEGER NOT NULL, width INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (kind, tile)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partial_entries (idx INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ix.leaves (leaf_hash BLOB PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ix.search (key TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (key, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ix.indexed (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL);
`;

/** An entry's index rows: its leaf hash and search keys. */
type IndexEntry = { leafHash: Buffer; indexKeys: string[] };
/** A committed batch's index rows: entry `start + j` is `entries[j]`. */
type IndexBatch = { start: number; entries: IndexEntry[] };

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

/** `unsynced.kind` and `partial.kind` of entry bundles; tile levels are themselves. */
const ENTRIES_KIND = -1;

const kindCode = (k: Kind): number => (k === 'entries' ? ENTRIES_KIND : k);
const kindOf = (code: number): Kind => (code === ENTRIES_KIND ? 'entries' : code);

/** A background sweep starts once this many files await their flush, or a second after the last one. */
const SWEEP_FILES = 32;
const SWEEP_MS = 1000;

/** The search index's own database file, attached to log.sqlite as `ix` (see the header). */
const INDEX_DB = 'index.sqlite';
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
const INDEX_SYNC_MS = 1000;

/**
 * Full tiles (and entry bundles) checked against the tree on start: the newest this many of each level.
 * Older files are checked when first read, and every file by `signet log fsck`.
 */
const START_CHECK_FILES = 16;
/** Full tiles kept in memory once checked against the tree (8 KiB each): reads of them skip the disk and the check. */
const VERIFIED_TILES = 2048;

/** Rows per multi-row INSERT: well under SQLite's default limit of 32766 bound parameters. */
const ROWS_PER_INSERT = 128;

function isEnoent(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

function ioFail(what: string, e: unknown): SignetError {
  const err = e as NodeJS.ErrnoException;
  return new SignetError('IO', `${what}: ${err?.code ?? ''} ${err?.message ?? String(e)}`.replace(/\s+/g, ' ').trim(), { cause: e });
}

/** Byte length of the first `n` entries of an entry bundle. */
function bundlePrefixLength(data: Uint8Array, n: number): number {
  let pos = 0;
  for (let i = 0; i < n; i++) {
    if (pos + 2 > data.length) throw new SignetError('TLOG', 'stored entry bundle is truncated');
    pos += 2 + ((data[pos]! << 8) | data[pos + 1]!);
  }
  if (pos > data.length) throw new SignetError('TLOG', 'stored entry bundle is truncated');
  return pos;
}

/** A partial version read from a file of the older layout (before partials moved into the database). */
type LegacyPartial = { kind: Kind; index: number; width: number; data: Uint8Array };

/** Number of tile-level hashes (or entries) at `kind` in a tree of `size`. */
function widthAt(kind: Kind, index: number, size: number): number {
  return tileWidth(kind === 'entries' ? 0 : kind, index, size);
}

export class EmbeddedStorage implements LogStorage {
  readonly treeId: bigint;
  readonly origin: string;
  readonly #dir: string;
  readonly #root: string;
  readonly #tmp: string;
  readonly #db: DatabaseSync;
  readonly #signer: CheckpointSigner;
  readonly #stmt: {
    leaf: StatementSync;
    insBatch: StatementSync;
    itime: StatementSync;
    search: StatementSync;
    journal: StatementSync;
    dropJournalBelow: StatementSync;
    indexed: StatementSync;
    state: StatementSync;
    putUnsynced: StatementSync;
    putPartial: StatementSync;
    dropPartial: StatementSync;
    dropUnsynced: StatementSync;
    allUnsynced: StatementSync;
    allPartials: StatementSync;
    putEntry: StatementSync;
    dropEntriesBelow: StatementSync;
    entriesFrom: StatementSync;
  };
  #size: number;
  #checkpoint: SignedCheckpoint;
  /** Null after a failed batch: rebuilt from the committed files before the next one. */
  #appender: TileAppender | null = null;
  /** Bodies of the committed partial entry bundle (size % 256 of them). */
  #tail: Buffer[] | null = null;
  /** Makes each batch's files durable on a thread of its own (see file-writer.ts). */
  readonly #writer: FileWriter;
  /** Flushes files for the sweep on a thread of its own, so that a sweep never delays a commit's writes. */
  readonly #flusher: FileWriter;
  /** Open descriptor on log.sqlite-wal, fsynced after each COMMIT (see the header). */
  #wal: fs.FileHandle | null = null;
  /** Open descriptor on index.sqlite-wal, fsynced in the background (see the header). */
  #ixWal: fs.FileHandle | null = null;
  /** The log size up to which index.sqlite holds the index rows. */
  #ixApplied = 0;
  /** The log size up to which the index is durable: `index_journal` rows below it are dropped. */
  #ixDurable = 0;
  /**
   * Committed batches whose index rows are not yet in index.sqlite (they are in `index_journal`), and
   * those rows in memory for lookups: leaf hash (latin1) → index, search key → indexes.
   */
  #pending: IndexBatch[] = [];
  readonly #pendingLeaves = new Map<string, number>();
  readonly #pendingSearch = new Map<string, number[]>();
  #indexTimer: ReturnType<typeof setTimeout> | null = null;
  /** `index_journal` rows below this start are already deleted. */
  #journalFloor = 0;
  #ixSync: Promise<void> | null = null;
  #lastIxSync = performance.now();
  #indexSyncMs = INDEX_SYNC_MS;
  /**
   * The files the last committed batch wrote, by path: the proofs that answer that batch's writes need
   * exactly these tiles, so they are served without reading them back.
   */
  #recent = new Map<string, Uint8Array>();
  /** The committed partial versions, by `${kind}/${tile}` (the `partial` table, in memory). */
  #partials = new Map<string, { width: number; data: Uint8Array }>();
  /** The partial entry bundle encoded, for the width it was encoded at (reads of the right edge). */
  #tailBundle: { width: number; data: Uint8Array } | null = null;
  /** Files written without a flush whose `unsynced` rows must stay until a sweep has flushed them. */
  readonly #unsynced = new Map<string, { kind: Kind; index: number; width: number }>();
  /** Rows of files the last sweep flushed: deleted by the next commit. */
  #redundant: { kind: Kind; index: number; width: number }[] = [];
  #sweep: Promise<void> | null = null;
  #lastSweep = performance.now();
  /** Multi-row statements by purpose and row count (#insertRows, #knownLeaves). */
  readonly #multi = new Map<string, StatementSync>();
  /** Full tiles read from disk and found to match the tree (see integrity.ts), by file path. */
  readonly #verified = new VerifiedBytes(VERIFIED_TILES);
  #closed = false;

  private constructor(dir: string, db: DatabaseSync, signer: CheckpointSigner, treeId: bigint, state: StateRow) {
    this.#dir = dir;
    this.#root = join(dir, 'tiles');
    this.#tmp = join(dir, 'tmp');
    this.#writer = new FileWriter(this.#tmp);
    this.#flusher = new FileWriter(this.#tmp);
    this.#db = db;
    this.#signer = signer;
    this.treeId = treeId;
    this.origin = signer.origin;
    this.#size = state.size;
    this.#checkpoint = { origin: signer.origin, size: state.size, rootHash: Buffer.from(state.root), note: state.checkpoint };
    this.#stmt = {
      leaf: db.prepare('SELECT idx FROM ix.leaves WHERE leaf_hash = ?'),
      insBatch: db.prepare('INSERT INTO batches (start, itime) VALUES (?, ?)'),
      itime: db.prepare('SELECT itime FROM batches WHERE start <= ? ORDER BY start DESC LIMIT 1'),
      search: db.prepare('SELECT idx FROM ix.search WHERE key = ? ORDER BY idx'),
      journal: db.prepare('INSERT INTO index_journal (start, rows) VALUES (?, ?)'),
      dropJournalBelow: db.prepare('DELETE FROM index_journal WHERE start < ?'),
      indexed: db.prepare('UPDATE ix.indexed SET size = ? WHERE id = 1'),
      state: db.prepare('UPDATE log_state SET size = ?, root = ?, checkpoint = ? WHERE id = 1'),
      putUnsynced: db.prepare('INSERT OR REPLACE INTO unsynced (kind, tile, width, data) VALUES (?, ?, ?, ?)'),
      putPartial: db.prepare('INSERT OR REPLACE INTO partial (kind, tile, width, data) VALUES (?, ?, ?, ?)'),
      dropPartial: db.prepare('DELETE FROM partial WHERE kind = ? AND tile = ?'),
      dropUnsynced: db.prepare('DELETE FROM unsynced WHERE kind = ? AND tile = ? AND width = ?'),
      allUnsynced: db.prepare('SELECT kind, tile, width, data FROM unsynced'),
      allPartials: db.prepare('SELECT kind, tile, width, data FROM partial'),
      putEntry: db.prepare('INSERT OR REPLACE INTO partial_entries (idx, body) VALUES (?, ?)'),
      dropEntriesBelow: db.prepare('DELETE FROM partial_entries WHERE idx < ?'),
      entriesFrom: db.prepare('SELECT idx, body FROM partial_entries WHERE idx >= ? ORDER BY idx'),
    };
  }

  static async open(dir: string, key: KeyObject, origin?: string, fallbackOrigin?: OriginDefault, indexSyncMs = INDEX_SYNC_MS): Promise<EmbeddedStorage> {
    const { DatabaseSync } = await loadSqlite();
    try {
      await fs.mkdir(join(dir, 'tiles'), { recursive: true, mode: 0o700 });
      await fs.mkdir(join(dir, 'tmp'), { recursive: true, mode: 0o700 });
    } catch (e) {
      throw ioFail(`cannot create the log directory ${dir}`, e);
    }
    const dbPath = join(dir, 'log.sqlite');
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(dbPath, { timeout: 0 });
      db.prepare('ATTACH DATABASE ? AS ix').run(join(dir, INDEX_DB));
      // Exclusive locking (for both files): the first write keeps the database locked until close, so a
      // second server on the same directory fails at start instead of forking the tree. The OS drops the
      // lock if we die.
      db.exec(
        'PRAGMA locking_mode = EXCLUSIVE; PRAGMA main.journal_mode = WAL; PRAGMA ix.journal_mode = WAL; PRAGMA main.synchronous = NORMAL; PRAGMA ix.synchronous = NORMAL;',
      );
      db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      if (/locked|busy/i.test(msg)) throw new SignetError('TLOG', `the log in ${dir} is in use by another process`, { cause: e });
      throw new SignetError('IO', `cannot open the log database ${dbPath}: ${msg}`, { cause: e });
    }
    try {
      let row = db.prepare('SELECT tree_id, origin, log_id, size, root, checkpoint FROM log_state WHERE id = 1').get() as StateRow | undefined;
      let signer: CheckpointSigner;
      if (!row) {
        const treeId = newTreeId(randomBytes(8));
        signer = new CheckpointSigner(origin ?? defaultOrigin(treeId, fallbackOrigin), key);
        const cp = signer.sign(0, EMPTY_ROOT);
        db.prepare('INSERT INTO log_state (id, tree_id, origin, log_id, size, root, checkpoint) VALUES (1, ?, ?, ?, 0, ?, ?)').run(
          treeId.toString(),
          signer.origin,
          signer.logId,
          cp.rootHash,
          cp.note,
        );
        row = { tree_id: treeId.toString(), origin: signer.origin, log_id: signer.logId, size: 0, root: cp.rootHash, checkpoint: cp.note };
      } else {
        if (origin !== undefined && origin !== row.origin) {
          throw new SignetError('USAGE', `the log in ${dir} has origin ${JSON.stringify(row.origin)}; it cannot be served as ${JSON.stringify(origin)}`);
        }
        signer = new CheckpointSigner(row.origin, key);
        if (!signer.logId.equals(Buffer.from(row.log_id))) {
          throw new SignetError(
            'TLOG',
            `the log in ${dir} is signed by the key with log ID ${Buffer.from(row.log_id).toString('hex')}, not by the given key (${signer.logId.toString('hex')})`,
          );
        }
      }
      const s = new EmbeddedStorage(dir, db, signer, BigInt(row.tree_id), row);
      s.#indexSyncMs = indexSyncMs;
      try {
        // The WAL first: recovery may commit (rows for an older layout's partial files) and must flush.
        s.#wal = await s.#openWalOf(dbPath);
        await s.#recover();
        await s.#recoverIndex();
      } catch (e) {
        await s.#wal?.close().catch(() => undefined);
        await s.#ixWal?.close().catch(() => undefined);
        await s.#writer.close();
        await s.#flusher.close();
        throw e;
      }
      return s;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /**
   * An open descriptor on a database's WAL file, which an earlier write created: the file and its
   * directory entry are made durable once here, after which only the file's own data needs syncing.
   */
  async #openWalOf(dbPath: string): Promise<fs.FileHandle> {
    let fh: fs.FileHandle | undefined;
    try {
      fh = await fs.open(`${dbPath}-wal`, fsc.O_RDWR);
      await fh.sync();
      await this.#syncDir(this.#dir);
      return fh;
    } catch (e) {
      await fh?.close().catch(() => undefined);
      throw ioFail(`cannot open the write-ahead log ${dbPath}-wal`, e);
    }
  }

  /**
   * Start-up for the search index (index.sqlite): brings it level with the log from `index_journal`
   * (after a power cut lost index writes that were never flushed), trims it back (when it outran the
   * log's last, unacknowledged batch), or moves it out of log.sqlite (logs written before it had a file
   * of its own). Then makes it durable and drops the journal.
   */
  async #recoverIndex(): Promise<void> {
    const db = this.#db;
    const size = this.#size;
    const ixPath = join(this.#dir, INDEX_DB);
    const legacy = (db.prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name IN ('leaves', 'search')").all() as { name: string }[]).map(
      (r) => r.name,
    );
    let indexed = (db.prepare('SELECT size FROM ix.indexed WHERE id = 1').get() as { size: number } | undefined)?.size;
    if (legacy.length > 0) {
      this.#transaction(() => {
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
      this.#transaction(() => db.prepare('INSERT INTO ix.indexed (id, size) VALUES (1, 0)').run());
      indexed = 0;
    }
    if (indexed > size) {
      this.#transaction(() => {
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
      this.#transaction(() => this.#indexRows(batches, true));
    }
    // Also creates index.sqlite-wal where no write above did.
    this.#transaction(() => this.#stmt.indexed.run(size));
    this.#ixWal = await this.#openWalOf(ixPath);
    this.#ixApplied = size;
    this.#ixDurable = size;
    this.#transaction(() => {
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
  #maybeSyncIndex(force = false): Promise<void> {
    if (this.#ixSync) return this.#ixSync;
    const upTo = this.#ixApplied;
    if (!this.#ixWal || this.#ixDurable >= upTo) return Promise.resolve();
    if (!force && performance.now() - this.#lastIxSync < this.#indexSyncMs) return Promise.resolve();
    this.#lastIxSync = performance.now();
    this.#ixSync = this.#ixWal.datasync().then(
      () => {
        this.#ixDurable = Math.max(this.#ixDurable, upTo);
      },
      () => undefined, // kept in the journal; the next flush tries again
    );
    this.#ixSync = this.#ixSync.finally(() => (this.#ixSync = null));
    return this.#ixSync;
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
  #queueIndex(batch: IndexBatch): void {
    this.#pending.push(batch);
    batch.entries.forEach((e, j) => {
      this.#pendingLeaves.set(e.leafHash.toString('latin1'), batch.start + j);
      for (const key of e.indexKeys) {
        const l = this.#pendingSearch.get(key);
        if (l) l.push(batch.start + j);
        else this.#pendingSearch.set(key, [batch.start + j]);
      }
    });
    this.#scheduleIndex();
  }

  /** Applies the pending batches soon: at once past INDEX_APPLY_ENTRIES, else after INDEX_APPLY_MS. */
  #scheduleIndex(delay = this.#pending.reduce((n, b) => n + b.entries.length, 0) >= INDEX_APPLY_ENTRIES ? 0 : INDEX_APPLY_MS): void {
    if (this.#indexTimer && delay > 0) return;
    if (this.#indexTimer) clearTimeout(this.#indexTimer);
    this.#indexTimer = setTimeout(() => {
      this.#indexTimer = null;
      if (!this.#closed) this.#applyIndex();
    }, delay);
    // Nothing is lost if the process ends first: the rows are journaled.
    this.#indexTimer.unref();
  }

  /**
   * Writes the pending batches' rows into index.sqlite, in one transaction, after their writes were
   * answered. On failure they stay pending (and journaled) and the next schedule retries.
   */
  #applyIndex(): void {
    if (this.#pending.length === 0) return;
    const batches = this.#pending;
    const last = batches[batches.length - 1]!;
    const upTo = last.start + last.entries.length;
    try {
      this.#transaction(() => {
        this.#indexRows(batches, false);
        this.#stmt.indexed.run(upTo);
      });
    } catch {
      this.#scheduleIndex(INDEX_APPLY_MS);
      return;
    }
    this.#pending = [];
    this.#pendingLeaves.clear();
    this.#pendingSearch.clear();
    this.#ixApplied = upTo;
  }

  #file(kind: Kind, index: number, width: number): string {
    return join(this.#root, resourcePath(kind, index, width));
  }

  /**
   * Writes out, durably, the files of committed batches that may not have reached the disk (their bytes
   * are in `unsynced`), then forgets those rows. Versions a newer committed one superseded are skipped.
   */
  async #materializeUnsynced(): Promise<void> {
    const rows = this.#stmt.allUnsynced.all() as { kind: number; tile: number; width: number; data: Uint8Array }[];
    if (rows.length === 0) return;
    const size = this.#size;
    const current = rows.filter((r) => widthAt(kindOf(r.kind), r.tile, size) === r.width);
    try {
      await this.#writer.write(current.map((r) => ({ path: this.#file(kindOf(r.kind), r.tile, r.width), data: r.data })));
    } catch (e) {
      throw ioFail(`cannot write the log's tiles under ${this.#root}`, e);
    }
    this.#transaction(() => this.#db.exec('DELETE FROM unsynced'));
    this.#unsynced.clear();
    this.#redundant = [];
  }

  /**
   * The committed version of a tile (or bundle) at `width`: a partial from memory, a full one from its
   * file. Undefined when absent.
   */
  #version(kind: Kind, index: number, width: number): Uint8Array | undefined {
    if (width < TILE_WIDTH && kind === 'entries') {
      const tail = this.#tail;
      if (!tail || tail.length !== width || Math.floor(this.#size / TILE_WIDTH) !== index) return undefined;
      let b = this.#tailBundle;
      if (b?.width !== width) this.#tailBundle = b = { width, data: Buffer.from(encodeEntryBundle(tail)) };
      return b.data;
    }
    if (width < TILE_WIDTH) {
      const p = this.#partials.get(`${kindCode(kind)}/${index}`);
      return p && p.width === width ? p.data : undefined;
    }
    try {
      return readFileSync(this.#file(kind, index, width));
    } catch (e) {
      if (isEnoent(e)) return undefined;
      throw ioFail(`cannot read ${resourcePath(kind, index, width)}`, e);
    }
  }

  /**
   * Loads the committed partial versions: from rows, or from files for a log of the older layout, which
   * are returned (for #recover to store as rows).
   */
  #loadPartials(size: number): LegacyPartial[] {
    this.#partials = new Map();
    for (const r of this.#stmt.allPartials.all() as { kind: number; tile: number; width: number; data: Uint8Array }[]) {
      this.#partials.set(`${r.kind}/${r.tile}`, { width: r.width, data: r.data });
    }
    const legacy: LegacyPartial[] = [];
    const kinds: Kind[] = [];
    for (let level = 0; Math.floor(size / TILE_WIDTH ** level) > 0; level++) kinds.push(level);
    for (const kind of kinds) {
      const count = kind === 'entries' ? size : Math.floor(size / TILE_WIDTH ** kind);
      const width = count % TILE_WIDTH;
      const index = Math.floor(count / TILE_WIDTH);
      const key = `${kindCode(kind)}/${index}`;
      if (width === 0 || this.#partials.get(key)?.width === width) continue;
      try {
        const data = readFileSync(this.#file(kind, index, width));
        this.#partials.set(key, { width, data });
        legacy.push({ kind, index, width, data });
      } catch (e) {
        if (!isEnoent(e)) throw ioFail(`cannot read ${resourcePath(kind, index, width)}`, e);
      }
    }
    return legacy;
  }

  /** Bodies of the partial bundle: rows of `partial_entries`, or (`legacy`) a bundle file of the older layout. */
  #loadTail(size: number): { tail: Buffer[]; legacy: boolean } {
    const w = size % TILE_WIDTH;
    const k = Math.floor(size / TILE_WIDTH);
    if (w === 0) return { tail: [], legacy: false };
    const rows = this.#stmt.entriesFrom.all(k * TILE_WIDTH) as { idx: number; body: Uint8Array }[];
    const tail = rows.filter((r) => r.idx < size).map((r) => Buffer.from(r.body));
    if (tail.length === w && rows.every((r, i) => r.idx === k * TILE_WIDTH + i || r.idx >= size)) return { tail, legacy: false };
    let data: Buffer;
    try {
      data = readFileSync(this.#file('entries', k, w));
    } catch (e) {
      if (isEnoent(e)) throw new SignetError('TLOG', `the log's partial entry bundle ${entriesPath(k, w)} is missing`);
      throw ioFail(`cannot read entry bundle ${entriesPath(k, w)}`, e);
    }
    return { tail: decodeEntryBundle(data, w).map((b) => Buffer.from(b)), legacy: true };
  }

  /**
   * Rebuilds the in-memory integration state from the committed tiles, and checks it against the root.
   * Returns what it had to read from files of the older layout.
   */
  async #restore(): Promise<{ partials: LegacyPartial[]; tail: Buffer[] | null }> {
    await this.#materializeUnsynced();
    const size = this.#size;
    const legacyPartials = this.#loadPartials(size);
    let appender: TileAppender;
    try {
      appender = TileAppender.restore(size, (t) => this.#version(t.level, t.index, t.width));
    } catch (e) {
      if (e instanceof SignetError && e.code === 'IO') throw e;
      throw new SignetError('TLOG', `the log's tiles in ${this.#root} do not match its committed state: ${(e as Error).message}`, { cause: e });
    }
    if (!hashEquals(appender.root(), this.#checkpoint.rootHash)) {
      throw new SignetError('TLOG', `the log's tiles in ${this.#root} do not reproduce the committed root hash at size ${size}`);
    }
    const { tail, legacy } = this.#loadTail(size);
    // The partial bundle's entries against their leaf hashes in the partial level-0 tile (which the
    // root vouches for, above).
    if (tail.length > 0) {
      const level0 = this.#partials.get(`0/${Math.floor(size / TILE_WIDTH)}`)!.data;
      const first = size - tail.length;
      tail.forEach((b, i) => {
        if (!hashEquals(entryLeafHash(b), hashAt(level0, i))) {
          const where = legacy ? this.#file('entries', Math.floor(size / TILE_WIDTH), tail.length) : `${join(this.#dir, 'log.sqlite')} (table partial_entries)`;
          throw corrupt(where, `holds an entry ${first + i} that does not match its leaf hash in the partial level-0 tile`);
        }
      });
    }
    this.#appender = appender;
    this.#tail = tail;
    this.#tailBundle = null;
    return { partials: legacyPartials, tail: legacy ? tail : null };
  }

  /**
   * Start-up: state is what SQLite committed. Files a crashed batch left beyond that state are removed,
   * as are partial versions kept as files (older layout, stored as rows first).
   */
  async #recover(): Promise<void> {
    try {
      for (const f of await fs.readdir(this.#tmp)) await fs.rm(join(this.#tmp, f), { force: true });
    } catch (e) {
      throw ioFail(`cannot clean up ${this.#tmp}`, e);
    }
    const legacy = await this.#restore();
    if (legacy.partials.length > 0 || legacy.tail) {
      const first = Math.floor(this.#size / TILE_WIDTH) * TILE_WIDTH;
      this.#transaction(() => {
        for (const p of legacy.partials) this.#stmt.putPartial.run(kindCode(p.kind), p.index, p.width, p.data);
        (legacy.tail ?? []).forEach((b, i) => this.#stmt.putEntry.run(first + i, b));
      });
      // Durable before the files go.
      await this.#wal?.datasync();
    }
    const size = this.#size;
    const kinds: Kind[] = ['entries'];
    for (let level = 0; ; level++) {
      try {
        await fs.access(join(this.#root, 'tile', String(level)));
      } catch {
        break;
      }
      kinds.push(level);
    }
    for (const kind of kinds) {
      const count = kind === 'entries' ? size : Math.floor(size / TILE_WIDTH ** kind);
      const current = Math.floor(count / TILE_WIDTH);
      for (let n = current; ; n++) {
        const full = this.#file(kind, n, TILE_WIDTH);
        const pdir = `${full}.p`;
        let found = false;
        try {
          const widths = await fs.readdir(pdir);
          found = widths.length > 0;
          for (const w of widths) await fs.rm(join(pdir, w), { force: true });
        } catch (e) {
          if (!isEnoent(e)) throw ioFail(`cannot clean up ${pdir}`, e);
        }
        try {
          await fs.access(full);
          found = true;
          await fs.rm(full, { force: true });
        } catch {
          // absent: nothing to remove
        }
        if (!found && n > current) break;
      }
    }
    await this.#checkFiles();
  }

  /**
   * Start-up check of the files against the tree: every full tile and bundle exists (one directory
   * listing per directory), and the newest START_CHECK_FILES of each level and of the bundles (with the
   * tiles above them) match it. A failure refuses the start with STORAGE_CORRUPT naming the file.
   */
  async #checkFiles(): Promise<void> {
    const size = this.#size;
    const kinds: Kind[] = ['entries'];
    for (let level = 0; Math.floor(size / TILE_WIDTH ** (level + 1)) > 0; level++) kinds.push(level);
    const fullCount = (kind: Kind): number => Math.floor((kind === 'entries' ? size : Math.floor(size / TILE_WIDTH ** kind)) / TILE_WIDTH);
    const byDir = new Map<string, string[]>();
    for (const kind of kinds) {
      for (let i = 0, n = fullCount(kind); i < n; i++) {
        const rel = resourcePath(kind, i, TILE_WIDTH);
        const cut = rel.lastIndexOf('/');
        const dir = rel.slice(0, cut);
        let names = byDir.get(dir);
        if (!names) byDir.set(dir, (names = []));
        names.push(rel.slice(cut + 1));
      }
    }
    for (const [dir, names] of byDir) {
      let present: Set<string>;
      try {
        present = new Set(await fs.readdir(join(this.#root, dir)));
      } catch (e) {
        if (!isEnoent(e)) throw ioFail(`cannot list ${join(this.#root, dir)}`, e);
        present = new Set();
      }
      for (const name of names) if (!present.has(name)) throw corrupt(join(this.#root, dir, name), 'is missing');
    }
    for (const kind of kinds) {
      const n = fullCount(kind);
      for (let i = Math.max(0, n - START_CHECK_FILES); i < n; i++) {
        if (kind === 'entries') await this.#fullBundle(i);
        else await this.#fullTile(kind, i);
      }
    }
    // Each tile is checked again on its first read, so a file changed while the log runs is caught there.
    this.#verified.clear();
  }

  async #syncDir(dir: string): Promise<void> {
    const fh = await fs.open(dir, fsc.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async commitBatch(items: BatchItem[]): Promise<BatchOutcome> {
    if (this.#closed) throw new SignetError('TLOG', 'the transparency log is closed');
    if (!this.#appender || !this.#tail) await this.#restore();
    const appender = this.#appender!;
    const tail = this.#tail!;
    const start = this.#size;
    const results: BatchOutcome['results'] = new Array(items.length);
    const fresh: number[] = [];
    const dupLookups: Promise<void>[] = [];
    const known = this.#knownLeaves(items.map((it) => it.leafHash));
    for (let i = 0; i < items.length; i++) {
      const idx = known.get(items[i]!.leafHash.toString('latin1'));
      const row = idx === undefined ? undefined : { idx };
      if (row) {
        dupLookups.push(
          this.entryByIndex(row.idx).then((entry) => {
            if (!entry) throw new SignetError('TLOG', `leaf index ${row.idx} is recorded but not stored`);
            results[i] = { entry, duplicate: true };
          }),
        );
      } else {
        fresh.push(i);
      }
    }
    await Promise.all(dupLookups);
    if (fresh.length === 0) return { results, checkpoint: this.#checkpoint };

    const itime = Math.floor(Date.now() / 1000);
    const end = start + fresh.length;
    let checkpoint: SignedCheckpoint;
    let newTail: Buffer[];
    type Write = { kind: Kind; index: number; width: number; data: Uint8Array };
    const writes: Write[] = [];
    let full: Write[] = [];
    let partial: Write[] = [];
    const ixDurable = this.#ixDurable;
    const indexRows: IndexEntry[] = fresh.map((i) => ({ leafHash: items[i]!.leafHash, indexKeys: items[i]!.indexKeys }));
    try {
      for (const i of fresh) appender.append(items[i]!.leafHash);
      for (const t of appender.flush()) writes.push({ kind: t.level, index: t.index, width: t.width, data: t.data });
      let k = Math.floor(start / TILE_WIDTH);
      let cur = tail.slice();
      for (const i of fresh) {
        cur.push(items[i]!.body);
        if (cur.length === TILE_WIDTH) {
          writes.push({ kind: 'entries', index: k, width: TILE_WIDTH, data: encodeEntryBundle(cur) });
          k++;
          cur = [];
        }
      }
      newTail = cur;
      checkpoint = this.#signer.sign(end, appender.root());

      // Completed tiles into place first: before the commit point they sit only at paths beyond the
      // committed tree, and a failure here (disk full, permissions) rejects the batch with nothing
      // committed. No flush: the transaction below carries the same bytes.
      full = writes.filter((w) => w.width === TILE_WIDTH);
      partial = writes.filter((w) => w.width < TILE_WIDTH);
      if (full.length > 0) {
        await this.#writer.write(
          full.map((w) => ({ path: this.#file(w.kind, w.index, w.width), data: w.data })),
          false,
        );
      }

      this.#transaction(() => {
        for (const w of full) {
          this.#stmt.putUnsynced.run(kindCode(w.kind), w.index, w.width, w.data);
          this.#stmt.dropPartial.run(kindCode(w.kind), w.index);
        }
        for (const w of partial) this.#stmt.putPartial.run(kindCode(w.kind), w.index, w.width, w.data);
        const firstPartial = Math.floor(end / TILE_WIDTH) * TILE_WIDTH;
        for (let j = 0; j < fresh.length; j++) if (start + j >= firstPartial) this.#stmt.putEntry.run(start + j, items[fresh[j]!]!.body);
        if (firstPartial > start) this.#stmt.dropEntriesBelow.run(firstPartial);
        this.#dropRedundant();
        this.#stmt.journal.run(start, encodeIndexRows(indexRows));
        if (ixDurable > this.#journalFloor) this.#stmt.dropJournalBelow.run(ixDurable);
        this.#stmt.insBatch.run(start, itime);
        this.#stmt.state.run(end, checkpoint.rootHash, checkpoint.note);
      });
      this.#redundant = [];
      this.#journalFloor = Math.max(this.#journalFloor, ixDurable);
      // Committed: its index rows are due even should the flush below fail (the entries are in the log).
      this.#queueIndex({ start, entries: indexRows });
      // Committed (visible to a restart after SIGKILL); durable against power loss only after this.
      // Should the sync fail, the batch is not acknowledged and the in-memory state is rebuilt.
      try {
        await this.#wal!.datasync();
      } catch (e) {
        this.#size = end;
        this.#checkpoint = checkpoint;
        throw e;
      }
      // Durable from here: the files' bytes are in `unsynced` until a sweep has flushed the files.
      for (const w of full) this.#unsynced.set(this.#file(w.kind, w.index, w.width), { kind: w.kind, index: w.index, width: w.width });
    } catch (e) {
      this.#appender = null;
      this.#tail = null;
      if (e instanceof SignetError) throw e;
      throw ioFail(`cannot commit entries to the log in ${this.#dir}`, e);
    }

    this.#size = end;
    this.#checkpoint = checkpoint;
    this.#tail = newTail;
    this.#tailBundle = null;
    for (const w of full) this.#partials.delete(`${kindCode(w.kind)}/${w.index}`);
    for (const w of partial) this.#partials.set(`${kindCode(w.kind)}/${w.index}`, { width: w.width, data: w.data });
    this.#recent = new Map(full.map((w) => [this.#file(w.kind, w.index, w.width), w.data]));
    for (let j = 0; j < fresh.length; j++) {
      const i = fresh[j]!;
      results[i] = { entry: { index: start + j, leafHash: items[i]!.leafHash, body: items[i]!.body, integratedTime: itime }, duplicate: false };
    }
    this.#maybeSweep();
    void this.#maybeSyncIndex();
    return { results, checkpoint };
  }

  /** Runs `fn` in one write transaction: committed whole, or rolled back and its error rethrown. */
  #transaction(fn: () => void): void {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      fn();
      this.#db.exec('COMMIT');
    } catch (e) {
      try {
        this.#db.exec('ROLLBACK');
      } catch {
        // the failed statement may already have ended the transaction
      }
      throw e;
    }
  }

  /** Deletes, inside the caller's transaction, the `unsynced` rows of files a sweep has flushed. */
  #dropRedundant(): void {
    for (const r of this.#redundant) this.#stmt.dropUnsynced.run(kindCode(r.kind), r.index, r.width);
  }

  /** Indexes of the leaf hashes already in the log (keyed by the hash as a latin1 string), many per query. */
  #knownLeaves(hashes: Buffer[]): Map<string, number> {
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

  /**
   * Flushes the files written since the last sweep, on a thread of its own, when enough have gathered; their
   * rows are deleted by the next commit. A failed sweep leaves them for the next one (or the next start).
   */
  #maybeSweep(force = false): Promise<void> {
    if (this.#sweep) return this.#sweep;
    if (this.#unsynced.size === 0) return Promise.resolve();
    if (!force && this.#unsynced.size < SWEEP_FILES && performance.now() - this.#lastSweep < SWEEP_MS) return Promise.resolve();
    this.#lastSweep = performance.now();
    const batch = [...this.#unsynced];
    for (const [path] of batch) this.#unsynced.delete(path);
    const p = this.#flusher.sync(batch.map(([path]) => path)).then(
      () => {
        for (const [, id] of batch) this.#redundant.push(id);
      },
      () => {
        for (const [path, id] of batch) if (!this.#unsynced.has(path)) this.#unsynced.set(path, id);
      },
    );
    this.#sweep = p.finally(() => (this.#sweep = null));
    return this.#sweep;
  }

  /**
   * Reads the first `width` hashes (or entries) of a tile, from its newest committed version: a partial
   * one from memory, a full one from its file, checked against the tree first. A partial version
   * replaced under us (a batch committed meanwhile) is retried at the new size.
   */
  async #read(kind: Kind, index: number, width: number): Promise<Buffer | null> {
    for (let attempt = 0; ; attempt++) {
      const size = this.#size;
      const have = widthAt(kind, index, size);
      if (have < width) return null;
      let data: Uint8Array;
      if (have === TILE_WIDTH) {
        data = kind === 'entries' ? (await this.#fullBundle(index)).data : await this.#fullTile(kind, index);
      } else {
        const mem = this.#version(kind, index, have);
        if (!mem) {
          if (this.#size !== size && attempt < 5) continue;
          throw new SignetError('TLOG', `the log is missing its partial ${resourcePath(kind, index, have)}`);
        }
        data = mem;
      }
      const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (have === width) return buf;
      return buf.subarray(0, kind === 'entries' ? bundlePrefixLength(buf, width) : width * 32);
    }
  }

  /**
   * The bytes of a full tile or bundle: from memory when the last batch wrote it (computed here, not
   * read back), else from its file. A missing file is corruption: full files are never removed.
   */
  async #readFull(kind: Kind, index: number): Promise<{ data: Uint8Array; fromDisk: boolean }> {
    const path = this.#file(kind, index, TILE_WIDTH);
    const recent = this.#recent.get(path);
    if (recent) return { data: recent, fromDisk: false };
    try {
      return { data: await fs.readFile(path), fromDisk: true };
    } catch (e) {
      if (isEnoent(e)) throw corrupt(path, 'is missing');
      throw ioFail(`cannot read ${resourcePath(kind, index, TILE_WIDTH)}`, e);
    }
  }

  /**
   * A full tile, checked against the hash the tile above holds for it (itself checked the same way, up
   * to a partial tile, which the committed root vouches for): STORAGE_CORRUPT naming the file otherwise.
   * Checked tiles are kept (#verified), so the tiles above are read and hashed about once.
   */
  async #fullTile(level: number, index: number): Promise<Uint8Array> {
    const path = this.#file(level, index, TILE_WIDTH);
    const hit = this.#verified.get(path);
    if (hit) return hit;
    const { data, fromDisk } = await this.#readFull(level, index);
    if (!fromDisk) return data;
    const problem = hashTileProblem(data, await this.#hashAbove(level, index));
    if (problem) throw corrupt(path, problem);
    this.#verified.set(path, data);
    return data;
  }

  /** The hash that tile `level + 1` holds for full tile (level, index): the root that tile must hash to. */
  async #hashAbove(level: number, index: number): Promise<Uint8Array> {
    const parent = Math.floor(index / TILE_WIDTH);
    const pos = index % TILE_WIDTH;
    const partial = this.#partials.get(`${level + 1}/${parent}`);
    if (partial && partial.width > pos) return hashAt(partial.data, pos);
    const width = widthAt(level + 1, parent, this.#size);
    if (width < TILE_WIDTH) throw new SignetError('TLOG', `the log is missing its partial ${resourcePath(level + 1, parent, width)}`);
    return hashAt(await this.#fullTile(level + 1, parent), pos);
  }

  /**
   * A full entry bundle and its entries, each entry (`only`: that one) checked against its leaf hash in
   * the level-0 tile: STORAGE_CORRUPT naming the file otherwise.
   */
  async #fullBundle(index: number, only?: number): Promise<{ data: Uint8Array; entries: Uint8Array[] }> {
    const { data, fromDisk } = await this.#readFull('entries', index);
    if (!fromDisk) return { data, entries: decodeEntryBundle(data, TILE_WIDTH) };
    const checked = checkBundle(data, TILE_WIDTH, await this.#fullTile(0, index), only);
    if ('problem' in checked) throw corrupt(this.#file('entries', index, TILE_WIDTH), checked.problem);
    return { data, entries: checked.entries };
  }

  async checkpoint(): Promise<SignedCheckpoint> {
    return this.#checkpoint;
  }

  async entryByIndex(index: number): Promise<StoredEntry | null> {
    if (!Number.isSafeInteger(index) || index < 0) throw new SignetError('USAGE', `log index must be a non-negative integer, got ${String(index)}`);
    const size = this.#size;
    if (index >= size) return null;
    const k = Math.floor(index / TILE_WIDTH);
    let body: Buffer;
    const tail = this.#tail;
    if (tail && this.#size === size && k === Math.floor(size / TILE_WIDTH) && tail.length === size % TILE_WIDTH) {
      body = tail[index % TILE_WIDTH]!;
    } else if (widthAt('entries', k, size) === TILE_WIDTH) {
      body = Buffer.from((await this.#fullBundle(k, index % TILE_WIDTH)).entries[index % TILE_WIDTH]!);
    } else {
      const data = await this.#read('entries', k, widthAt('entries', k, size));
      if (!data) throw new SignetError('TLOG', `entry ${index} is missing from the log's entry bundles`);
      body = Buffer.from(decodeEntryBundle(data)[index % TILE_WIDTH]!);
    }
    const t = this.#stmt.itime.get(index) as { itime: number } | undefined;
    return { index, leafHash: entryLeafHash(body), body, integratedTime: t?.itime ?? 0 };
  }

  async entryByLeafHash(leafHash: Buffer): Promise<StoredEntry | null> {
    if (!Buffer.isBuffer(leafHash) || leafHash.length !== 32) throw new SignetError('USAGE', 'a leaf hash is 32 bytes');
    const pending = this.#pendingLeaves.get(leafHash.toString('latin1'));
    if (pending !== undefined) return this.entryByIndex(pending);
    const row = this.#stmt.leaf.get(leafHash) as { idx: number } | undefined;
    return row ? this.entryByIndex(row.idx) : null;
  }

  async search(key: string): Promise<number[]> {
    // Pending rows are of the newest batches, so they follow every applied one in index order.
    const applied = (this.#stmt.search.all(key) as { idx: number }[]).map((r) => r.idx);
    const pending = this.#pendingSearch.get(key);
    return pending ? [...applied, ...pending] : applied;
  }

  async readTiles(tiles: TileId[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    await Promise.all(
      tiles.map(async (t) => {
        const data = await this.#read(t.level, t.index, t.width);
        if (data) out.set(tilePath(t.level, t.index, t.width), data);
      }),
    );
    return out;
  }

  async tile(level: number, index: number, width?: number): Promise<Buffer | null> {
    return this.#read(level, index, checkTileArgs(level, index, width));
  }

  async entryBundle(index: number, width?: number): Promise<Buffer | null> {
    return this.#read('entries', index, checkTileArgs(0, index, width));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Best effort: what is left is written out on the next start.
    await this.#sweep;
    await this.#maybeSweep(true);
    try {
      if (this.#redundant.length > 0) {
        this.#transaction(() => this.#dropRedundant());
        this.#redundant = [];
      }
    } catch {
      // left for the next start
    }
    if (this.#indexTimer) clearTimeout(this.#indexTimer);
    this.#indexTimer = null;
    this.#applyIndex(); // best effort: what fails stays in the journal for the next start
    await this.#ixSync;
    await this.#maybeSyncIndex(true);
    try {
      if (this.#ixDurable > this.#journalFloor) this.#transaction(() => this.#stmt.dropJournalBelow.run(this.#ixDurable));
    } catch {
      // left for the next start
    }
    await this.#wal?.close().catch(() => undefined);
    await this.#ixWal?.close().catch(() => undefined);
    await this.#writer.close();
    await this.#flusher.close();
    this.#db.close();
  }
}
