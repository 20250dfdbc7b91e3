/**
 * Canonicalization with the expensive signature checks off the calling thread: the entry is parsed and
 * checked on the event loop (cheap), its ECDSA digest signatures — and a keyless entry's certificate
 * (certificates.ts) — on the libuv thread pool through the native addon, batched per turn of the event
 * loop. Same verdicts, errors and canonical entries as the synchronous canonicalize functions.
 */
import { SignetError } from '../errors.js';
import { type CanonicalEntry, type DeferredDigestCheck, withVerifierFor } from './common.js';
import { certificateVerifierOffLoop } from './certificates.js';
import { verifyEcdsaDigestBatched } from './ecdsa.js';
import { canonicalizeProposedEntry } from './v1.js';
import { canonicalizeCreateEntryRequest } from './v2.js';

/** Rekor v1 ProposedEntry (api 1) or v2 CreateEntryRequest (api 2), verified. */
export async function canonicalizeAsync(api: 1 | 2, doc: unknown): Promise<CanonicalEntry> {
  const deferred: DeferredDigestCheck[] = [];
  // A keyless entry's certificate is parsed off the event loop first, then stands in for the parse.
  const parsed = await certificateVerifierOffLoop(api, doc);
  const canonicalize = (): CanonicalEntry => (api === 1 ? canonicalizeProposedEntry(doc, deferred) : canonicalizeCreateEntryRequest(doc, deferred));
  const entry = parsed ? withVerifierFor(parsed.of, parsed.verifier, canonicalize) : canonicalize();
  // The common case, one check (a hashedrekord), without Promise.all's array and extra promise.
  if (deferred.length === 1) {
    const c = deferred[0]!;
    if (!(await verifyEcdsaDigestBatched(c.key, c.digest, c.sig))) throw new SignetError('VERIFICATION', c.failure);
    return entry;
  }
  const verdicts = await Promise.all(deferred.map((c) => verifyEcdsaDigestBatched(c.key, c.digest, c.sig)));
  const bad = verdicts.indexOf(false);
  if (bad >= 0) throw new SignetError('VERIFICATION', deferred[bad]!.failure);
  return entry;
}
