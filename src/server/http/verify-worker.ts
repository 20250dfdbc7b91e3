/**
 * Worker side of the verification pool: parses, validates and signature-checks proposed log entries
 * (the CPU-bound part of a write) off the event loop. Messages carry batches so that one round trip
 * amortises the messaging cost over many requests.
 */
import { parentPort } from 'node:worker_threads';
import { SignetError } from '../../errors.js';
import { canonicalizeCreateEntryRequest, canonicalizeProposedEntry } from '../../rekor/index.js';
import type { VerifyJob, VerifyOutcome } from './verify-pool.js';

function run(job: VerifyJob): VerifyOutcome {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(job.raw.buffer, job.raw.byteOffset, job.raw.byteLength).toString('utf8'));
  } catch {
    return { ok: false, kind: 'json' };
  }
  try {
    const e = job.api === 1 ? canonicalizeProposedEntry(doc) : canonicalizeCreateEntryRequest(doc);
    return { ok: true, kind: e.kind, apiVersion: e.apiVersion, body: new Uint8Array(e.body), indexKeys: e.indexKeys };
  } catch (err) {
    if (err instanceof SignetError) return { ok: false, kind: 'signet', code: err.code, message: err.message };
    return { ok: false, kind: 'other', message: err instanceof Error ? err.message : String(err) };
  }
}

parentPort!.on('message', (msg: { id: number; jobs: VerifyJob[] }) => {
  const results = msg.jobs.map(run);
  const transfer = results.flatMap((r) => (r.ok ? [r.body.buffer as ArrayBuffer] : []));
  parentPort!.postMessage({ id: msg.id, results }, transfer);
});
