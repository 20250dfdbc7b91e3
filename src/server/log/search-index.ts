/**
 * The embedded log's search index (leaf hash → index, search key → indexes) as a log-structured index:
 * sorted runs, immutable SQLite files under <dir>/index each covering a range of entries (index-runs.ts),
 * listed in log.sqlite's `index_runs` (the manifest), and the newest rows in memory.
 *
 * Why: the index used to be one B-tree (index.sqlite) taking random inserts; past a million entries each
 * row dirtied a page of its own and writes slowed by a third. A run is written once, in key order.
 *
 * A batch's commit records its index rows as one packed, sequential `index_journal` row in log.sqlite
 * (flushed with it, see `journal`); they are served from memory at once (lookups, searches and the
 * duplicate check see them), and within a second (or past 8192 entries) the pending rows are written as a
 * new run by a worker thread — flushed and renamed into place before the manifest lists it, in the
 * transaction that drops the journal rows it covers. Runs of similar size are merged, FAN_IN at a time
 * (pickMerge), on two other worker threads, small merges on one and large ones on the other; the merged run replaces its inputs in one manifest transaction and the
 * inputs are deleted once that is durable. A lookup asks the runs oldest first (a Bloom filter per run
 * skips those that cannot hold a leaf hash), then the rows in memory, so it is exact at every moment:
 * the manifest always lists each entry's rows exactly once, and a file it does not list (a build or
 * merge cut short, a copy taken mid-merge) is deleted on start.
 *
 * On start (`recover`) the journal's batches past the runs are replayed into a run, and an older
 * layout's index (index.sqlite, or tables in log.sqlite) becomes the first run.
 */
import { promises as fs, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { randomBytes } from 'node:crypto';
import { SignetError } from '../../errors.js';
import { Run, RunWorker } from './index-runs.js';
import { corrupt } from './integrity.js';
import { ioFail, transaction } from './io.js';

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

/** The index file of the older layout (one B-tree), migrated into a run on open. */
export const INDEX_DB = 'index.sqlite';
/** Where the runs are, under the data directory. */
export const INDEX_RUNS_DIR = 'index';
/** Its tables in log.sqlite: the journal and the manifest of runs. */
export const INDEX_SCHEMA = `
CREATE TABLE IF NOT EXISTS index_journal (start INTEGER PRIMARY KEY, rows BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS index_runs (lo INTEGER PRIMARY KEY, hi INTEGER NOT NULL, name TEXT NOT NULL);
`;
/**
 * Pending rows are written as a run this long after, or at once past this many entries. Longer means
 * fewer, larger runs (fewer merges) and more rows held in memory. 250 ms made runs of a few hundred
 * entries under load, each with its flushes and a level of merges more: the run threads' CPU per written
 * entry halved at 1 s (wrk, 256 connections, fresh log: 32-34 µs → 17-20, load average 12).
 */
const INDEX_APPLY_MS = 1000;
const INDEX_APPLY_ENTRIES = 8192;
/** Runs merged at once, when that many neighbours are of one size tier (size within a factor FAN_IN). */
const FAN_IN = 4;
/**
 * The merge threads' scheduling priority (Linux nice): under load a merge (minutes for the largest at 10M
 * entries) yields the cores to the request path, and catches up when writes pause. The runs it leaves
 * meanwhile cost a Bloom filter probe each per lookup.
 */
const MERGE_NICE = 10;
/** Merges whose run is of this tier or above (base × FAN_IN² entries and more) run on a thread of their own. */
const LARGE_TIER = 3;
/** Runs merged at once at most (SQLite attaches at most 10 databases by default). */
const MAX_MERGE = 2 * FAN_IN;

export interface SearchIndexOptions {
  /** Entries after which pending rows become a run at once (default 8192). */
  runEntries?: number;
  /** Milliseconds after which pending rows become a run (default 1000; Infinity: only past runEntries, on close or on start). */
  applyMs?: number;
  /** Called when a merge's file is complete, before the manifest lists it (tests copy the data dir here). */
  beforeMergeCommit?: (merged: { lo: number; hi: number }) => Promise<void>;
  /**
   * The merge threads' nice steps, 0–19 (default MERGE_NICE). A test of merge scheduling sets 0: with other
   * work on the machine, niced threads can get too little CPU for its merges to finish in its time.
   */
  mergeNice?: number;
}

type Db = typeof DatabaseSync;

/** A merge thread, and the merge it runs. */
interface MergeLane {
  readonly large: boolean;
  readonly worker: RunWorker;
  busy: Promise<void> | null;
  /** The runs being merged. */
  group: Run[] | null;
  /** When its last merge failed (performance.now()), 0 when it did not. */
  failedAt: number;
}

export class SearchIndex {
  readonly #db: DatabaseSync;
  readonly #Database: Db;
  readonly #dir: string;
  readonly #runsDir: string;
  readonly #syncLog: () => Promise<void>;
  readonly #opts: SearchIndexOptions;
  readonly #stmt: {
    journal: StatementSync;
    dropJournalBelow: StatementSync;
    addRun: StatementSync;
    dropRun: StatementSync;
  };
  readonly #builder: RunWorker;
  /** The runs, oldest (lowest range) first; contiguous from 0 to #indexed. */
  #runs: Run[] = [];
  /** The log size up to which runs hold the index rows. */
  #indexed = 0;
  /**
   * Committed batches whose index rows are not yet in a run (they are in `index_journal`), and those
   * rows in memory for lookups: leaf hash (latin1) → index, search key → indexes.
   */
  #pending: IndexBatch[] = [];
  #pendingLeaves = new Map<string, number>();
  #pendingSearch = new Map<string, number[]>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** `index_journal` rows below this start are already deleted. */
  #journalFloor = 0;
  #flushing: Promise<void> | null = null;
  /** The merge threads: small merges and large ones (see #maybeMerge). */
  readonly #lanes: MergeLane[];
  #closed = false;

  /**
   * `db` is log.sqlite with INDEX_SCHEMA created, `Database` node:sqlite's class, `dir` the data
   * directory; `syncLog` makes log.sqlite's committed transactions durable.
   */
  constructor(db: DatabaseSync, Database: Db, dir: string, syncLog: () => Promise<void>, opts: SearchIndexOptions = {}) {
    this.#db = db;
    this.#Database = Database;
    this.#dir = dir;
    this.#runsDir = join(dir, INDEX_RUNS_DIR);
    this.#syncLog = syncLog;
    this.#opts = opts;
    this.#builder = new RunWorker(join(dir, 'tmp'));
    // Merges can wait: they take the CPU that writes and reads leave (see MERGE_NICE).
    this.#lanes = [false, true].map((large) => ({ large, worker: new RunWorker(join(dir, 'tmp'), opts.mergeNice ?? MERGE_NICE), busy: null, group: null, failedAt: 0 }));
    this.#stmt = {
      journal: db.prepare('INSERT INTO index_journal (start, rows) VALUES (?, ?)'),
      dropJournalBelow: db.prepare('DELETE FROM index_journal WHERE start < ?'),
      addRun: db.prepare('INSERT INTO index_runs (lo, hi, name) VALUES (?, ?, ?)'),
      dropRun: db.prepare('DELETE FROM index_runs WHERE lo = ?'),
    };
  }

  /** The log size up to which the index is durable in runs. */
  get durable(): number {
    return this.#indexed;
  }

  /** The runs' ranges, oldest first (for tests and metrics). */
  get runs(): { lo: number; hi: number }[] {
    return this.#runs.map((r) => ({ lo: r.lo, hi: r.hi }));
  }

  /** The first index of a leaf hash: from the runs, oldest first, then the rows in memory. */
  lookup(leafHash: Buffer): number | undefined {
    for (const r of this.#runs) {
      const idx = r.leaf(leafHash);
      if (idx !== undefined) return idx;
    }
    return this.#pendingLeaves.get(leafHash.toString('latin1'));
  }

  /** Indexes for one search key, ascending: the runs cover ascending ranges, the rows in memory follow. */
  search(key: string): number[] {
    const out: number[] = [];
    for (const r of this.#runs) for (const idx of r.search(key)) out.push(idx);
    const pending = this.#pendingSearch.get(key);
    if (pending) for (const idx of pending) out.push(idx);
    return out;
  }

  /** Indexes of the leaf hashes already in the log (keyed by the hash as a latin1 string). */
  known(hashes: Buffer[]): Map<string, number> {
    const out = new Map<string, number>();
    for (const h of hashes) {
      const idx = this.lookup(h);
      if (idx !== undefined) out.set(h.toString('latin1'), idx);
    }
    return out;
  }

  /**
   * Inside a commit's transaction: the batch's index rows as one journal row, and the journal rows
   * below `durable` (the value of `durable` when the batch began) deleted.
   */
  journal(start: number, rows: IndexEntry[], durable: number): void {
    this.#stmt.journal.run(start, encodeIndexRows(rows));
    if (durable > this.#journalFloor) this.#stmt.dropJournalBelow.run(durable);
  }

  /** After that transaction committed: its rows are served from memory until a run holds them. */
  committed(batch: IndexBatch, durable: number): void {
    this.#journalFloor = Math.max(this.#journalFloor, durable);
    this.#queue(batch);
    this.#schedule();
  }

  /** Writes the pending rows as a run now (bulk appends); rejects when that fails (they stay journaled). */
  async flushNow(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    while (this.#pending.length > 0) {
      await this.#flushing;
      if (this.#pending.length === 0) break;
      if (!(await this.#flush())) throw new SignetError('IO', `cannot write the search index under ${this.#runsDir}`);
    }
  }

  /**
   * Start-up: opens the runs the manifest lists (deleting files it does not), turns an older layout's
   * index into the first run, replays the journal's batches past the runs, and drops the journal rows
   * the runs cover.
   */
  async recover(size: number): Promise<void> {
    const db = this.#db;
    try {
      await fs.mkdir(this.#runsDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw ioFail(`cannot create ${this.#runsDir}`, e);
    }
    const rows = db.prepare('SELECT lo, hi, name FROM index_runs ORDER BY lo').all() as { lo: number; hi: number; name: string }[];
    const listed = new Set(rows.map((r) => r.name));
    try {
      for (const f of await fs.readdir(this.#runsDir)) if (!listed.has(f)) await fs.rm(join(this.#runsDir, f), { force: true });
    } catch (e) {
      throw ioFail(`cannot clean up ${this.#runsDir}`, e);
    }
    let next = 0;
    for (const r of rows) {
      const path = join(this.#runsDir, r.name);
      if (r.lo !== next) throw corrupt(path, `starts at entry ${r.lo}, where the runs before it end at ${next}`);
      if (!existsSync(path)) throw corrupt(path, 'is missing');
      let run: Run;
      try {
        run = new Run(this.#Database, path);
      } catch (e) {
        throw corrupt(path, `cannot be read as a run of the search index (${(e as Error).message})`);
      }
      if (run.lo !== r.lo || run.hi !== r.hi) {
        run.close();
        throw corrupt(path, `holds entries ${run.lo}..${run.hi}, not ${r.lo}..${r.hi} as listed`);
      }
      this.#runs.push(run);
      next = r.hi;
    }
    this.#indexed = next;
    if (next > size) throw new SignetError('TLOG', `the search index under ${this.#runsDir} covers ${next} entries, more than the log's ${size}; restore the data directory from a backup`);

    // Older layouts: the index in log.sqlite, or in index.sqlite.
    const legacyTables = (db.prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name IN ('leaves', 'search')").all() as { name: string }[]).map(
      (r) => r.name,
    );
    const ixPath = join(this.#dir, INDEX_DB);
    if (this.#runs.length === 0 && size > 0) {
      if (legacyTables.length > 0) {
        const leaves = legacyTables.includes('leaves') ? (db.prepare('SELECT leaf_hash, idx FROM main.leaves WHERE idx < ?').all(size) as { leaf_hash: Uint8Array; idx: number }[]) : [];
        const search = legacyTables.includes('search') ? (db.prepare('SELECT key, idx FROM main.search WHERE idx < ?').all(size) as { key: string; idx: number }[]) : [];
        await this.#addRun(0, size, async (out) => {
          await this.#builder.run({ op: 'build', lo: 0, hi: size, ...packRows(leaves.map((r) => [r.leaf_hash, r.idx]), search.map((r) => [r.key, r.idx])), out });
        });
      } else if (existsSync(ixPath)) {
        await this.#addRun(0, size, async (out) => {
          await this.#lanes[1]!.worker.run({ op: 'merge', lo: 0, hi: size, inputs: [ixPath], legacy: true, out });
        });
      }
    }
    if (this.#runs.length === 0 && size > 0) {
      const first = (db.prepare('SELECT min(start) AS start FROM index_journal').get() as { start: number | null }).start;
      if (first !== 0) {
        throw new SignetError('TLOG', `the log in ${this.#dir} has ${size} entries but its search index (${this.#runsDir}) is missing; restore it from a backup`);
      }
    }
    const indexed = this.#indexed;
    if (indexed < size) {
      const jr = db.prepare('SELECT start, rows FROM index_journal WHERE start >= ? AND start < ? ORDER BY start').all(indexed, size) as { start: number; rows: Uint8Array }[];
      const incomplete = (): never => {
        throw new SignetError('TLOG', `the search index under ${this.#runsDir} covers ${indexed} of the log's ${size} entries and the journal to rebuild it is incomplete; restore it from a backup`);
      };
      let at = indexed;
      const batches = jr.map((r) => ({ start: r.start, entries: decodeIndexRows(r.rows) }));
      for (const b of batches) {
        if (b.start !== at) incomplete();
        at += b.entries.length;
      }
      if (at !== size) incomplete();
      for (const b of batches) this.#queue(b);
      await this.flushNow();
    }
    transaction(db, () => this.#stmt.dropJournalBelow.run(this.#indexed));
    this.#journalFloor = this.#indexed;
    if (legacyTables.length > 0 || existsSync(ixPath)) {
      // Only once the runs replacing them are durable do the older layout's copies go.
      await this.#syncLog();
      transaction(db, () => {
        for (const t of legacyTables) db.exec(`DROP TABLE main.${t}`);
      });
      for (const f of [ixPath, `${ixPath}-wal`, `${ixPath}-shm`]) await fs.rm(f, { force: true });
    }
  }

  /** Has `make` write a run of [lo, hi) to a new file, then lists it (and drops the journal it covers). */
  async #addRun(lo: number, hi: number, make: (out: string) => Promise<void>): Promise<Run> {
    const name = `run-${lo}-${hi}-${randomBytes(4).toString('hex')}.sqlite`;
    const path = join(this.#runsDir, name);
    await make(path);
    const run = new Run(this.#Database, path);
    try {
      transaction(this.#db, () => {
        this.#stmt.addRun.run(run.lo, run.hi, name);
        this.#stmt.dropJournalBelow.run(run.hi);
      });
    } catch (e) {
      run.close();
      await fs.rm(path, { force: true });
      throw e;
    }
    this.#runs.push(run);
    this.#indexed = run.hi;
    this.#journalFloor = Math.max(this.#journalFloor, run.hi);
    return run;
  }

  /** Adds a committed batch's index rows to the pending ones (and to the in-memory lookups). */
  #queue(batch: IndexBatch): void {
    this.#pending.push(batch);
    batch.entries.forEach((e, j) => {
      const lk = e.leafHash.toString('latin1');
      if (!this.#pendingLeaves.has(lk)) this.#pendingLeaves.set(lk, batch.start + j);
      for (const key of e.indexKeys) {
        const l = this.#pendingSearch.get(key);
        if (l) l.push(batch.start + j);
        else this.#pendingSearch.set(key, [batch.start + j]);
      }
    });
  }

  /** Writes the pending batches as a run soon: at once past runEntries, else after INDEX_APPLY_MS. */
  #schedule(): void {
    if (this.#closed || this.#pending.length === 0) return;
    const n = this.#pending.reduce((s, b) => s + b.entries.length, 0);
    const delay = n >= (this.#opts.runEntries ?? INDEX_APPLY_ENTRIES) ? 0 : (this.#opts.applyMs ?? INDEX_APPLY_MS);
    if (!Number.isFinite(delay)) return;
    if (this.#timer && delay > 0) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#closed && !this.#flushing) void this.#flush();
    }, delay);
    // Nothing is lost if the process ends first: the rows are journaled.
    this.#timer.unref();
  }

  /**
   * Writes the pending batches as a run (on the builder thread), lists it, and drops those batches from
   * memory. False when that failed: they stay pending (and journaled) and are tried again later.
   */
  #flush(): Promise<boolean> {
    const batches = this.#pending.slice();
    if (batches.length === 0) return Promise.resolve(true);
    const lo = batches[0]!.start;
    const last = batches[batches.length - 1]!;
    const hi = last.start + last.entries.length;
    const leaves: [Uint8Array, number][] = [];
    const search: [string, number][] = [];
    for (const b of batches) {
      b.entries.forEach((e, j) => {
        leaves.push([e.leafHash, b.start + j]);
        for (const k of e.indexKeys) search.push([k, b.start + j]);
      });
    }
    const p = this.#addRun(lo, hi, (out) => this.#builder.run({ op: 'build', lo, hi, ...packRows(leaves, search), out })).then(
      () => {
        this.#pending = this.#pending.slice(batches.length);
        this.#pendingLeaves = new Map();
        this.#pendingSearch = new Map();
        const rest = this.#pending;
        this.#pending = [];
        for (const b of rest) this.#queue(b);
        this.#maybeMerge();
        return true;
      },
      () => false,
    );
    this.#flushing = p.then(() => undefined);
    return p.finally(() => {
      this.#flushing = null;
      // Batches that came meanwhile, or a failed flush: again later.
      if (this.#pending.length > 0 && !this.#closed) this.#schedule();
    });
  }

  /**
   * Starts the merges due (pickMerge), one at a time per lane: merges of up to LARGE_TIER's size on one
   * thread, larger ones on another, so that the small runs new rows make keep being merged while a large
   * merge (minutes at 10M entries) runs, and do not pile up meanwhile. A lane takes only runs the other
   * lane's merge does not hold.
   */
  #maybeMerge(): void {
    if (this.#closed) return;
    const base = this.#opts.runEntries ?? INDEX_APPLY_ENTRIES;
    for (const lane of this.#lanes) {
      if (lane.busy || (lane.failedAt > 0 && performance.now() - lane.failedAt < 10_000)) continue;
      const runs = this.#runs;
      const held = this.#lanes.find((l) => l !== lane)!.group;
      const ranges: [number, number][] = [];
      if (held) {
        const from = runs.indexOf(held[0]!);
        ranges.push([from + held.length, runs.length], [0, from]);
      } else ranges.push([0, runs.length]);
      const sizes = runs.map((r) => r.hi - r.lo);
      let group: Run[] | null = null;
      for (const [a, b0] of ranges) {
        // The smallest tier's merge first; one for the other lane leaves the runs before it to this one.
        for (let b = b0; b > a && !group; ) {
          const pick = pickMerge(sizes.slice(a, b), base);
          if (!pick) break;
          const entries = sizes.slice(a + pick[0], a + pick[1]).reduce((x, y) => x + y, 0);
          if ((runTier(entries, base) >= LARGE_TIER) === lane.large) group = runs.slice(a + pick[0], a + pick[1]);
          else b = a + pick[0];
        }
        if (group) break;
      }
      if (group) this.#merge(lane, group);
    }
  }

  /** Merges `inputs` (neighbouring runs) into one on `lane`'s thread, and lists it in their place. */
  #merge(lane: MergeLane, inputs: Run[]): void {
    const lo = inputs[0]!.lo;
    const hi = inputs[inputs.length - 1]!.hi;
    const name = `run-${lo}-${hi}-${randomBytes(4).toString('hex')}.sqlite`;
    const path = join(this.#runsDir, name);
    const work = async (): Promise<void> => {
      await lane.worker.run({ op: 'merge', lo, hi, inputs: inputs.map((r) => r.path), out: path });
      await this.#opts.beforeMergeCommit?.({ lo, hi });
      if (this.#closed) return; // the file is not listed: deleted on the next start
      const run = new Run(this.#Database, path);
      try {
        transaction(this.#db, () => {
          for (const r of inputs) this.#stmt.dropRun.run(r.lo);
          this.#stmt.addRun.run(lo, hi, name);
        });
      } catch (e) {
        run.close();
        throw e;
      }
      const at = this.#runs.indexOf(inputs[0]!);
      this.#runs = [...this.#runs.slice(0, at), run, ...this.#runs.slice(at + inputs.length)];
      lane.group = null;
      for (const r of inputs) r.close();
      // The inputs go once the manifest without them is durable (until then a power cut restores it).
      await this.#syncLog();
      for (const r of inputs) await fs.rm(r.path, { force: true }).catch(() => undefined);
    };
    lane.group = inputs;
    lane.busy = work()
      .then(
        () => {
          lane.failedAt = 0;
        },
        async () => {
          lane.failedAt = performance.now();
          await fs.rm(path, { force: true }).catch(() => undefined);
        },
      )
      .finally(() => {
        lane.busy = null;
        lane.group = null;
        this.#maybeMerge();
      });
  }

  /** Waits for the merges due now (tests). */
  async settle(): Promise<void> {
    await this.#flushing;
    for (let busy = this.#lanes.find((l) => l.busy); busy; busy = this.#lanes.find((l) => l.busy)) await busy.busy;
  }

  /** Ends background work: the log is closing. */
  stop(): void {
    this.#closed = true;
  }

  /** Writes what is pending as a run (best effort: the rest is replayed on start), and ends the workers. */
  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#closed = true; // no new merge
    // A merge in progress is cut short (its file, unlisted, goes on the next start): a large one may take minutes.
    for (const l of this.#lanes) await l.worker.close();
    await this.#flushing;
    if (this.#pending.length > 0) await this.#flush().catch(() => false);
    for (const l of this.#lanes) await l.busy;
    await this.closeWorkers();
  }

  async closeWorkers(): Promise<void> {
    this.#closed = true;
    for (const r of this.#runs) r.close();
    await this.#builder.close();
    for (const l of this.#lanes) await l.worker.close();
  }
}

/**
 * The size tier of a run of `entries` entries: 0 up to `base` entries, then one tier per factor FAN_IN.
 */
export function runTier(entries: number, base: number): number {
  return Math.max(0, Math.ceil(Math.log(entries / base) / Math.log(FAN_IN) - 1e-9));
}

/**
 * Which runs to merge, given their sizes oldest first: [from, to) or null. The smallest tier t that has
 * FAN_IN runs of its own among the newest runs of tier t or lower: those newest runs, oldest first (at most
 * MAX_MERGE of them). So a tier holds fewer than FAN_IN runs once merges
 * have caught up, and an entry is merged about once per tier (log_FAN_IN of the log's size): a large run is
 * never merged again with a few small ones, which rewrote it (and most of the index) every few seconds.
 */
export function pickMerge(sizes: number[], base: number): [number, number] | null {
  const tiers = sizes.map((n) => runTier(n, base));
  const top = tiers.reduce((m, t) => Math.max(m, t), 0);
  for (let t = 0; t <= top; t++) {
    let start = sizes.length;
    let same = 0;
    while (start > 0 && tiers[start - 1]! <= t) {
      start--;
      if (tiers[start] === t) same++;
    }
    if (same >= FAN_IN) return [start, Math.min(sizes.length, start + MAX_MERGE)];
  }
  return null;
}

/** Rows for a build job, packed for transfer to the worker. */
function packRows(leaves: [Uint8Array, number][], search: [string, number][]): { leafHashes: Uint8Array; leafIdx: Float64Array; keys: string[]; keyIdx: Float64Array } {
  const leafHashes = new Uint8Array(leaves.length * 32);
  const leafIdx = new Float64Array(leaves.length);
  leaves.forEach(([h, i], j) => {
    leafHashes.set(h, j * 32);
    leafIdx[j] = i;
  });
  return { leafHashes, leafIdx, keys: search.map((s) => s[0]), keyIdx: Float64Array.from(search, (s) => s[1]) };
}
