/**
 * Sorted runs of the embedded log's search index (search-index.ts): each run is an immutable SQLite file
 * under <dir>/index holding the index rows of one range of entries [lo, hi) — `leaves (leaf_hash, idx)`
 * and `search (key, idx)`, both WITHOUT ROWID and filled in key order, so every page is written once,
 * full — and a Bloom filter of its leaf hashes (table `meta`), kept in memory so that the duplicate
 * check of a write costs a B-tree lookup only in the runs that may hold the hash.
 *
 * Runs are built and merged on worker threads of their own (this module, started three times: one builds
 * the runs of new rows, two merge — small merges and large ones, at a lower priority), off the event loop: a new file in <dir>/tmp, flushed, renamed into
 * <dir>/index, its directory flushed. Only then does the main thread list it in log.sqlite's
 * `index_runs` (the manifest), in the same transaction that drops what it replaces: the manifest is the
 * one truth, a file it does not list is an unfinished build or merge and is deleted on start.
 */
import { closeSync, constants as fsc, fsyncSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { JobWorker, type JobReply, niceThisThread } from './job-worker.js';
import { loadSqlite } from './sqlite.js';

type Db = typeof DatabaseSync;
/** node:sqlite's class, loaded without its warning (sqlite.ts): by the caller on the main thread, here on the worker. */
let Sqlite: Db;

/** Bloom filter bits per leaf hash, and probes: ~1% false positives. */
const BLOOM_BITS_PER_KEY = 10;
const BLOOM_PROBES = 7;

const RUN_SCHEMA = `
CREATE TABLE leaves (leaf_hash BLOB NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (leaf_hash, idx)) WITHOUT ROWID;
CREATE TABLE search (key TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (key, idx)) WITHOUT ROWID;
CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 1), lo INTEGER NOT NULL, hi INTEGER NOT NULL, bloom BLOB NOT NULL);
`;

/**
 * The Bloom filter's probe positions for a leaf hash: the hash is already uniformly random, so its own
 * bytes are the probes (double hashing over two 32-bit words), no hashing needed.
 */
function probes(bits: number, h: Uint8Array, each: (bit: number) => boolean, at = 0): boolean {
  const a = ((h[at]! << 24) | (h[at + 1]! << 16) | (h[at + 2]! << 8) | h[at + 3]!) >>> 0;
  const b = (((h[at + 4]! << 24) | (h[at + 5]! << 16) | (h[at + 6]! << 8) | h[at + 7]!) >>> 0) | 1;
  for (let i = 0; i < BLOOM_PROBES; i++) {
    if (!each(((a + Math.imul(i, b)) >>> 0) % bits)) return false;
  }
  return true;
}

export function bloomHas(bloom: Uint8Array, h: Uint8Array): boolean {
  const bits = bloom.length * 8;
  return probes(bits, h, (bit) => (bloom[bit >>> 3]! & (1 << (bit & 7))) !== 0);
}

/** Adds the leaf hash at `at` in `h` (default: `h` itself). */
function bloomAdd(bloom: Uint8Array, h: Uint8Array, at = 0): void {
  const bits = bloom.length * 8;
  probes(
    bits,
    h,
    (bit) => {
      bloom[bit >>> 3]! |= 1 << (bit & 7);
      return true;
    },
    at,
  );
}

/** Leaf hashes read back per query when a merged run's Bloom filter is filled (2 MiB of them). */
const BLOOM_READ_ROWS = 65_536;

/**
 * Adds every leaf hash of the run's `leaves` to `bloom`. Read in key order as one hex string per
 * BLOOM_READ_ROWS rows (SQLite's group_concat), not as an object and a Uint8Array per row, which cost a
 * merge about as much as writing the row. Each query starts past the last hash of the one before; rows
 * it skips there repeat a hash already added. Leaves that are not all 32 bytes (never written so) are
 * read row by row.
 */
function bloomFromLeaves(db: DatabaseSync, bloom: Uint8Array): void {
  const read = db.prepare(
    `SELECT group_concat(hex(leaf_hash), '') AS hex, max(leaf_hash) AS last, count(*) AS n, sum(length(leaf_hash)) AS bytes ` +
      `FROM (SELECT leaf_hash FROM leaves WHERE leaf_hash > ? ORDER BY leaf_hash LIMIT ${BLOOM_READ_ROWS})`,
  );
  let after: Uint8Array = new Uint8Array(0);
  for (;;) {
    const r = read.get(after) as { hex: string | null; last: Uint8Array | null; n: number; bytes: number | null };
    if (r.n === 0 || r.hex === null || r.last === null) return;
    if (r.bytes !== r.n * 32) {
      for (const row of db.prepare('SELECT leaf_hash FROM leaves').iterate() as Iterable<{ leaf_hash: Uint8Array }>) bloomAdd(bloom, row.leaf_hash);
      return;
    }
    const hashes = Buffer.from(r.hex, 'hex');
    for (let at = 0; at < hashes.length; at += 32) bloomAdd(bloom, hashes, at);
    if (r.n < BLOOM_READ_ROWS) return;
    after = r.last;
  }
}

// ---- jobs (main thread → worker) ----

/** A run from rows: leaf hashes (32 bytes each, concatenated) with their indexes, and search rows. */
export interface BuildJob {
  op: 'build';
  id: number;
  lo: number;
  hi: number;
  leafHashes: Uint8Array;
  leafIdx: Float64Array;
  keys: string[];
  keyIdx: Float64Array;
  out: string;
}

/** A run from other runs (adjacent ranges), or from an older layout's index.sqlite (`legacy`, rows below `hi`). */
export interface MergeJob {
  op: 'merge';
  id: number;
  lo: number;
  hi: number;
  inputs: string[];
  legacy?: boolean;
  out: string;
}

export type RunJob = BuildJob | MergeJob;

/** Runs the build and merge jobs on a thread of its own. */
export class RunWorker {
  readonly #jobs: JobWorker<Omit<BuildJob, 'id'> | Omit<MergeJob, 'id'>>;

  /** `nice`: the thread's scheduling priority (Linux), for work that may wait (merges). */
  constructor(tmpDir: string, nice = 0) {
    this.#jobs = new JobWorker(new URL(import.meta.url), { indexRunsTmp: tmpDir, nice }, "the search index's worker");
  }

  run(job: Omit<BuildJob, 'id'> | Omit<MergeJob, 'id'>): Promise<void> {
    const transfer = job.op === 'build' ? [job.leafHashes.buffer as ArrayBuffer, job.leafIdx.buffer as ArrayBuffer, job.keyIdx.buffer as ArrayBuffer] : [];
    return this.#jobs.send(job, transfer);
  }

  async close(): Promise<void> {
    await this.#jobs.terminate();
  }
}

/** An open run: its range, file, Bloom filter and lookups. */
export class Run {
  readonly lo: number;
  readonly hi: number;
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #bloom: Uint8Array;
  readonly #leaf;
  readonly #search;

  constructor(Database: Db, path: string) {
    this.path = path;
    this.#db = new Database(path, { readOnly: true });
    // The OS page cache holds the files; each connection keeps only a small cache of its own.
    this.#db.exec('PRAGMA cache_size = -512');
    const m = this.#db.prepare('SELECT lo, hi, bloom FROM meta WHERE id = 1').get() as { lo: number; hi: number; bloom: Uint8Array } | undefined;
    if (!m) throw new Error(`${path} has no run metadata`);
    this.lo = m.lo;
    this.hi = m.hi;
    this.#bloom = m.bloom;
    this.#leaf = this.#db.prepare('SELECT idx FROM leaves WHERE leaf_hash = ? ORDER BY idx LIMIT 1');
    this.#search = this.#db.prepare('SELECT idx FROM search WHERE key = ? ORDER BY idx');
  }

  mayHave(leafHash: Uint8Array): boolean {
    return bloomHas(this.#bloom, leafHash);
  }

  /** The first index of a leaf hash in this run. */
  leaf(leafHash: Uint8Array): number | undefined {
    if (!bloomHas(this.#bloom, leafHash)) return undefined;
    return (this.#leaf.get(leafHash) as { idx: number } | undefined)?.idx;
  }

  search(key: string): number[] {
    return (this.#search.all(key) as { idx: number }[]).map((r) => r.idx);
  }

  get bloomBytes(): number {
    return this.#bloom.length;
  }

  close(): void {
    try {
      this.#db.close();
    } catch {
      // already closed
    }
  }
}

// ---- worker side ----

function syncPath(path: string): void {
  const fd = openSync(path, fsc.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function newRun(tmp: string): DatabaseSync {
  rmSync(tmp, { force: true });
  const db = new Sqlite(tmp);
  db.exec('PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA page_size = 8192; PRAGMA cache_size = -16384;');
  db.exec(RUN_SCHEMA);
  return db;
}

/** An empty Bloom filter for `count` leaf hashes. */
function newBloom(count: number): Uint8Array {
  return new Uint8Array(Math.max(64, Math.ceil((count * BLOOM_BITS_PER_KEY) / 8)));
}

/**
 * Records the range and the Bloom filter of the run's leaves (`bloom`, where the caller built it from
 * the rows it wrote; else read back from the file), and publishes the file durably.
 */
function finish(db: DatabaseSync, tmp: string, job: { lo: number; hi: number; out: string }, given?: Uint8Array): void {
  let bloom = given;
  if (!bloom) {
    const count = (db.prepare('SELECT count(*) AS n FROM leaves').get() as { n: number }).n;
    bloom = newBloom(count);
    bloomFromLeaves(db, bloom);
  }
  db.prepare('INSERT INTO meta (id, lo, hi, bloom) VALUES (1, ?, ?, ?)').run(job.lo, job.hi, bloom);
  db.close();
  syncPath(tmp);
  mkdirSync(dirname(job.out), { recursive: true });
  renameSync(tmp, job.out);
  syncPath(dirname(job.out));
}

const ROWS_PER_INSERT = 256;

function build(job: BuildJob, tmp: string): void {
  const db = newRun(tmp);
  try {
    db.exec('BEGIN');
    // In key order, so that each B-tree page is filled once.
    const leafOrder = Array.from(job.leafIdx, (_, i) => i);
    // One view per hash, made once (not two per comparison).
    const hashes = Array.from(job.leafIdx, (_, i) => Buffer.from(job.leafHashes.buffer, job.leafHashes.byteOffset + i * 32, 32));
    leafOrder.sort((x, y) => Buffer.compare(hashes[x]!, hashes[y]!) || job.leafIdx[x]! - job.leafIdx[y]!);
    insertMany(db, 'leaves', 'leaf_hash', leafOrder.map((i) => [hashes[i]!, job.leafIdx[i]!]));
    const keyOrder = Array.from(job.keyIdx, (_, i) => i);
    keyOrder.sort((x, y) => (job.keys[x]! < job.keys[y]! ? -1 : job.keys[x]! > job.keys[y]! ? 1 : job.keyIdx[x]! - job.keyIdx[y]!));
    insertMany(db, 'search', 'key', keyOrder.map((i) => [job.keys[i]!, job.keyIdx[i]!]));
    db.exec('COMMIT');
    // The Bloom filter from the job's own leaf hashes (one row each: a (hash, index) pair is never
    // repeated), not read back from the file.
    const n = job.leafIdx.length;
    const bloom = newBloom(n);
    for (let i = 0; i < n; i++) bloomAdd(bloom, job.leafHashes, i * 32);
    finish(db, tmp, job, bloom);
  } catch (e) {
    if (db.isOpen) db.close();
    rmSync(tmp, { force: true });
    throw e;
  }
}

function insertMany(db: DatabaseSync, table: string, col: string, rows: [Buffer | string, number][]): void {
  const stmts = new Map<number, ReturnType<DatabaseSync['prepare']>>();
  for (let at = 0; at < rows.length; at += ROWS_PER_INSERT) {
    const part = rows.slice(at, at + ROWS_PER_INSERT);
    let stmt = stmts.get(part.length);
    if (!stmt) stmts.set(part.length, (stmt = db.prepare(`INSERT OR IGNORE INTO ${table} (${col}, idx) VALUES ${Array(part.length).fill('(?, ?)').join(', ')}`)));
    stmt.run(...part.flat());
  }
}

function merge(job: MergeJob, tmp: string): void {
  const db = newRun(tmp);
  try {
    job.inputs.forEach((p, i) => db.prepare(`ATTACH DATABASE ? AS r${i}`).run(p));
    let hi = job.hi;
    if (job.legacy) {
      // index.sqlite holds the rows of its first `indexed.size` entries (the journal has the rest).
      const row = db.prepare('SELECT size FROM r0.indexed WHERE id = 1').get() as { size: number } | undefined;
      hi = Math.min(hi, row?.size ?? 0);
    }
    const from = (table: string, col: string): string =>
      job.inputs.map((_, i) => `SELECT ${col}, idx FROM r${i}.${table}${job.legacy ? ` WHERE idx >= ${job.lo} AND idx < ${hi}` : ''}`).join(' UNION ALL ');
    db.exec('BEGIN');
    db.exec(`INSERT OR IGNORE INTO leaves (leaf_hash, idx) SELECT leaf_hash, idx FROM (${from('leaves', 'leaf_hash')}) ORDER BY leaf_hash, idx`);
    db.exec(`INSERT OR IGNORE INTO search (key, idx) SELECT key, idx FROM (${from('search', 'key')}) ORDER BY key, idx`);
    db.exec('COMMIT');
    job.inputs.forEach((_, i) => db.exec(`DETACH DATABASE r${i}`));
    finish(db, tmp, { ...job, hi });
  } catch (e) {
    if (db.isOpen) db.close();
    rmSync(tmp, { force: true });
    throw e;
  }
}

async function runWorker(tmpDir: string, nice: number): Promise<void> {
  if (nice !== 0) niceThisThread(nice);
  Sqlite = (await loadSqlite()).DatabaseSync;
  let n = 0;
  parentPort!.on('message', (job: RunJob) => {
    const reply: JobReply = { id: job.id };
    const tmp = join(tmpDir, `ix-${process.pid}-${job.id}-${n++}.tmp`);
    try {
      if (job.op === 'build') build(job, tmp);
      else merge(job, tmp);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      reply.error = { message: err?.message ?? String(e), ...(err?.code ? { code: err.code } : {}) };
    }
    parentPort!.postMessage(reply);
  });
}

const wd = workerData as { indexRunsTmp?: string; nice?: number } | null;
if (!isMainThread && wd?.indexRunsTmp) void runWorker(wd.indexRunsTmp, wd.nice ?? 0);
