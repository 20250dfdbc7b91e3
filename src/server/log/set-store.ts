/**
 * Rekor v1 SETs kept once signed (embedded storage): a read of an entry serves the SET its write (or its
 * bulk import) signed instead of signing again. Table `entry_sets` of log.sqlite, one row per entry: a
 * seal and the signature, ~90 bytes of row with an ECDSA P-256 key.
 *
 * Checked like everything read from disk: the seal is an HMAC, under a key derived from the log's
 * private key, over the entry's index, integrated time and leaf hash and the signature. A row is served
 * only when its seal checks, so bytes changed on disk, or a SET moved to another entry, are never served
 * (the caller signs afresh). Checking costs ~1 µs, where verifying the ECDSA signature would cost more
 * than signing a new one; and only the holder of the log key, who could sign any SET anyway, can seal.
 *
 * Only writes' SETs are kept (a read's is cached in memory by the HTTP layer, not stored).
 * Rows are written by the next commit's transaction (embedded.ts #commit), so a write's answer never
 * waits for them, or, on a log with no commit for a second, by a transaction of their own followed by the
 * WAL flush. A crash loses at most the SETs of the last second's answers, which a read then signs again
 * (an equally valid SET over the same payload). Rows exist only for committed entries: the HTTP layer
 * signs after the commit.
 */
import { type KeyObject, createHmac, timingSafeEqual } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { transaction } from './io.js';
import { PairWriter } from './row-writer.js';

/** What a seal binds a SET to. */
export interface SetEntry {
  index: number;
  integratedTime: number;
  leafHash: Uint8Array;
}

/** Bytes of a seal (a truncated HMAC-SHA256). */
const SEAL_BYTES = 16;

export const SET_SCHEMA = `
CREATE TABLE IF NOT EXISTS entry_sets (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
`;

/** Rows wait at most this long for a commit to carry them before they are written on their own. */
const IDLE_FLUSH_MS = 1000;

export class SetStore {
  readonly #db: DatabaseSync;
  /** Rows of `entry_sets`, several per statement. */
  readonly #rows: PairWriter;
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

  readonly #sealKey: Buffer;
  readonly #head = Buffer.alloc(16);

  constructor(db: DatabaseSync, flushWal: () => Promise<void>, logKey: KeyObject) {
    this.#db = db;
    this.#sealKey = createHmac('sha256', 'signet stored SET seal v1').update(logKey.export({ format: 'der', type: 'pkcs8' })).digest();
    this.#rows = new PairWriter(db, 'entry_sets', 'idx', 'data');
    this.#get = db.prepare('SELECT data FROM entry_sets WHERE idx = ?');
    this.#flushWal = flushWal;
    const low = (db.prepare('SELECT min(idx) AS low FROM entry_sets').get() as { low: number | null } | undefined)?.low;
    this.#lowest = low ?? Number.POSITIVE_INFINITY;
  }

  #seal(e: SetEntry, sig: Uint8Array): Buffer {
    this.#head.writeBigUInt64BE(BigInt(e.index), 0);
    this.#head.writeBigInt64BE(BigInt(e.integratedTime), 8);
    return createHmac('sha256', this.#sealKey).update(this.#head).update(e.leafHash).update(sig).digest().subarray(0, SEAL_BYTES);
  }

  /** Keeps the SET signature of entry `e`: written by the next commit (or within a second when `idle`). */
  keep(e: SetEntry, sig: Uint8Array, idle = true): void {
    if (this.#closed) return;
    const index = e.index;
    this.#queued.push({ index, data: Buffer.concat([this.#seal(e, sig), sig]) });
    if (index < this.#lowest) this.#lowest = index;
    if (!idle) return;
    if (!this.#timer) {
      this.#timer = setTimeout(() => void this.#idleFlush(), IDLE_FLUSH_MS);
      this.#timer.unref();
    }
  }

  /**
   * The stored SET signature of entry `e` when its seal checks; undefined otherwise (none, or changed:
   * never served). Queued ones are not looked up: their signer caches them.
   */
  get(e: SetEntry): Uint8Array | undefined {
    if (e.index < this.#lowest) return undefined;
    const data = (this.#get.get(e.index) as { data: Uint8Array } | undefined)?.data;
    if (!data || data.length <= SEAL_BYTES) return undefined;
    const sig = data.subarray(SEAL_BYTES);
    return timingSafeEqual(data.subarray(0, SEAL_BYTES), this.#seal(e, sig)) ? sig : undefined;
  }

  /** Forgets queued SETs of entries from `start` on (a bulk append that did not commit). */
  dropFrom(start: number): void {
    this.#queued = this.#queued.filter((q) => q.index < start);
  }

  /** Inside a commit's transaction: the queued rows. */
  store(): void {
    const rows = this.#rows;
    for (const q of this.#queued) rows.add(q.index, q.data);
    rows.flush();
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
