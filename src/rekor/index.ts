/**
 * Rekor entry formats on the server side: validating and verifying proposed entries (v1 and v2), their
 * canonical bodies and index keys, and the response documents. Pure: no I/O.
 */
export { type CanonicalEntry, type DeferredDigestCheck, MAX_ENTRY_BYTES, type Verifier, verifierFromPem, verifierFromDer, certSubjects } from './common.js';
export { canonicalizeProposedEntry, SUPPORTED_V1_KINDS } from './v1.js';
export { canonicalizeCreateEntryRequest } from './v2.js';
export {
  type EntryForResponse,
  type ProofForResponse,
  type V1LogEntry,
  type V1LogEntryInput,
  type V2EntryInput,
  buildV1LogEntry,
  buildV2TransparencyLogEntry,
  bodyKind,
  v1EntryId,
  v1LogEntryBytes,
  v1SetPayload,
} from './responses.js';
export { canonicalizeAsync } from './async.js';
