/**
 * Group commit, independent of storage: appends wait in memory; one batch at a time takes everything
 * queued (up to maxBatch), collapses repeated leaves, and hands the batch to the storage driver, which
 * integrates, persists and signs one checkpoint for it. Every waiter is answered only after that durable
 * commit. A batch starts as soon as the previous one is done and something is waiting, so a lone append
 * pays one commit, and under load the batch grows to whatever arrived meanwhile.
 *
 * One exception, under load only: when a large batch has just committed and only a few appends wait,
 * those few are stragglers of a wave whose rest is about to arrive (its clients were being answered).
 * Committing them alone costs a whole commit, during which everyone else waits; measured on the bench
 * machine, a third of all commits carried fewer than four entries. So the next batch waits until it has
 * a quarter of the last one, or for at most half the last commit's duration, whichever comes first.
 */
import { hash } from 'node:crypto';
import { SignetError } from '../../errors.js';
import { MAX_ENTRY_SIZE } from '../../tlog/index.js';
import type { BatchItem, LogStorage } from './common.js';
import type { AppendRequest, AppendResult, LogMetrics, StoredEntry } from './types.js';

interface Pending {
  item: BatchItem;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

const MAX_INDEX_KEYS = 64;
const MAX_INDEX_KEY_LENGTH = 1024;

/**
 * The entry's own copy of `body` and its RFC 6962 leaf hash, SHA-256(0x00 || body): the copy is made one
 * byte longer with the 0x00 in front, so that the hash is one one-shot call over it (no Hash object, no
 * second update) and the copy the log keeps is a view of it past that byte.
 */
function copyAndHash(body: Buffer): { leafHash: Buffer; body: Buffer } {
  const buf = Buffer.allocUnsafe(body.length + 1);
  buf[0] = 0;
  body.copy(buf, 1);
  return { leafHash: hash('sha256', buf, 'buffer'), body: buf.subarray(1) };
}

export class Sequencer {
  readonly #storage: LogStorage;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  #running: Promise<void> | null = null;
  /** Set while the next batch waits for stragglers' company (see the header); called to stop waiting. */
  #wake: (() => void) | null = null;
  #closed = false;
  readonly #m: LogMetrics = { size: 0, appends: 0, duplicates: 0, batches: 0, lastBatchSize: 0, lastBatchMs: 0 };

  constructor(storage: LogStorage, maxBatch = 2048) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 65536) {
      throw new SignetError('USAGE', `maximum batch size must be 1..65536, got ${String(maxBatch)}`);
    }
    this.#storage = storage;
    this.#maxBatch = maxBatch;
  }

  /** Validates and queues one entry. Bad entries are refused before anything is queued or written. */
  append(req: AppendRequest): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new SignetError('TLOG', 'the transparency log is closed'));
    const body = req.body;
    if (!Buffer.isBuffer(body) || body.length === 0) return Promise.reject(new SignetError('USAGE', 'log entry is empty'));
    if (body.length > MAX_ENTRY_SIZE) {
      return Promise.reject(new SignetError('TOO_LARGE', `log entry of ${body.length} bytes exceeds the ${MAX_ENTRY_SIZE}-byte limit`));
    }
    const keys = [...new Set(req.indexKeys)];
    if (keys.length > MAX_INDEX_KEYS) return Promise.reject(new SignetError('TOO_LARGE', `an entry may have at most ${MAX_INDEX_KEYS} search keys, got ${keys.length}`));
    for (const k of keys) {
      if (typeof k !== 'string' || k.length === 0 || k.length > MAX_INDEX_KEY_LENGTH) {
        return Promise.reject(new SignetError('USAGE', `search keys must be 1..${MAX_INDEX_KEY_LENGTH} characters`));
      }
    }
    // Copy: the caller may reuse its buffer, and the bytes are logged exactly as received now.
    const { leafHash, body: copy } = copyAndHash(body);
    const item: BatchItem = { leafHash, body: copy, indexKeys: keys };
    return new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (this.#wake && this.#queue.length >= this.#fill()) this.#wake();
      this.#running ??= this.#drain();
    });
  }

  /** Appends worth committing at once after the last batch. */
  #fill(): number {
    return Math.max(1, Math.floor(this.#m.lastBatchSize / 4));
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        if (this.#m.lastBatchSize >= 32 && this.#queue.length < this.#fill() && !this.#closed) {
          const waitMs = Math.min(this.#m.lastBatchMs / 2, 20);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => this.#wake?.(), waitMs);
            this.#wake = () => {
              clearTimeout(timer);
              this.#wake = null;
              resolve();
            };
          });
        }
        const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
        this.#queue = this.#queue.length <= this.#maxBatch ? [] : this.#queue.slice(this.#maxBatch);
        await this.#commit(batch);
      }
    } finally {
      this.#running = null;
    }
  }

  async #commit(batch: Pending[]): Promise<void> {
    const t0 = performance.now();
    // A leaf submitted twice in one batch is stored once; later copies point at the first.
    const first = new Map<string, number>();
    const items: BatchItem[] = [];
    const slot: number[] = [];
    for (const p of batch) {
      const key = p.item.leafHash.toString('latin1');
      let at = first.get(key);
      if (at === undefined) {
        at = items.length;
        first.set(key, at);
        items.push(p.item);
      }
      slot.push(at);
    }
    let outcome;
    try {
      outcome = await this.#storage.commitBatch(items);
    } catch (e) {
      for (const p of batch) p.reject(e);
      return;
    }
    const seen = new Set<number>();
    let created = 0;
    let dups = 0;
    batch.forEach((p, i) => {
      const at = slot[i]!;
      const r = outcome.results[at]!;
      if ('failed' in r) {
        p.reject(r.failed);
        return;
      }
      const entry: StoredEntry = r.entry;
      if (!r.duplicate && !seen.has(at)) {
        seen.add(at);
        created++;
        p.resolve({ status: 'created', entry, checkpoint: outcome.checkpoint });
      } else {
        dups++;
        p.resolve({ status: 'duplicate', entry });
      }
    });
    const m = this.#m;
    m.size = Math.max(m.size, outcome.checkpoint.size);
    m.appends += created;
    m.duplicates += dups;
    m.batches++;
    m.lastBatchSize = batch.length;
    m.lastBatchMs = performance.now() - t0;
  }

  metrics(): LogMetrics {
    return { ...this.#m };
  }

  /** The largest log size seen committed: by this process's batches, or noted from a checkpoint read. */
  get knownSize(): number {
    return this.#m.size;
  }

  noteSize(size: number): void {
    this.#m.size = Math.max(this.#m.size, size);
  }

  /** Refuses new appends and waits until everything queued has been committed or failed. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    while (this.#running) await this.#running;
  }
}
