/**
 * Rekor v1 SETs kept once signed (embedded storage): a read of an entry serves the SET its write signed
 * instead of signing again. Table `entry_sets` of log.sqlite, one row per entry: the bytes the HTTP layer
 * hands over (its seal and the signature; http/rekor.ts checks the seal before it serves one, and signs
 * afresh when the row is missing or does not check). ~90 bytes of row per entry with an ECDSA P-256 key.
 *
 * Only writes' SETs are kept (a read's is cached in memory by the HTTP layer, not stored).
 * Rows are written by the next commit's transaction (embedded.ts #commit), so a write's answer never
 * waits for them, or, on a log with no commit for a second, by a transaction of their own followed by the
 * WAL flush. A crash loses at most the SETs of the last second's answers, which a read then signs again
 * (an equally valid SET over the same payload). Rows exist only for committed entries: the HTTP layer
 * signs after the commit.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { transaction } from './io.js';

export const SET_SCHEMA = `
CREATE TABLE IF NOT EXISTS entry_sets (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
`;

/** Rows wait at most this long for a commit to carry them before they are written on their own. */
const IDLE_FLUSH_MS = 1000;

export class SetStore {
  readonly #db: DatabaseSync;
  readonly #put: StatementSync;
  readonly #get: StatementSync;
  /** Makes a transaction durable (the WAL's fdatasync). */
  readonly #flushWal: () => Promise<void>;
  #queued: { index: number; data: Uint8Array }[] = [];
  /** How many of #queued the transaction under way writes (dropped once it committed). */
  #storing = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  /**
   * The lowest index with a row (or queued): a log imported in bulk has none below its first entry
   * written through the API, and a read there costs no query.
   */
  #lowest: number;

  constructor(db: DatabaseSync, flushWal: () => Promise<void>) {
    this.#db = db;
    this.#put = db.prepare('INSERT OR REPLACE INTO entry_sets (idx, data) VALUES (?, ?)');
    this.#get = db.prepare('SELECT data FROM entry_sets WHERE idx = ?');
    this.#flushWal = flushWal;
    const low = (db.prepare('SELECT min(idx) AS low FROM entry_sets').get() as { low: number | null } | undefined)?.low;
    this.#lowest = low ?? Number.POSITIVE_INFINITY;
  }

  /** Keeps the SET of committed entry `index`: written by the next commit (or within a second). */
  keep(index: number, data: Uint8Array): void {
    if (this.#closed) return;
    this.#queued.push({ index, data });
    if (index < this.#lowest) this.#lowest = index;
    if (!this.#timer) {
      this.#timer = setTimeout(() => void this.#idleFlush(), IDLE_FLUSH_MS);
      this.#timer.unref();
    }
  }

  /** The stored bytes of entry `index`'s SET, if any (queued ones are not looked up: their signer caches them). */
  get(index: number): Uint8Array | undefined {
    if (index < this.#lowest) return undefined;
    const row = this.#get.get(index) as { data: Uint8Array } | undefined;
    return row?.data;
  }

  /** Inside a commit's transaction: the queued rows. */
  store(): void {
    for (const q of this.#queued) this.#put.run(q.index, q.data);
    this.#storing = this.#queued.length;
  }

  /** After that transaction committed. */
  stored(): void {
    this.#queued.splice(0, this.#storing);
    this.#storing = 0;
  }

  /** Rows no commit carried within IDLE_FLUSH_MS: a transaction of their own, then the WAL flush. */
  async #idleFlush(): Promise<void> {
    this.#timer = null;
    if (this.#closed || this.#queued.length === 0) return;
    try {
      transaction(this.#db, () => this.store());
      this.stored();
      await this.#flushWal();
    } catch {
      // Kept for the next commit; a read signs what is not stored.
    }
  }

  /** Writes what is queued (best effort: a SET not stored is signed again when read). */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#queued.length === 0) return;
    try {
      transaction(this.#db, () => this.store());
      this.stored();
    } catch {
      // as above
    }
  }
}
