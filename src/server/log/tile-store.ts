/**
 * The embedded log's tiles and entry bundles: full ones as files under <dir>/tiles, the partial ones at
 * the right edge of the tree as rows of log.sqlite (table `partial`, the partial bundle's entries in
 * `partial_entries`), also kept in memory.
 *
 * Files of completed tiles are written into place (temp + rename, no flush, on a thread of its own,
 * file-writer.ts) just before the commit that records them, their bytes also in table `unsynced`; a
 * background sweep later fsyncs them and their directories, after which the next commit deletes their
 * `unsynced` rows. On start (and after a failed batch) remaining rows are written out durably first.
 *
 * Files are not trusted: a full tile or bundle read from disk is checked against the tree before it is
 * used (integrity.ts), and on start every full file must exist and the newest ones must match; a
 * mismatch is STORAGE_CORRUPT naming the file. Checked tiles stay in memory. The SHA-256 of each full
 * file is recorded in table `file_digests` by the commit that makes the file part of the tree (or, for a
 * file of an older log without a row, by the first commit after its full check), and loaded on start:
 * a file's first read after a restart is one SHA-256 compared with its row, not a hash up the tree.
 *
 * Only the newest version of each partial tile is kept: a tile of width w is the first w hashes of any
 * wider version (bundles likewise), so older widths are served as prefixes.
 */
import { closeSync, fstatSync, promises as fs, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { SignetError } from '../../errors.js';
import { HASH_SIZE, TILE_WIDTH, decodeEntryBundle, encodeEntryBundle, entriesPath, hashEquals, tileWidth } from '../../tlog/index.js';
import { FileWriter } from './file-writer.js';
import { CheckedDigests, type Kind, VerifiedBytes, bundleEntryAt, checkBundle, checkBundleEntry, corrupt, entryLeafProblem, fileDigest, hashAt, hashTileProblem, resourcePath } from './integrity.js';
import { nativeCrypto } from '../../native.js';
import { ioFail, isEnoent, transaction } from './io.js';
import { PairWriter } from './row-writer.js';
import type { TileCacheMetrics } from './types.js';

/** Its tables in log.sqlite. */
export const TILE_SCHEMA = `
CREATE TABLE IF NOT EXISTS unsynced (kind INTEGER NOT NULL, tile INTEGER NOT NULL, width INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (kind, tile, width)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partial (kind INTEGER NOT NULL, tile INTEGER NOT NULL, width INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (kind, tile)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partial_entries (idx INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS file_digests (kind INTEGER NOT NULL, tile INTEGER NOT NULL, digest BLOB NOT NULL, PRIMARY KEY (kind, tile)) WITHOUT ROWID;
`;

/** `unsynced.kind` and `partial.kind` of entry bundles; tile levels are themselves. */
const ENTRIES_KIND = -1;

export const kindCode = (k: Kind): number => (k === 'entries' ? ENTRIES_KIND : k);
const kindOf = (code: number): Kind => (code === ENTRIES_KIND ? 'entries' : code);
/** A number naming the full file (kind, index) in the in-memory maps: no path string made per read. */
const fileKey = (k: Kind, index: number): number => index * 128 + kindCode(k) + 1;

/** A background sweep starts once this many files await their flush, or a second after the last one. */
const SWEEP_FILES = 32;
const SWEEP_MS = 1000;

/**
 * Full tiles (and entry bundles) checked against the tree on start: the newest this many of each level.
 * Older files are checked when first read, and every file by `signet log fsck`.
 */
const START_CHECK_FILES = 16;
/** Full tiles (8 KiB each) in a MiB. */
export const TILES_PER_MIB = (1024 * 1024) / (TILE_WIDTH * HASH_SIZE);
/**
 * Full tiles kept in memory once checked against the tree, unless the log is opened with another number
 * (OpenLogOptions.cachedTiles, serve --tile-cache): 192 MiB, every tile of a log of 6M entries. Reads
 * of them skip the file and its check. A tile read from its file costs about twice one from memory
 * (open, read, hash, close, and a fresh buffer for the socket), so random reads of the level-0 tiles of
 * a larger log go as fast as the share of them held here allows: at 10M entries, 16,200–17,500 /s with
 * 32 MiB, 19,000 with 128 and 21,600–23,200 with 192 (2-core EPYC).
 */
export const DEFAULT_CACHED_TILES = 192 * TILES_PER_MIB;

/**
 * Files up to this size are read synchronously: a full tile (8 KiB) or a bundle of small entries comes
 * from the page cache in ~10 µs of the event loop's time, where fs.promises.readFile (open, fstat, read,
 * close: four trips through the thread pool) cost ~100 µs of it, most of a tile read's CPU. Larger
 * bundles are read off the event loop.
 */
const SYNC_READ_MAX = 256 * 1024;

/**
 * The bytes of a file, read synchronously when it is at most SYNC_READ_MAX bytes (null when larger), in
 * a buffer of its own (never a pool slice: integrity.ts keys a tile's levels by its memory). With
 * `withDigest`, its SHA-256 (fileDigest) too where the native addon reads the file, in the same call
 * (open, fstat, read, close and the hash in one: ~11 µs for a tile from the page cache, where node:fs's
 * four calls and crypto.hash cost ~18 µs of the event loop); otherwise the caller hashes it.
 */
function readSmallFile(path: string, withDigest = false): { data: Buffer; digest?: Buffer } | null {
  const nativeRead = nativeCrypto.addon?.readSmallFile;
  if (nativeRead) {
    const digest = withDigest ? Buffer.allocUnsafe(HASH_SIZE) : undefined;
    const data = nativeRead(path, SYNC_READ_MAX, digest);
    return data && { data, digest };
  }
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > SYNC_READ_MAX) return null;
    const buf = Buffer.allocUnsafeSlow(size);
    let at = 0;
    while (at < size) {
      const n = readSync(fd, buf, at, size - at, at);
      if (n === 0) break;
      at += n;
    }
    // A file that shrank meanwhile is returned short and fails its check.
    return { data: at === size ? buf : buf.subarray(0, at) };
  } finally {
    closeSync(fd);
  }
}

/**
 * Entry `j` of the bundle file at `path`, reading only as far into the file as that entry ends (on
 * average half the file, where a whole read cost most of an entry read's I/O at 10M entries), into
 * `into`: a view of it checked against its leaf hash in `level0`, or the problem (the file ends first,
 * its framing runs past it, the hash differs); null when the entry does not end within `into` (the
 * caller reads the whole file instead). Only entry j is checked: the entries after it are not this
 * read's concern. `guess` is the expected size of an entry with its length prefix, to size the first read.
 */
function readBundleEntry(path: string, j: number, into: Buffer, guess: number, level0: Uint8Array): { entry: Uint8Array } | { problem: string } | null {
  const firstRead = Math.min(into.length, Math.max(4096, Math.ceil((j + 1) * guess * 1.25)));
  // The reads in one native call (open, preads, close) where the addon is built.
  const at = (nativeCrypto.addon?.readBundleEntry ?? readBundleEntryFs)(path, j, into, firstRead);
  if (at === -1) return null;
  if (at < 0) return { problem: `ends at byte ${-2 - at}, before its entry ${j} does` };
  const entry = into.subarray(at + 2, at + 2 + ((into[at]! << 8) | into[at + 1]!));
  const problem = entryLeafProblem(entry, level0, j);
  return problem ? { problem } : { entry };
}

/**
 * The addon's readBundleEntry through node:fs (the same reads, the same answer): the offset in `into` of
 * entry j's length prefix, the entry wholly read after it; -1 when entry j does not end within `into`;
 * -2 - n when the file ends, at byte n, before entry j does.
 */
function readBundleEntryFs(path: string, j: number, into: Uint8Array, firstRead: number): number {
  const fd = openSync(path, 'r');
  try {
    let have = 0;
    let want = firstRead;
    let pos = 0;
    let n = 0;
    for (;;) {
      // Walk the length prefixes as far as the bytes read so far go.
      while (pos + 2 <= have) {
        const len = (into[pos]! << 8) | into[pos + 1]!;
        if (n === j) {
          if (pos + 2 + len <= have) return pos;
          want = Math.max(want, pos + 2 + len);
          break;
        }
        pos += 2 + len;
        n++;
      }
      if (have >= into.length) return -1;
      want = Math.min(into.length, Math.max(want, have + 4096));
      const got = readSync(fd, into, have, want - have, have);
      if (got === 0) return -2 - have;
      have += got;
      // Further reads double what was read: few system calls for an entry far in.
      want = Math.min(into.length, have * 2);
    }
  } finally {
    closeSync(fd);
  }
}

/** The error for a failed read of full file (kind, index) at `path`: a missing one is corruption, since full files are never removed. */
function readFailure(path: string, kind: Kind, index: number, e: unknown): Error {
  return isEnoent(e) ? corrupt(path, 'is missing') : ioFail(`cannot read ${resourcePath(kind, index, TILE_WIDTH)}`, e);
}

/**
 * A file read again, compared with the digest recorded when it was written or checked against the tree.
 * `digest` is the file's SHA-256 when the read computed it (readSmallFile), else it is computed here.
 */
function checkRecorded(path: string, data: Uint8Array, recorded: Uint8Array, digest?: Uint8Array): void {
  if (!hashEquals(digest ?? fileDigest(data), recorded)) throw corrupt(path, 'changed since it was written or checked against the tree');
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
export type LegacyPartial = { kind: Kind; index: number; width: number; data: Uint8Array };

/** Number of tile-level hashes (or entries) at `kind` in a tree of `size`. */
function widthAt(kind: Kind, index: number, size: number): number {
  return tileWidth(kind === 'entries' ? 0 : kind, index, size);
}

/** A tile or bundle a batch wrote: a full one (width 256) or the new version of a partial one. */
export type TileWrite = { kind: Kind; index: number; width: number; data: Uint8Array };

/** What the store reads of the log's committed state: its size and the partial bundle's entries. */
export interface TreeView {
  readonly size: number;
  /** Bodies of the committed partial entry bundle (size % 256 of them); null while being rebuilt. */
  readonly tail: Buffer[] | null;
}

export class TileStore {
  /** <dir>/tiles */
  readonly root: string;
  readonly #db: DatabaseSync;
  readonly #tree: TreeView;
  readonly #stmt: {
    putUnsynced: StatementSync;
    putPartial: StatementSync;
    dropPartial: StatementSync;
    dropUnsynced: StatementSync;
    allUnsynced: StatementSync;
    allPartials: StatementSync;
    putEntry: StatementSync;
    dropEntriesBelow: StatementSync;
    entriesFrom: StatementSync;
    putDigest: StatementSync;
    allDigests: StatementSync;
  };
  /** Makes each batch's files durable on a thread of its own (see file-writer.ts). */
  readonly #writer: FileWriter;
  /** Flushes files for the sweep on a thread of its own, so that a sweep never delays a commit's writes. */
  readonly #flusher: FileWriter;
  /**
   * The files the last committed batch wrote, by path: the proofs that answer that batch's writes need
   * exactly these tiles, so they are served without reading them back.
   */
  #recent = new Map<number, Uint8Array>();
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
  /** Full tiles read from disk and found to match the tree (see integrity.ts), by file path. */
  readonly #verified: VerifiedBytes;
  /** Reads of full tiles answered by #verified, and from their files (or the last batch's memory). */
  #cacheHits = 0;
  #cacheMisses = 0;
  /** Where bundleEntry reads bundles (see there). */
  readonly #scratch = Buffer.allocUnsafeSlow(SYNC_READ_MAX);
  /** The size of an entry with its length prefix, on average over recent reads: bundleEntry's first read. */
  #entryGuess = 512;
  /**
   * The SHA-256 of each full file: stored in `file_digests` (loaded on start), or recorded once checked
   * (integrity.ts) or written: a read from disk is compared with it, not hashed up its tree.
   */
  #digests = new CheckedDigests();
  /**
   * Digests of committed files that have no `file_digests` row (a log written before the table), found
   * by a full check on read: stored by the next commit's transaction (or at close).
   */
  #unstored: { kind: Kind; index: number; digest: Buffer }[] = [];
  /** How many of #unstored the transaction under way stores (dropped once it committed). */
  #storing = 0;
  /** The digests of the full files of the batch being committed (computed in record, used by applied). */
  #written = new Map<string, Buffer>();

  /** Rows of `partial_entries`, several per statement. */
  readonly #entryRows: PairWriter;

  /**
   * `db` is log.sqlite with TILE_SCHEMA created; `tree` is the log's committed state, read live;
   * `cachedTiles` how many checked full tiles stay in memory.
   */
  constructor(dir: string, db: DatabaseSync, tree: TreeView, cachedTiles = DEFAULT_CACHED_TILES) {
    this.#verified = new VerifiedBytes(cachedTiles);
    this.root = join(dir, 'tiles');
    const tmp = join(dir, 'tmp');
    this.#writer = new FileWriter(tmp);
    this.#flusher = new FileWriter(tmp);
    this.#db = db;
    this.#tree = tree;
    this.#stmt = {
      putUnsynced: db.prepare('INSERT OR REPLACE INTO unsynced (kind, tile, width, data) VALUES (?, ?, ?, ?)'),
      putPartial: db.prepare('INSERT OR REPLACE INTO partial (kind, tile, width, data) VALUES (?, ?, ?, ?)'),
      dropPartial: db.prepare('DELETE FROM partial WHERE kind = ? AND tile = ?'),
      dropUnsynced: db.prepare('DELETE FROM unsynced WHERE kind = ? AND tile = ? AND width = ?'),
      allUnsynced: db.prepare('SELECT kind, tile, width, data FROM unsynced'),
      allPartials: db.prepare('SELECT kind, tile, width, data FROM partial'),
      putEntry: db.prepare('INSERT OR REPLACE INTO partial_entries (idx, body) VALUES (?, ?)'),
      dropEntriesBelow: db.prepare('DELETE FROM partial_entries WHERE idx < ?'),
      entriesFrom: db.prepare('SELECT idx, body FROM partial_entries WHERE idx >= ? ORDER BY idx'),
      putDigest: db.prepare('INSERT OR REPLACE INTO file_digests (kind, tile, digest) VALUES (?, ?, ?)'),
      allDigests: db.prepare('SELECT kind, tile, digest FROM file_digests'),
    };
    this.#entryRows = new PairWriter(db, 'partial_entries', 'idx', 'body');
  }

  /**
   * Before a batch's commit: its completed files into place, without a flush. Until the commit they sit
   * only at paths beyond the committed tree; a failure here (disk full, permissions) rejects the batch.
   */
  async writeFull(full: TileWrite[]): Promise<void> {
    if (full.length === 0) return;
    await this.#writer.write(
      full.map((w) => ({ path: this.file(w.kind, w.index, w.width), data: w.data })),
      false,
    );
  }

  /**
   * Inside the commit's transaction: the full files' bytes (`unsynced`, until flushed), the new partial
   * versions, the new entries of the partial bundle (those from `firstPartial` on; older rows dropped),
   * and the deletion of the rows of files a sweep has flushed.
   */
  record(full: TileWrite[], partial: TileWrite[], entries: { idx: number; body: Buffer }[], firstPartial: number, start: number): void {
    this.#written = new Map();
    for (const w of full) {
      this.#stmt.putUnsynced.run(kindCode(w.kind), w.index, w.width, w.data);
      this.#stmt.dropPartial.run(kindCode(w.kind), w.index);
      if (w.width === TILE_WIDTH) {
        // The digest of the file as part of the tree, in the transaction that makes it part of the tree:
        // a batch that never commits leaves no digest.
        const d = fileDigest(w.data);
        this.#stmt.putDigest.run(kindCode(w.kind), w.index, d);
        this.#written.set(`${kindCode(w.kind)}/${w.index}`, d);
      }
    }
    this.#storeChecked();
    for (const w of partial) this.#stmt.putPartial.run(kindCode(w.kind), w.index, w.width, w.data);
    const rows = this.#entryRows;
    for (const e of entries) if (e.idx >= firstPartial) rows.add(e.idx, e.body);
    rows.flush();
    if (firstPartial > start) this.#stmt.dropEntriesBelow.run(firstPartial);
    this.dropRedundant();
  }

  /** Inside a transaction: the digests found by full checks that have no row yet. */
  #storeChecked(): void {
    for (const u of this.#unstored) this.#stmt.putDigest.run(kindCode(u.kind), u.index, u.digest);
    this.#storing = this.#unstored.length;
  }

  /** After that transaction committed. */
  recorded(): void {
    this.#redundant = [];
    this.#unstored.splice(0, this.#storing);
    this.#storing = 0;
  }

  /**
   * A file's digest after its full check against the tree: kept, and stored in `file_digests` by the
   * next commit. `digest` is the SHA-256 of `data` when its read computed it.
   */
  #checked(kind: Kind, index: number, data: Uint8Array, digest?: Buffer): void {
    const d = digest ?? fileDigest(data);
    this.#digests.set(kind, index, d);
    this.#unstored.push({ kind, index, digest: d });
  }

  /**
   * The `file_digests` rows of full files of the committed tree (rows beyond it cannot exist: each is
   * written by the commit that makes its file part of the tree; they are skipped all the same).
   */
  #storedDigests(): CheckedDigests {
    const out = new CheckedDigests();
    const size = this.#tree.size;
    for (const r of this.#stmt.allDigests.iterate() as Iterable<{ kind: number; tile: number; digest: Uint8Array }>) {
      const kind = kindOf(r.kind);
      if (r.digest.length !== 32 || widthAt(kind, r.tile, size) !== TILE_WIDTH) continue;
      out.set(kind, r.tile, r.digest);
    }
    return out;
  }

  /** Once the commit is durable: its files await a sweep's flush. */
  durable(full: TileWrite[]): void {
    for (const w of full) this.#unsynced.set(this.file(w.kind, w.index, w.width), { kind: w.kind, index: w.index, width: w.width });
  }

  /** Once the log's state is the batch's: the new partial versions and recent files in memory. */
  applied(full: TileWrite[], partial: TileWrite[]): void {
    this.#tailBundle = null;
    for (const w of full) this.#partials.delete(`${kindCode(w.kind)}/${w.index}`);
    for (const w of partial) this.#partials.set(`${kindCode(w.kind)}/${w.index}`, { width: w.width, data: w.data });
    this.#recent = new Map(full.filter((w) => w.width === TILE_WIDTH).map((w) => [fileKey(w.kind, w.index), w.data]));
    // The files this server wrote hold the committed tree's bytes: their later reads are compared with
    // these digests (one SHA-256 of the file, stored by the commit) instead of being hashed up the tree.
    for (const w of full) {
      if (w.width !== TILE_WIDTH) continue;
      this.#digests.set(w.kind, w.index, this.#written.get(`${kindCode(w.kind)}/${w.index}`) ?? fileDigest(w.data));
    }
    this.#written = new Map();
  }

  /** The partial bundle was rebuilt: its encoding is stale. */
  tailChanged(): void {
    this.#tailBundle = null;
  }

  /** The bytes of the committed version of partial tile (level, index), if there is one. */
  partial(level: number, index: number): Uint8Array | undefined {
    return this.#partials.get(`${level}/${index}`)?.data;
  }

  /** Stores partial versions read from files of the older layout as rows (inside the caller's transaction). */
  storeLegacy(partials: LegacyPartial[], tail: Buffer[] | null, first: number): void {
    for (const p of partials) this.#stmt.putPartial.run(kindCode(p.kind), p.index, p.width, p.data);
    (tail ?? []).forEach((b, i) => this.#stmt.putEntry.run(first + i, b));
  }

  file(kind: Kind, index: number, width: number): string {
    // Concatenated, not path.join'ed: the root is already normalized and the C2SP path well-formed, and
    // a join normalizes the whole string again on every tile read.
    return `${this.root}/${resourcePath(kind, index, width)}`;
  }

  /**
   * Writes out, durably, the files of committed batches that may not have reached the disk (their bytes
   * are in `unsynced`), then forgets those rows. Versions a newer committed one superseded are skipped.
   */
  async materializeUnsynced(): Promise<void> {
    const rows = this.#stmt.allUnsynced.all() as { kind: number; tile: number; width: number; data: Uint8Array }[];
    if (rows.length === 0) return;
    const size = this.#tree.size;
    const current = rows.filter((r) => widthAt(kindOf(r.kind), r.tile, size) === r.width);
    try {
      await this.#writer.write(current.map((r) => ({ path: this.file(kindOf(r.kind), r.tile, r.width), data: r.data })));
    } catch (e) {
      throw ioFail(`cannot write the log's tiles under ${this.root}`, e);
    }
    transaction(this.#db, () => this.#db.exec('DELETE FROM unsynced'));
    this.#unsynced.clear();
    this.#redundant = [];
  }

  /**
   * The committed version of a tile (or bundle) at `width`: a partial from memory, a full one from its
   * file. Undefined when absent.
   */
  version(kind: Kind, index: number, width: number): Uint8Array | undefined {
    if (width < TILE_WIDTH && kind === 'entries') {
      const tail = this.#tree.tail;
      if (!tail || tail.length !== width || Math.floor(this.#tree.size / TILE_WIDTH) !== index) return undefined;
      let b = this.#tailBundle;
      if (b?.width !== width) this.#tailBundle = b = { width, data: Buffer.from(encodeEntryBundle(tail)) };
      return b.data;
    }
    if (width < TILE_WIDTH) {
      const p = this.#partials.get(`${kindCode(kind)}/${index}`);
      return p && p.width === width ? p.data : undefined;
    }
    try {
      return readFileSync(this.file(kind, index, width));
    } catch (e) {
      if (isEnoent(e)) return undefined;
      throw ioFail(`cannot read ${resourcePath(kind, index, width)}`, e);
    }
  }

  /**
   * Loads the committed partial versions: from rows, or from files for a log of the older layout, which
   * are returned (for recovery.ts to store as rows).
   */
  loadPartials(size: number): LegacyPartial[] {
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
        const data = readFileSync(this.file(kind, index, width));
        this.#partials.set(key, { width, data });
        legacy.push({ kind, index, width, data });
      } catch (e) {
        if (!isEnoent(e)) throw ioFail(`cannot read ${resourcePath(kind, index, width)}`, e);
      }
    }
    return legacy;
  }

  /** Bodies of the partial bundle: rows of `partial_entries`, or (`legacy`) a bundle file of the older layout. */
  loadTail(size: number): { tail: Buffer[]; legacy: boolean } {
    const w = size % TILE_WIDTH;
    const k = Math.floor(size / TILE_WIDTH);
    if (w === 0) return { tail: [], legacy: false };
    const rows = this.#stmt.entriesFrom.all(k * TILE_WIDTH) as { idx: number; body: Uint8Array }[];
    const tail = rows.filter((r) => r.idx < size).map((r) => Buffer.from(r.body));
    if (tail.length === w && rows.every((r, i) => r.idx === k * TILE_WIDTH + i || r.idx >= size)) return { tail, legacy: false };
    let data: Buffer;
    try {
      data = readFileSync(this.file('entries', k, w));
    } catch (e) {
      if (isEnoent(e)) throw new SignetError('TLOG', `the log's partial entry bundle ${entriesPath(k, w)} is missing`);
      throw ioFail(`cannot read entry bundle ${entriesPath(k, w)}`, e);
    }
    return { tail: decodeEntryBundle(data, w).map((b) => Buffer.from(b)), legacy: true };
  }

  /**
   * Start-up check of the files against the tree: every full tile and bundle exists (one directory
   * listing per directory), and the newest START_CHECK_FILES of each level and of the bundles (with the
   * tiles above them) match it. A failure refuses the start with STORAGE_CORRUPT naming the file.
   */
  async checkFiles(): Promise<void> {
    const size = this.#tree.size;
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
        present = new Set(await fs.readdir(join(this.root, dir)));
      } catch (e) {
        if (!isEnoent(e)) throw ioFail(`cannot list ${join(this.root, dir)}`, e);
        present = new Set();
      }
      for (const name of names) if (!present.has(name)) throw corrupt(join(this.root, dir, name), 'is missing');
    }
    // The newest files are checked against the tree itself (with no digest in memory yet), and their
    // stored digests against them: a `file_digests` row that disagrees with a file the tree vouches for
    // is refused too.
    this.#digests.clear();
    this.#verified.clear();
    const stored = this.#storedDigests();
    const hadRow = new Set<string>();
    for (const kind of kinds) {
      const n = fullCount(kind);
      for (let i = Math.max(0, n - START_CHECK_FILES); i < n; i++) {
        if (kind === 'entries') await this.fullBundle(i);
        else await this.#fullTile(kind, i);
        const row = stored.get(kind, i);
        if (row && !hashEquals(row, this.#digests.get(kind, i)!)) {
          throw corrupt(`${join(this.root, '..', 'log.sqlite')} (table file_digests, ${resourcePath(kind, i, TILE_WIDTH)})`, 'holds a digest that does not match the file the tree vouches for');
        }
        if (row) hadRow.add(`${kindCode(kind)}/${i}`);
        else stored.set(kind, i, this.#digests.get(kind, i)!);
      }
    }
    // Rows that exist need not be written again.
    this.#unstored = this.#unstored.filter((u) => !hadRow.has(`${kindCode(u.kind)}/${u.index}`));
    // Each tile is checked again on its first read, against its stored digest where it has one, so a file
    // changed while the log runs (or while it was stopped) is caught there.
    this.#verified.clear();
    this.#digests = stored;
  }

  /** Deletes, inside the caller's transaction, the `unsynced` rows of files a sweep has flushed. */
  dropRedundant(): void {
    for (const r of this.#redundant) this.#stmt.dropUnsynced.run(kindCode(r.kind), r.index, r.width);
  }

  cacheMetrics(): TileCacheMetrics {
    return { tiles: this.#verified.size, capacity: this.#verified.capacity, hits: this.#cacheHits, misses: this.#cacheMisses };
  }

  /**
   * Flushes the files written since the last sweep, on a thread of its own, when enough have gathered; their
   * rows are deleted by the next commit. A failed sweep leaves them for the next one (or the next start).
   */
  maybeSweep(force = false): Promise<void> {
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
  async read(kind: Kind, index: number, width: number, forProof = false): Promise<Buffer | null> {
    for (let attempt = 0; ; attempt++) {
      const size = this.#tree.size;
      const have = widthAt(kind, index, size);
      if (have < width) return null;
      let data: Uint8Array;
      if (have === TILE_WIDTH) {
        // A checked tile in memory without another async step (the common read of a hot tile).
        if (kind === 'entries') data = (await this.fullBundle(index)).data;
        else {
          const hit = this.#verified.get(fileKey(kind, index));
          if (hit) this.#cacheHits++;
          data = hit ?? (await this.#fullTile(kind, index, forProof));
        }
      } else {
        const mem = this.version(kind, index, have);
        if (!mem) {
          if (this.#tree.size !== size && attempt < 5) continue;
          throw new SignetError('TLOG', `the log is missing its partial ${resourcePath(kind, index, have)}`);
        }
        data = mem;
      }
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (have === width) return buf;
      return buf.subarray(0, kind === 'entries' ? bundlePrefixLength(buf, width) : width * 32);
    }
  }

  /**
   * The bytes of a full tile or bundle: from memory when the last batch wrote it (computed here, not
   * read back), else from its file. A missing file is corruption: full files are never removed.
   * `withDigest`: the caller compares or records the file's SHA-256, which a native read computes in
   * the same call (`digest`; absent otherwise, and the caller hashes `data`).
   */
  async #readFull(kind: Kind, index: number, path: string, withDigest: boolean): Promise<{ data: Uint8Array; fromDisk: boolean; digest?: Buffer }> {
    const recent = this.#recent.get(fileKey(kind, index));
    if (recent) return { data: recent, fromDisk: false };
    try {
      const small = readSmallFile(path, withDigest);
      return small ? { data: small.data, fromDisk: true, digest: small.digest } : { data: await fs.readFile(path), fromDisk: true };
    } catch (e) {
      throw readFailure(path, kind, index, e);
    }
  }

  /**
   * A full tile, checked against the hash the tile above holds for it (itself checked the same way, up
   * to a partial tile, which the committed root vouches for): STORAGE_CORRUPT naming the file otherwise.
   * Checked tiles are kept (#verified), so the tiles above are read and hashed about once.
   */
  async #fullTile(level: number, index: number, forProof = false): Promise<Uint8Array> {
    const key = fileKey(level, index);
    const hit = this.#verified.get(key);
    if (hit) {
      this.#cacheHits++;
      return hit;
    }
    this.#cacheMisses++;
    const path = this.file(level, index, TILE_WIDTH);
    // A proof expands the tile right after this (its 255 interior hashes): hashing it up to the hash its
    // parent holds computes exactly those (integrity.ts keeps them for the expansion), so where that
    // parent is in memory the tree check costs nothing more, and the digest would be extra work (not even
    // computed by the read when it is known already). A full tile's hash in its parent never changes.
    const above = forProof ? this.#hashAboveInMemory(level, index) : undefined;
    const { data, fromDisk, digest } = await this.#readFull(level, index, path, !(above && this.#digests.get(level, index)));
    if (!fromDisk) return data;
    const checked = this.#digests.get(level, index);
    if (above) {
      const problem = hashTileProblem(data, above);
      if (problem) throw corrupt(path, problem);
      if (!checked) this.#checked(level, index, data, digest);
    } else if (checked) {
      // Checked against the tree before, and its bytes since evicted: the same bytes, or a changed file.
      checkRecorded(path, data, checked, digest);
    } else {
      const problem = hashTileProblem(data, await this.#hashAbove(level, index));
      if (problem) throw corrupt(path, problem);
      this.#checked(level, index, data, digest);
    }
    this.#verified.set(key, data);
    return data;
  }

  /** The hash that tile `level + 1` holds for full tile (level, index) when that tile is in memory (partial, or checked). */
  #hashAboveInMemory(level: number, index: number): Uint8Array | undefined {
    const parent = Math.floor(index / TILE_WIDTH);
    const pos = index % TILE_WIDTH;
    const partial = this.#partials.get(`${level + 1}/${parent}`);
    if (partial) return partial.width > pos ? hashAt(partial.data, pos) : undefined;
    const full = this.#verified.get(fileKey(level + 1, parent)) ?? this.#recent.get(fileKey(level + 1, parent));
    return full ? hashAt(full, pos) : undefined;
  }

  /** The hash that tile `level + 1` holds for full tile (level, index): the root that tile must hash to. */
  async #hashAbove(level: number, index: number): Promise<Uint8Array> {
    const parent = Math.floor(index / TILE_WIDTH);
    const pos = index % TILE_WIDTH;
    const partial = this.#partials.get(`${level + 1}/${parent}`);
    if (partial && partial.width > pos) return hashAt(partial.data, pos);
    const width = widthAt(level + 1, parent, this.#tree.size);
    if (width < TILE_WIDTH) throw new SignetError('TLOG', `the log is missing its partial ${resourcePath(level + 1, parent, width)}`);
    return hashAt(await this.#fullTile(level + 1, parent), pos);
  }

  /**
   * A full entry bundle and its entries, each checked against its leaf hash in the level-0 tile:
   * STORAGE_CORRUPT naming the file otherwise.
   */
  async fullBundle(index: number): Promise<{ data: Uint8Array; entries: Uint8Array[] }> {
    const path = this.file('entries', index, TILE_WIDTH);
    const { data, fromDisk, digest } = await this.#readFull('entries', index, path, true);
    if (!fromDisk) return { data, entries: decodeEntryBundle(data, TILE_WIDTH) };
    // A bundle checked before is compared with its digest: one SHA-256 instead of 256 leaf hashes and a
    // read of its level-0 tile.
    const known = this.#digests.get('entries', index);
    if (known) {
      checkRecorded(path, data, known, digest);
      return { data, entries: decodeEntryBundle(data, TILE_WIDTH) };
    }
    const checked = checkBundle(data, TILE_WIDTH, await this.#fullTile(0, index));
    if ('problem' in checked) throw corrupt(path, checked.problem);
    this.#checked('entries', index, data, digest);
    return { data, entries: checked.entries };
  }

  /**
   * Entry `j` of full bundle `index`, checked against its leaf hash in the level-0 tile (one entry's
   * check costs less than hashing the whole file): STORAGE_CORRUPT naming the file otherwise.
   */
  async bundleEntry(index: number, j: number): Promise<Uint8Array> {
    const recent = this.#recent.get(fileKey('entries', index));
    if (recent) return bundleEntryAt(recent, TILE_WIDTH, j);
    // The entry's proof comes next, through the same level-0 tile.
    const level0 = await this.#fullTile(0, index, true);
    // The bundle is read into the scratch buffer (no allocation per read), as far as entry j ends, and
    // the entry copied out before anything else can run.
    const path = this.file('entries', index, TILE_WIDTH);
    let found: { entry: Uint8Array } | { problem: string };
    try {
      // Only an entry that ends beyond the scratch buffer has its whole bundle read, with an await.
      found = readBundleEntry(path, j, this.#scratch, this.#entryGuess, level0) ?? checkBundleEntry(await fs.readFile(path), TILE_WIDTH, level0, j);
    } catch (e) {
      throw readFailure(path, 'entries', index, e);
    }
    if ('problem' in found) throw corrupt(path, found.problem);
    // The next first read sized by the entries seen (a moving average).
    this.#entryGuess += (found.entry.length + 2 - this.#entryGuess) / 16;
    return Buffer.from(found.entry);
  }


  /** Flushes what the sweeps left and drops the rows of flushed files; best effort, the next start writes out the rest. */
  async closeSweep(): Promise<void> {
    await this.#sweep;
    await this.maybeSweep(true);
    try {
      if (this.#redundant.length > 0 || this.#unstored.length > 0) {
        transaction(this.#db, () => {
          this.dropRedundant();
          this.#storeChecked();
        });
        this.recorded();
      }
    } catch {
      // left for the next start
    }
  }

  async closeWriters(): Promise<void> {
    await this.#writer.close();
    await this.#flusher.close();
  }
}
