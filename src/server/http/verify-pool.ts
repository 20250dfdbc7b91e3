/**
 * A worker_threads pool that validates and signature-checks proposed log entries. Verification is the
 * CPU ceiling of a write (one ECDSA check each); on the event loop it would serialise every write
 * behind it, so the loop keeps HTTP and sequencing and the workers (one per core) do the checks.
 * Each idle worker takes everything queued (up to MAX_BATCH) in one message: under load, messaging
 * costs one round trip per batch instead of per request.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type ErrorCode, SignetError } from '../../errors.js';
import { type CanonicalEntry, canonicalizeCreateEntryRequest, canonicalizeProposedEntry } from '../../rekor/index.js';
import { HttpError } from './router.js';

export interface VerifyJob {
  /** 1: Rekor v1 ProposedEntry; 2: Rekor v2 CreateEntryRequest. */
  api: 1 | 2;
  raw: Uint8Array;
}

export type VerifyOutcome =
  | { ok: true; kind: string; apiVersion: string; body: Uint8Array; indexKeys: string[] }
  | { ok: false; kind: 'json' }
  | { ok: false; kind: 'signet'; code: ErrorCode; message: string }
  | { ok: false; kind: 'other'; message: string };

export interface EntryVerifier {
  canonicalize(api: 1 | 2, raw: Buffer): Promise<CanonicalEntry>;
  close(): Promise<void>;
}

const MAX_BATCH = 64;

function toEntry(o: VerifyOutcome): CanonicalEntry {
  if (o.ok) return { kind: o.kind, apiVersion: o.apiVersion, body: Buffer.from(o.body.buffer, o.body.byteOffset, o.body.byteLength), indexKeys: o.indexKeys };
  if (o.kind === 'json') throw new HttpError(400, 'request body is not valid JSON');
  if (o.kind === 'signet') throw new SignetError(o.code, o.message);
  throw new Error(o.message);
}

/** The same checks on the calling thread (workers: 0, or where threads are not wanted). */
export function inlineVerifier(): EntryVerifier {
  return {
    async canonicalize(api, raw) {
      let doc: unknown;
      try {
        doc = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new HttpError(400, 'request body is not valid JSON');
      }
      return api === 1 ? canonicalizeProposedEntry(doc) : canonicalizeCreateEntryRequest(doc);
    },
    close: async () => undefined,
  };
}

interface Pending {
  job: VerifyJob;
  resolve(e: CanonicalEntry): void;
  reject(e: unknown): void;
}

interface Slot {
  worker: Worker;
  busy: Pending[] | null;
  dead: boolean;
}

export function verifierPool(size: number = availableParallelism()): EntryVerifier {
  if (size <= 0) return inlineVerifier();
  const queue: Pending[] = [];
  const slots: Slot[] = [];
  let closed = false;
  let nextId = 0;
  let scheduled = false;

  const dispatch = (): void => {
    for (const slot of slots) {
      if (queue.length === 0) return;
      if (slot.busy || slot.dead) continue;
      const batch = queue.splice(0, MAX_BATCH);
      slot.busy = batch;
      slot.worker.postMessage({ id: nextId++, jobs: batch.map((p) => p.job) });
    }
  };

  const spawn = (): Slot => {
    const worker = new Worker(new URL('./verify-worker.js', import.meta.url));
    // Idle workers must not keep a process alive that is otherwise done (tests, a closing server).
    worker.unref();
    const slot: Slot = { worker, busy: null, dead: false };
    worker.on('message', (msg: { results: VerifyOutcome[] }) => {
      const batch = slot.busy ?? [];
      slot.busy = null;
      batch.forEach((p, i) => {
        try {
          p.resolve(toEntry(msg.results[i]!));
        } catch (e) {
          p.reject(e);
        }
      });
      dispatch();
    });
    const fail = (why: string): void => {
      if (slot.dead) return;
      slot.dead = true;
      const batch = slot.busy ?? [];
      slot.busy = null;
      for (const p of batch) p.reject(new Error(`entry verification worker ${why}`));
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      // A crashed worker is replaced so one poisoned request cannot shrink the pool for good.
      if (!closed) slots.push(spawn());
      dispatch();
    };
    worker.on('error', (e) => fail(`failed: ${e.message}`));
    worker.on('exit', (code) => {
      if (!closed) fail(`exited with code ${code}`);
    });
    return slot;
  };
  for (let i = 0; i < size; i++) slots.push(spawn());

  return {
    canonicalize(api, raw) {
      if (closed) return Promise.reject(new SignetError('INTERNAL', 'the server is shutting down'));
      return new Promise<CanonicalEntry>((resolve, reject) => {
        queue.push({ job: { api, raw }, resolve, reject });
        // Requests parsed in the same turn of the event loop go out as one message.
        if (!scheduled) {
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            dispatch();
          });
        }
      });
    },
    async close() {
      closed = true;
      for (const p of queue.splice(0)) p.reject(new SignetError('INTERNAL', 'the server is shutting down'));
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
