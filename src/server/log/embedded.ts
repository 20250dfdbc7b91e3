/**
 * Embedded storage: full C2SP tiles and entry bundles as files under <dir>/tiles, everything else in
 * SQLite: <dir>/log.sqlite holds the partial tiles and bundle at the right edge of the tree, the
 * integration time per batch, the index journal and the log state; the search index (leaf hash → index,
 * search key → indexes) is in sorted runs under <dir>/index, listed in log.sqlite (search-index.ts).
 *
 * This module is the commit path and the log's state; the rest is in modules of their own:
 * tile-store.ts (the tiles and bundles: files, partial rows, checked reads, the flush sweep),
 * search-index.ts and index-runs.ts (the index: its journal, runs, builds and merges), recovery.ts (start-up, rebuild after
 * a failed batch, older layouts), integrity.ts (which stored hash vouches for which file).
 *
 * Commit per batch, with one flush to disk: a single SQLite transaction records the new state, the new
 * versions of the partial tiles (table `partial`, one row per tile, also kept in memory), the bodies of
 * the new entries of the partial bundle (table `partial_entries`: only new bytes, where rewriting the
 * whole partial bundle made every flush carry ~100 KiB), the bytes of any tile or bundle the batch
 * completed (table `unsynced`) and the batch's index rows (one `index_journal` row). That transaction is
 * the commit point; it is durable once the WAL file is fsynced, which happens before any waiter is
 * answered. Files of completed tiles are written into place (temp + rename, no flush) just before it; a
 * background sweep later fsyncs them and their directories, after which their `unsynced` rows are
 * deleted. On start (and after a failed batch) remaining rows are written out durably first.
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
 */
import { type KeyObject, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { SignetError } from '../../errors.js';
import { EMPTY_ROOT, TILE_WIDTH, type TileAppender, type TileId, decodeEntryBundle, encodeEntryBundle, setPayload, tilePath, tileWidth } from '../../tlog/index.js';
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
import { entryLeafHash } from './integrity.js';
import { ioFail, openWal, transaction } from './io.js';
import { cleanTmp, migrateLegacy, removeBeyond, restoreTree } from './recovery.js';
import { INDEX_SCHEMA, type IndexEntry, SearchIndex } from './search-index.js';
import { SET_SCHEMA, SetStore } from './set-store.js';
import { loadSqlite } from './sqlite.js';
import { TILE_SCHEMA, type TileWrite, TileStore } from './tile-store.js';
import type { OpenLogOptions, SignedCheckpoint, StoredEntry, TileCacheMetrics } from './types.js';

/** How an embedded log is tuned (described in OpenLogOptions). */
export type EmbeddedOptions = Pick<OpenLogOptions, 'searchIndex' | 'cachedTiles'>;

export { decodeIndexRows, encodeIndexRows } from './search-index.js';

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
${TILE_SCHEMA}
${INDEX_SCHEMA}
${SET_SCHEMA}
`;

export class EmbeddedStorage implements LogStorage {
  readonly treeId: bigint;
  readonly origin: string;
  readonly #dir: string;
  readonly #db: DatabaseSync;
  readonly #signer: CheckpointSigner;
  readonly #stmt: {
    insBatch: StatementSync;
    itime: StatementSync;
    state: StatementSync;
  };
  #size: number;
  #checkpoint: SignedCheckpoint;
  /** Null after a failed batch: rebuilt from the committed files before the next one. */
  #appender: TileAppender | null = null;
  /** Bodies of the committed partial entry bundle (size % 256 of them). */
  #tail: Buffer[] | null = null;
  /** Open descriptor on log.sqlite-wal, fsynced after each COMMIT (see the header). */
  #wal: fs.FileHandle | null = null;
  /** The previous bulk append's index rows being written as a run (see bulkAppend). */
  #indexBehind: Promise<void> | null = null;
  readonly #tiles: TileStore;
  readonly #index: SearchIndex;
  /** SETs kept once signed (set-store.ts). */
  readonly #sets: SetStore;
  #closed = false;

  private constructor(dir: string, db: DatabaseSync, Database: typeof DatabaseSync, signer: CheckpointSigner, treeId: bigint, state: StateRow, opts: EmbeddedOptions) {
    this.#dir = dir;
    this.#db = db;
    this.#signer = signer;
    this.treeId = treeId;
    this.origin = signer.origin;
    this.#size = state.size;
    this.#checkpoint = { origin: signer.origin, size: state.size, rootHash: Buffer.from(state.root), note: state.checkpoint };
    this.#stmt = {
      insBatch: db.prepare('INSERT INTO batches (start, itime) VALUES (?, ?)'),
      itime: db.prepare('SELECT itime FROM batches WHERE start <= ? ORDER BY start DESC LIMIT 1'),
      state: db.prepare('UPDATE log_state SET size = ?, root = ?, checkpoint = ? WHERE id = 1'),
    };
    const self = this;
    this.#tiles = new TileStore(
      dir,
      db,
      {
        get size() {
          return self.#size;
        },
        get tail() {
          return self.#tail;
        },
      },
      opts.cachedTiles,
    );
    this.#index = new SearchIndex(db, Database, dir, async () => void (await this.#wal?.datasync()), opts.searchIndex);
    this.#sets = new SetStore(db, async () => void (await this.#wal?.datasync()), signer.key);
  }

  static async open(dir: string, key: KeyObject, origin?: string, fallbackOrigin?: OriginDefault, opts: EmbeddedOptions = {}): Promise<EmbeddedStorage> {
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
      // Exclusive locking: the first write keeps the database locked until close, so a
      // second server on the same directory fails at start instead of forking the tree. The OS drops the
      // lock if we die.
      // A 16 MiB page cache (SQLite's default is 2 MiB) holds every interior page of entry_sets at 10M
      // entries (~1 GB), so a read of a stored SET costs one leaf page, not a walk from the root: 11 -> 8 µs.
      db.exec(
        'PRAGMA locking_mode = EXCLUSIVE; PRAGMA main.journal_mode = WAL; PRAGMA main.synchronous = NORMAL; PRAGMA main.cache_size = -16384;',
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
      const s = new EmbeddedStorage(dir, db, DatabaseSync, signer, BigInt(row.tree_id), row, opts);
      try {
        // The WAL first: recovery may commit (rows for an older layout's partial files) and must flush.
        s.#wal = await openWal(dbPath, dir);
        await s.#recover();
        await s.#index.recover(s.#size);
      } catch (e) {
        await s.#wal?.close().catch(() => undefined);
        await s.#index.closeWorkers();
        await s.#tiles.closeWriters();
        throw e;
      }
      return s;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /**
   * Rebuilds the in-memory integration state from the committed tiles (recovery.ts), checked against
   * the root. Returns what it had to read from files of the older layout.
   */
  async #restore(): Promise<Awaited<ReturnType<typeof restoreTree>>['legacy']> {
    const r = await restoreTree(this.#tiles, this.#size, this.#checkpoint.rootHash, join(this.#dir, 'log.sqlite'));
    this.#appender = r.appender;
    this.#tail = r.tail;
    this.#tiles.tailChanged();
    return r.legacy;
  }

  /**
   * Start-up: state is what SQLite committed. Files a crashed batch left beyond that state are removed,
   * as are partial versions kept as files (older layout, stored as rows first); then the files are checked.
   */
  async #recover(): Promise<void> {
    await cleanTmp(join(this.#dir, 'tmp'));
    const legacy = await this.#restore();
    // Durable before the files go.
    await migrateLegacy(this.#tiles, this.#db, legacy, this.#size, async () => void (await this.#wal?.datasync()));
    await removeBeyond(this.#tiles, this.#size);
    await this.#tiles.checkFiles();
  }


  /**
   * The commit point of a batch (appended or bulk-imported): its partial tiles, index journal row,
   * integration times (`times`) and the new state in one transaction, then the WAL flush. The batch's
   * index rows are due once committed, even should the flush fail (the entries are in the log);
   * committed means visible to a restart after SIGKILL, durable against power loss only after the
   * flush. Should the flush fail, the batch is not acknowledged and the in-memory state is rebuilt.
   */
  async #commit(
    b: {
      start: number;
      end: number;
      checkpoint: SignedCheckpoint;
      full: TileWrite[];
      partial: TileWrite[];
      newEntries: Parameters<TileStore['record']>[2];
      firstPartial: number;
      indexRows: IndexEntry[];
      ixDurable: number;
    },
    times: () => void,
  ): Promise<void> {
    transaction(this.#db, () => {
      this.#tiles.record(b.full, b.partial, b.newEntries, b.firstPartial, b.start);
      this.#index.journal(b.start, b.indexRows, b.ixDurable);
      times();
      this.#stmt.state.run(b.end, b.checkpoint.rootHash, b.checkpoint.note);
      this.#sets.store();
    });
    this.#tiles.recorded();
    this.#sets.stored();
    this.#index.committed({ start: b.start, entries: b.indexRows }, b.ixDurable);
    try {
      await this.#wal!.datasync();
    } catch (e) {
      this.#size = b.end;
      this.#checkpoint = b.checkpoint;
      throw e;
    }
    // Durable from here: the files' bytes are in `unsynced` until a sweep has flushed the files.
    this.#tiles.durable(b.full);
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
    const known = this.#index.known(items.map((it) => it.leafHash));
    for (let i = 0; i < items.length; i++) {
      const idx = known.get(items[i]!.leafHash.toString('latin1'));
      const row = idx === undefined ? undefined : { idx };
      if (row) {
        // A copy already in the log is answered from storage; when that copy cannot be read (a corrupt
        // bundle), only this submission fails: the others of the batch have nothing to do with that file.
        dupLookups.push(
          this.entryByIndex(row.idx).then(
            (entry) => {
              results[i] = entry ? { entry, duplicate: true } : { failed: new SignetError('TLOG', `leaf index ${row.idx} is recorded but not stored`) };
            },
            (e: unknown) => {
              results[i] = { failed: e instanceof Error ? e : new SignetError('TLOG', String(e)) };
            },
          ),
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
    const writes: TileWrite[] = [];
    let full: TileWrite[] = [];
    let partial: TileWrite[] = [];
    const ixDurable = this.#index.durable;
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
      await this.#tiles.writeFull(full);

      const firstPartial = Math.floor(end / TILE_WIDTH) * TILE_WIDTH;
      // The new entries of the partial bundle (the last `end - firstPartial` of the batch, or all of it).
      const from = Math.max(start, firstPartial);
      const newEntries = fresh.slice(from - start).map((i, j) => ({ idx: from + j, body: items[i]!.body }));
      await this.#commit({ start, end, checkpoint, full, partial, newEntries, firstPartial, indexRows, ixDurable }, () => this.#stmt.insBatch.run(start, itime));
    } catch (e) {
      this.#appender = null;
      this.#tail = null;
      if (e instanceof SignetError) throw e;
      throw ioFail(`cannot commit entries to the log in ${this.#dir}`, e);
    }

    this.#size = end;
    this.#checkpoint = checkpoint;
    this.#tail = newTail;
    this.#tiles.applied(full, partial);
    for (let j = 0; j < fresh.length; j++) {
      const i = fresh[j]!;
      results[i] = { entry: { index: start + j, leafHash: items[i]!.leafHash, body: items[i]!.body, integratedTime: itime }, duplicate: false };
    }
    this.#tiles.maybeSweep();
    return { results, checkpoint };
  }

  /**
   * Bulk append (`signet log import`, bench prefill): `items` go to the end of the log in the order given,
   * as one commit, without the duplicate check of the request path (entries of another log, kept in its
   * order so that the tree matches its checkpoints; a leaf hash already indexed keeps its first index).
   * The index rows become a run before the next call proceeds (or `flushIndex`). Crash-safe like any batch: the commit is the one transaction,
   * files it wrote sit beyond the committed tree until then. `integratedTime` (unix seconds) per item
   * where the source has one, else now. `check` sees the new size and root before anything is written
   * and may refuse the batch by throwing.
   */
  async bulkAppend(
    items: (BatchItem & { integratedTime?: number })[],
    check?: (size: number, rootHash: Uint8Array) => Promise<void>,
    signSets?: (payloads: Buffer[]) => Promise<Uint8Array[]>,
  ): Promise<SignedCheckpoint> {
    if (this.#closed) throw new SignetError('TLOG', 'the transparency log is closed');
    if (items.length === 0) return this.#checkpoint;
    if (this.#indexBehind) {
      const behind = this.#indexBehind;
      this.#indexBehind = null;
      await behind;
    }
    if (!this.#appender || !this.#tail) await this.#restore();
    const appender = this.#appender!;
    const tail = this.#tail!;
    const start = this.#size;
    const end = start + items.length;
    const now = Math.floor(Date.now() / 1000);
    const ixDurable = this.#index.durable;
    const indexRows: IndexEntry[] = items.map((it) => ({ leafHash: it.leafHash, indexKeys: it.indexKeys }));
    let checkpoint: SignedCheckpoint;
    let newTail: Buffer[];
    let full: TileWrite[] = [];
    let partial: TileWrite[] = [];
    try {
      const writes: TileWrite[] = [];
      for (const it of items) appender.append(it.leafHash);
      for (const t of appender.flush()) writes.push({ kind: t.level, index: t.index, width: t.width, data: t.data });
      let k = Math.floor(start / TILE_WIDTH);
      let cur = tail.slice();
      for (const it of items) {
        cur.push(it.body);
        if (cur.length === TILE_WIDTH) {
          writes.push({ kind: 'entries', index: k, width: TILE_WIDTH, data: encodeEntryBundle(cur) });
          k++;
          cur = [];
        }
      }
      newTail = cur;
      const root = appender.root();
      // The caller's say before anything is written (an import: the source's consistency proof).
      if (check) await check(end, root);
      checkpoint = this.#signer.sign(end, root);
      full = writes.filter((w) => w.width === TILE_WIDTH);
      partial = writes.filter((w) => w.width < TILE_WIDTH);
      // As for any batch: into place without a flush, their bytes in the commit (`unsynced`) until a
      // sweep has flushed them in the background (a flush per file here cost two thirds of an import).
      await this.#tiles.writeFull(full);
      const firstPartial = Math.floor(end / TILE_WIDTH) * TILE_WIDTH;
      const from = Math.max(start, firstPartial);
      const newEntries = items.slice(from - start).map((it, j) => ({ idx: from + j, body: it.body }));
      // With `signSets`, each entry's v1 SET is signed now and stored by this commit, as a write's is.
      if (signSets) {
        const logID = this.#signer.logId.toString('hex');
        const fields = items.map((it, j) => ({ index: start + j, integratedTime: it.integratedTime ?? now, leafHash: it.leafHash }));
        const sigs = await signSets(items.map((it, j) => setPayload({ body: it.body, integratedTime: fields[j]!.integratedTime, logID, logIndex: start + j })));
        fields.forEach((f, j) => this.#sets.keep(f, sigs[j]!, false));
      }
      await this.#commit({ start, end, checkpoint, full, partial, newEntries, firstPartial, indexRows, ixDurable }, () => {
        let last: number | undefined;
        items.forEach((it, j) => {
          const t = it.integratedTime ?? now;
          if (t !== last) this.#stmt.insBatch.run(start + j, t);
          last = t;
        });
      });
    } catch (e) {
      this.#appender = null;
      this.#tail = null;
      this.#sets.dropFrom(start);
      if (e instanceof SignetError) throw e;
      throw ioFail(`cannot append entries to the log in ${this.#dir}`, e);
    }
    this.#size = end;
    this.#checkpoint = checkpoint;
    this.#tail = newTail;
    this.#tiles.applied(full, partial);
    void this.#tiles.maybeSweep();
    // The rows become a run on the builder thread while the caller prepares its next chunk; that next
    // call waits for it first (and fails should it fail), so an import holds two chunks' rows at most.
    this.#indexBehind = this.#index.flushNow();
    this.#indexBehind.catch(() => undefined);
    return checkpoint;
  }

  /** The log size up to which the search index is in runs (the rest is in memory and the journal). */
  get indexedSize(): number {
    return this.#index.durable;
  }

  /** After bulk appends: their index rows written as runs (rejects when that failed; they stay journaled). */
  async flushIndex(): Promise<void> {
    const behind = this.#indexBehind;
    this.#indexBehind = null;
    await behind;
    await this.#index.flushNow();
  }

  /**
   * Waits until the search index has no merge due (the bulk path's end): a log imported in bulk then
   * starts serving with its index compacted, instead of merging millions of entries' rows under its
   * first writes (and a merge cut short by closing starts over on the next start).
   */
  async settleIndex(): Promise<void> {
    await this.flushIndex();
    await this.#index.settle();
  }

  async checkpoint(): Promise<SignedCheckpoint> {
    return this.#checkpoint;
  }

  /** Keeps the SET signature of committed entry `e` (set-store.ts): stored by the next commit. */
  keepSet(e: StoredEntry, sig: Uint8Array): void {
    if (!this.#closed && Number.isSafeInteger(e.index) && e.index >= 0 && e.index < this.#size) this.#sets.keep(e, sig);
  }

  tileCache(): TileCacheMetrics {
    return this.#tiles.cacheMetrics();
  }

  /** The SET signature keepSet (or a bulk append) stored for entry `e`, when its seal checks. */
  storedSet(e: StoredEntry): Uint8Array | undefined {
    return this.#closed ? undefined : this.#sets.get(e);
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
    } else if (tileWidth(0, k, size) === TILE_WIDTH) {
      body = Buffer.from(await this.#tiles.bundleEntry(k, index % TILE_WIDTH));
    } else {
      const data = await this.#tiles.read('entries', k, tileWidth(0, k, size));
      if (!data) throw new SignetError('TLOG', `entry ${index} is missing from the log's entry bundles`);
      body = Buffer.from(decodeEntryBundle(data)[index % TILE_WIDTH]!);
    }
    const t = this.#stmt.itime.get(index) as { itime: number } | undefined;
    return { index, leafHash: entryLeafHash(body), body, integratedTime: t?.itime ?? 0 };
  }

  async entryByLeafHash(leafHash: Buffer): Promise<StoredEntry | null> {
    if (!Buffer.isBuffer(leafHash) || leafHash.length !== 32) throw new SignetError('USAGE', 'a leaf hash is 32 bytes');
    const idx = this.#index.lookup(leafHash);
    return idx === undefined ? null : this.entryByIndex(idx);
  }

  async search(key: string): Promise<number[]> {
    return this.#index.search(key);
  }

  async readTiles(tiles: TileId[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    await Promise.all(
      tiles.map(async (t) => {
        const data = await this.#tiles.read(t.level, t.index, t.width, true);
        if (data) out.set(tilePath(t.level, t.index, t.width), data);
      }),
    );
    return out;
  }

  async tile(level: number, index: number, width?: number): Promise<Buffer | null> {
    return this.#tiles.read(level, index, checkTileArgs(level, index, width));
  }

  async entryBundle(index: number, width?: number): Promise<Buffer | null> {
    return this.#tiles.read('entries', index, checkTileArgs(0, index, width));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#index.stop();
    // Best effort: what is left is written out on the next start.
    await this.#tiles.closeSweep();
    this.#sets.close();
    await this.#index.close();
    await this.#wal?.close().catch(() => undefined);
    await this.#tiles.closeWriters();
    this.#db.close();
  }
}
