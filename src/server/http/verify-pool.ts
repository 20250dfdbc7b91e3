/**
 * A worker_threads pool that validates and signature-checks proposed log entries, and signs Rekor v1
 * SETs. Verification is the CPU ceiling of a write (one ECDSA check each); on the event loop it would
 * serialise every write behind it, so the loop keeps HTTP and sequencing and the workers (one per core)
 * do the public-key work. Each idle worker takes everything queued (up to MAX_BATCH) in one message:
 * under load, messaging costs one round trip per batch instead of per request.
 *
 * Messages are packed: all request bodies (or SET payloads) of a batch go as one transferred
 * ArrayBuffer with an offsets table, and canonical bodies (or signatures) come back the same way. A
 * structured-cloned Buffer would copy its whole backing ArrayBuffer, which for the small bodies that
 * node:http hands out is the shared 8 KiB allocation pool, once per request.
 */
import { type KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type ErrorCode, SignetError } from '../../errors.js';
import { type CanonicalEntry, canonicalizeAsync, canonicalizeCreateEntryRequest, canonicalizeProposedEntry } from '../../rekor/index.js';
import { perTurnBatcher } from '../../batching.js';
import { nativeCrypto, unpackSignatures } from '../../native.js';
import { digestFor, signBytesAsync } from '../../tlog/sig.js';
import { HttpError } from './router.js';

/** Job kinds on the wire: sign a SET payload, or canonicalize a Rekor v1 / v2 submission. */
export const JOB_SIGN = 0;

/** Main → worker: `kinds[i]` is JOB_SIGN, 1 or 2; job i's bytes are `data[ends[i-1] .. ends[i])`. */
export interface WorkerRequest {
  id: number;
  kinds: Uint8Array;
  ends: Uint32Array;
  data: ArrayBuffer;
}

/** Per-job metadata of a reply; the job's output bytes (body or signature) are packed like a request. */
export type WorkerMeta =
  | { ok: true; kind: string; apiVersion: string; indexKeys: string[] }
  | { ok: true; sig: true }
  | { ok: false; kind: 'json' }
  | { ok: false; kind: 'signet'; code: ErrorCode; message: string }
  | { ok: false; kind: 'other'; message: string };

export interface WorkerReply {
  id: number;
  meta: WorkerMeta[];
  ends: Uint32Array;
  data: ArrayBuffer;
}

export interface EntryVerifier {
  canonicalize(api: 1 | 2, raw: Buffer): Promise<CanonicalEntry>;
  /** Signs with the log key off the event loop; absent when the verifier holds no key. */
  sign?(data: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

export interface VerifierPoolOptions {
  /** The log key: given, the workers also sign SETs (`sign`). */
  signingKey?: KeyObject;
}

/**
 * Default for `poolNice`. On 2 cores, in alternating runs: 19 vs 0 gave +10.5% writes/s, 19 vs 10 +3.7%.
 * 10 rather than 19 so that beside a CPU hog at nice 0 the signature work keeps ~10% of a core, not ~1.5%.
 */
export const DEFAULT_POOL_NICE = 10;

export interface ThreadPoolVerifierOptions extends VerifierPoolOptions {
  /**
   * How many nice steps below the event loop the thread-pool threads run that verify and sign (0..19,
   * Linux; default DEFAULT_POOL_NICE). The loop is the serial stage every write passes through twice;
   * preempted for the pool, it holds up all of them.
   */
  poolNice?: number;
}

/**
 * Jobs per message. Small on purpose: a worker busy with a long batch delays the SET signatures that
 * committed entries wait for (a verification is ~0.4 ms), and with a fixed number of client connections
 * latency is throughput. Eight keeps the messaging cost per job low and a worker's turn near 3 ms.
 */
const MAX_BATCH = 8;

/** Packs byte strings into one fresh ArrayBuffer (safe to transfer) and an end-offsets table. */
export function pack(parts: Uint8Array[]): { ends: Uint32Array; data: ArrayBuffer } {
  const ends = new Uint32Array(parts.length);
  let n = 0;
  parts.forEach((p, i) => (ends[i] = n += p.byteLength));
  const data = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.byteLength;
  }
  return { ends, data: data.buffer };
}

/** The i-th packed part, as a view (no copy). */
export function part(ends: Uint32Array, data: ArrayBuffer, i: number): Buffer {
  const start = i === 0 ? 0 : ends[i - 1]!;
  return Buffer.from(data, start, ends[i]! - start);
}

function failure(m: WorkerMeta): Error {
  if (m.ok) return new Error('verification worker gave no result');
  if (m.kind === 'json') return new HttpError(400, 'request body is not valid JSON');
  if (m.kind === 'signet') return new SignetError(m.code, m.message);
  return new Error(m.message);
}

function parseBody(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

/** The same checks on the calling thread (workers: 0, or where threads are not wanted). */
export function inlineVerifier(): EntryVerifier {
  return {
    async canonicalize(api, raw) {
      const doc = parseBody(raw);
      return api === 1 ? canonicalizeProposedEntry(doc) : canonicalizeCreateEntryRequest(doc);
    },
    close: async () => undefined,
  };
}

/** Signs SETs with the log key on the thread pool: one job per turn of the event loop with the addon. */
function setSigner(key: KeyObject): (data: Buffer) => Promise<Buffer> {
  const addon = nativeCrypto.addon;
  if (!addon) return async (data) => Buffer.from(await signBytesAsync(data, key));
  const md = digestFor(key) ?? '';
  const nk = addon.signingKey(key.export({ format: 'der', type: 'pkcs8' }));
  return perTurnBatcher<Buffer, Buffer>(async (payloads) => unpackSignatures(await addon.signMany(nk, md, payloads), payloads.length), {
    maxChunks: availableParallelism(),
  });
}

/**
 * The default where the native ECDSA addon is built: entries are parsed and canonicalized on the event
 * loop (tens of µs), and the two public-key operations of a write, the ECDSA check of a hashedrekord
 * submission and the SET signature, run on the libuv thread pool, gathered per event-loop turn. A
 * worker_threads round trip cost the loop ~42 µs of CPU per message, and the workers idled between
 * small batches, so their batching did not amortise it.
 */
export function threadPoolVerifier(opts: ThreadPoolVerifierOptions = {}): EntryVerifier {
  const nice = opts.poolNice ?? DEFAULT_POOL_NICE;
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new SignetError('USAGE', `the thread pool's nice increment must be an integer 0..19, got ${nice}`);
  nativeCrypto.addon?.setPoolNice(nice);
  const key = opts.signingKey;
  const sign = key ? setSigner(key) : undefined;
  let closed = false;
  const shuttingDown = (): Promise<never> => Promise.reject(new SignetError('INTERNAL', 'the server is shutting down'));
  // Plain functions handing back the inner promise (an async wrapper would add one more per call); a
  // body that is not JSON still comes back as a rejection.
  const canonicalize = (api: 1 | 2, raw: Buffer): Promise<CanonicalEntry> => {
    if (closed) return shuttingDown();
    let doc: unknown;
    try {
      doc = parseBody(raw);
    } catch (e) {
      return Promise.reject(e);
    }
    return canonicalizeAsync(api, doc);
  };
  return {
    canonicalize,
    ...(sign ? { sign: (data: Buffer) => (closed ? shuttingDown() : sign(data)) } : {}),
    async close() {
      closed = true;
    },
  };
}

interface Pending {
  kind: number;
  raw: Uint8Array;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

interface Slot {
  worker: Worker;
  busy: Pending[] | null;
  dead: boolean;
}

export function verifierPool(size: number = availableParallelism(), opts: VerifierPoolOptions = {}): EntryVerifier {
  if (size <= 0) return inlineVerifier();
  // Signing jobs answer requests whose entries are already committed: they go ahead of new submissions.
  const signQueue: Pending[] = [];
  const queue: Pending[] = [];
  const slots: Slot[] = [];
  const keyDer = opts.signingKey?.export({ format: 'der', type: 'pkcs8' });
  let closed = false;
  let nextId = 0;
  let scheduled = false;

  const dispatch = (): void => {
    for (const slot of slots) {
      if (queue.length === 0 && signQueue.length === 0) return;
      if (slot.busy || slot.dead) continue;
      const batch = signQueue.splice(0, MAX_BATCH);
      if (batch.length < MAX_BATCH) batch.push(...queue.splice(0, MAX_BATCH - batch.length));
      slot.busy = batch;
      const { ends, data } = pack(batch.map((p) => p.raw));
      const kinds = Uint8Array.from(batch, (p) => p.kind);
      const msg: WorkerRequest = { id: nextId++, kinds, ends, data };
      slot.worker.postMessage(msg, [data, kinds.buffer as ArrayBuffer, ends.buffer as ArrayBuffer]);
    }
  };

  const spawn = (): Slot => {
    const worker = new Worker(new URL('./verify-worker.js', import.meta.url), { workerData: { keyDer } });
    // Idle workers must not keep a process alive that is otherwise done (tests, a closing server).
    worker.unref();
    const slot: Slot = { worker, busy: null, dead: false };
    worker.on('message', (msg: WorkerReply) => {
      const batch = slot.busy ?? [];
      slot.busy = null;
      batch.forEach((p, i) => {
        const m = msg.meta[i];
        if (!m?.ok) return p.reject(failure(m ?? { ok: false, kind: 'other', message: 'verification worker gave no result' }));
        const bytes = part(msg.ends, msg.data, i);
        if ('sig' in m) p.resolve(bytes);
        else p.resolve({ kind: m.kind, apiVersion: m.apiVersion, body: bytes, indexKeys: m.indexKeys } satisfies CanonicalEntry);
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

  const submit = <T>(q: Pending[], kind: number, raw: Uint8Array): Promise<T> => {
    if (closed) return Promise.reject(new SignetError('INTERNAL', 'the server is shutting down'));
    return new Promise<T>((resolve, reject) => {
      q.push({ kind, raw, resolve: resolve as (v: unknown) => void, reject });
      // Requests parsed in the same turn of the event loop go out as one message.
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          dispatch();
        });
      }
    });
  };

  return {
    canonicalize: (api, raw) => submit<CanonicalEntry>(queue, api, raw),
    ...(keyDer ? { sign: (data: Buffer) => submit<Buffer>(signQueue, JOB_SIGN, data) } : {}),
    async close() {
      closed = true;
      for (const p of [...signQueue.splice(0), ...queue.splice(0)]) p.reject(new SignetError('INTERNAL', 'the server is shutting down'));
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
