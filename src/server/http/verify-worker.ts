/**
 * Worker side of the verification pool: parses, validates and signature-checks proposed log entries
 * (the CPU-bound part of a write) off the event loop, and signs SETs with the log key when given one.
 * Messages carry packed batches (see verify-pool.ts) so that one round trip amortises the messaging
 * cost over many requests.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { SignetError } from '../../errors.js';
import { canonicalizeCreateEntryRequest, canonicalizeProposedEntry } from '../../rekor/index.js';
import { signBytes } from '../../tlog/sig.js';
import { JOB_SIGN, type WorkerMeta, type WorkerReply, type WorkerRequest, pack, part } from './verify-pool.js';

const keyDer = (workerData as { keyDer?: Uint8Array } | undefined)?.keyDer;
const key: KeyObject | undefined = keyDer ? createPrivateKey({ key: Buffer.from(keyDer), format: 'der', type: 'pkcs8' }) : undefined;

const EMPTY = new Uint8Array(0);

function fail(err: unknown): WorkerMeta {
  if (err instanceof SignetError) return { ok: false, kind: 'signet', code: err.code, message: err.message };
  return { ok: false, kind: 'other', message: err instanceof Error ? err.message : String(err) };
}

function run(kind: number, raw: Buffer): [WorkerMeta, Uint8Array] {
  if (kind === JOB_SIGN) {
    if (!key) return [{ ok: false, kind: 'other', message: 'this verification worker holds no signing key' }, EMPTY];
    try {
      return [{ ok: true, sig: true }, signBytes(raw, key)];
    } catch (err) {
      return [fail(err), EMPTY];
    }
  }
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch {
    return [{ ok: false, kind: 'json' }, EMPTY];
  }
  try {
    const e = kind === 1 ? canonicalizeProposedEntry(doc) : canonicalizeCreateEntryRequest(doc);
    return [{ ok: true, kind: e.kind, apiVersion: e.apiVersion, indexKeys: e.indexKeys }, e.body];
  } catch (err) {
    return [fail(err), EMPTY];
  }
}

parentPort!.on('message', (msg: WorkerRequest) => {
  const meta: WorkerMeta[] = [];
  const out: Uint8Array[] = [];
  for (let i = 0; i < msg.kinds.length; i++) {
    const [m, bytes] = run(msg.kinds[i]!, part(msg.ends, msg.data, i));
    meta.push(m);
    out.push(bytes);
  }
  const { ends, data } = pack(out);
  const reply: WorkerReply = { id: msg.id, meta, ends, data };
  parentPort!.postMessage(reply, [data, ends.buffer as ArrayBuffer]);
});
