/**
 * Response documents: Rekor v1 `LogEntry` (with SET and inclusion proof) and Rekor v2
 * `TransparencyLogEntry` (protojson: int64 as strings, bytes as base64, unpopulated fields emitted).
 */
import { entryId, entryUuid, setPayload, toHex } from '../tlog/index.js';

export interface EntryForResponse {
  index: number;
  body: Buffer;
  integratedTime: number;
  /** The body's RFC 6962 leaf hash (the UUID), where the log already has it: saves hashing the body again. */
  leafHash?: Uint8Array;
}

export interface ProofForResponse {
  treeSize: number;
  rootHash: Buffer;
  hashes: Buffer[];
  /** The signed checkpoint note for `treeSize`. */
  checkpoint: string;
}

export interface V1LogEntryInput {
  treeId: bigint;
  /** SHA-256 of the log key's DER SPKI. */
  logId: Buffer;
  entry: EntryForResponse;
  proof: ProofForResponse;
  /** Signs with the log key (the SET); not called when `set` is given. */
  sign: (data: Buffer) => Uint8Array;
  /** The entry's SET (base64) signed before: its payload is not built again. */
  set?: string;
  /** `entry.body` as base64, where the caller made it already (for the SET payload). */
  bodyBase64?: string;
  /**
   * The proof's hash Buffers are shared with other answers (a write batch's): their hex is kept for them.
   * A read's are its own, and keeping theirs cost more (a WeakMap entry per hash, and its collection) than
   * it saved.
   */
  sharedProof?: boolean;
}

export type V1LogEntry = Record<string, {
  body: string;
  integratedTime: number;
  logID: string;
  logIndex: number;
  verification: {
    inclusionProof: { checkpoint: string; hashes: string[]; logIndex: number; rootHash: string; treeSize: number };
    signedEntryTimestamp: string;
  };
}>;

/** The tree ID's 16 hex digits, for the last tree asked about (a server has one). */
let lastTreeId: bigint | undefined;
let lastTreePrefix = '';

export function v1EntryId(treeId: bigint, body: Buffer, leafHash?: Uint8Array): string {
  if (!leafHash || leafHash.length !== 32) return entryId(treeId, leafHash ? toHex(leafHash) : entryUuid(body));
  // A leaf hash's hex is always a valid UUID: only the tree ID's part needs entryId's checks, once per tree.
  if (treeId !== lastTreeId) {
    lastTreePrefix = entryId(treeId, toHex(leafHash)).slice(0, 16);
    lastTreeId = treeId;
  }
  return lastTreePrefix + toHex(leafHash);
}

/**
 * The bytes an entry's SET signs: setPayload's, written out here without its checks of text it cannot
 * trust, since the body's base64 (`bodyBase64`, where the caller made it with Buffer#toString) and the
 * log ID's hex are Node's own encodings; the numbers are checked by setPayload's rules.
 */
export function v1SetPayload(logId: Buffer, entry: EntryForResponse, bodyBase64?: string): Buffer {
  const { integratedTime, index } = entry;
  const body = bodyBase64 ?? entry.body.toString('base64');
  if (!Number.isSafeInteger(integratedTime) || integratedTime < 0 || !Number.isSafeInteger(index) || index < 0 || logId.length !== 32) {
    return setPayload({ body, integratedTime, logID: logId.toString('hex'), logIndex: index });
  }
  return Buffer.from(`{"body":"${body}","integratedTime":${integratedTime},"logID":"${logId.toString('hex')}","logIndex":${index}}`, 'latin1');
}

/** `{ <entryID>: { body, integratedTime, logID, logIndex, verification } }` as Rekor v1 returns it. */
export function buildV1LogEntry(input: V1LogEntryInput): V1LogEntry {
  const { entry, proof } = input;
  const body = input.bodyBase64 ?? entry.body.toString('base64');
  const logID = input.logId.toString('hex');
  const set = input.set ?? Buffer.from(input.sign(setPayload({ body, integratedTime: entry.integratedTime, logID, logIndex: entry.index }))).toString('base64');
  return {
    [v1EntryId(input.treeId, entry.body, entry.leafHash)]: {
      body,
      integratedTime: entry.integratedTime,
      logID,
      logIndex: entry.index,
      verification: {
        inclusionProof: {
          checkpoint: proof.checkpoint,
          hashes: proof.hashes.map((h) => h.toString('hex')),
          logIndex: entry.index,
          rootHash: proof.rootHash.toString('hex'),
          treeSize: proof.treeSize,
        },
        signedEntryTimestamp: set,
      },
    },
  };
}

export interface V2EntryInput {
  /** The checkpoint key ID (C2SP key hash; for ECDSA the SHA-256 of the SPKI). */
  keyId: Buffer;
  kind: string;
  version: string;
  entry: EntryForResponse;
  proof: ProofForResponse;
}

/** `dev.sigstore.rekor.v1.TransparencyLogEntry` as rekor-tiles returns it from a create. */
export function buildV2TransparencyLogEntry(input: V2EntryInput): Record<string, unknown> {
  const { entry, proof } = input;
  return {
    logIndex: String(entry.index),
    logId: { keyId: input.keyId.toString('base64') },
    kindVersion: { kind: input.kind, version: input.version },
    integratedTime: '0',
    inclusionPromise: null,
    inclusionProof: {
      logIndex: String(entry.index),
      rootHash: proof.rootHash.toString('base64'),
      treeSize: String(proof.treeSize),
      hashes: proof.hashes.map((h) => h.toString('base64')),
      checkpoint: { envelope: proof.checkpoint },
    },
    canonicalizedBody: entry.body.toString('base64'),
  };
}

/** kind and apiVersion of a logged body (both APIs share one tree, so reads must tell them apart). */
export function bodyKind(body: Buffer): { kind: string; apiVersion: string } {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { kind?: unknown; apiVersion?: unknown };
    return { kind: typeof doc.kind === 'string' ? doc.kind : 'unknown', apiVersion: typeof doc.apiVersion === 'string' ? doc.apiVersion : 'unknown' };
  } catch {
    return { kind: 'unknown', apiVersion: 'unknown' };
  }
}

/**
 * Hex of proof hashes already encoded, by Buffer: the log hands the answers of one write batch the same
 * Buffer for a node their proofs share (most of the upper levels), so each is encoded once per batch.
 */
const hexOfHash = new WeakMap<Buffer, string>();

function hashHex(b: Buffer, shared: boolean): string {
  if (!shared) return b.toString('hex');
  let h = hexOfHash.get(b);
  if (h === undefined) hexOfHash.set(b, (h = b.toString('hex')));
  return h;
}

/** The last checkpoint note as JSON text in UTF-8: every answer of one write batch carries the same one. */
let lastNote = '';
let lastNoteJson = Buffer.from('""');

/**
 * The UTF-8 bytes of JSON.stringify(buildV1LogEntry(input)), written out directly (the tests compare
 * them): the members in buildV1LogEntry's order, every value a number, hex or base64 except the
 * checkpoint note, which goes through JSON.stringify once per checkpoint. A write answers with one of
 * these per entry: stringifying the object walked and escape-checked kilobytes of base64 each time, and
 * the note's non-ASCII signature line ("—") made the whole answer a two-byte string that had to be
 * transcoded to UTF-8 for the socket; here everything but the note is one-byte text written as latin1.
 */
export function v1LogEntryBytes(input: V1LogEntryInput & { set: string }): Buffer {
  const { entry, proof } = input;
  const body = input.bodyBase64 ?? entry.body.toString('base64');
  if (proof.checkpoint !== lastNote) {
    lastNoteJson = Buffer.from(JSON.stringify(proof.checkpoint), 'utf8');
    lastNote = proof.checkpoint;
  }
  const note = lastNoteJson;
  let hashes = '';
  const shared = input.sharedProof === true;
  for (let i = 0; i < proof.hashes.length; i++) hashes += `${i === 0 ? '"' : ',"'}${hashHex(proof.hashes[i]!, shared)}"`;
  const head =
    `{"${v1EntryId(input.treeId, entry.body, entry.leafHash)}":{"body":"${body}","integratedTime":${entry.integratedTime},` +
    `"logID":"${input.logId.toString('hex')}","logIndex":${entry.index},"verification":{"inclusionProof":{"checkpoint":`;
  const tail =
    `,"hashes":[${hashes}],"logIndex":${entry.index},"rootHash":"${proof.rootHash.toString('hex')}","treeSize":${proof.treeSize}},` +
    `"signedEntryTimestamp":${JSON.stringify(input.set)}}}}`;
  const out = Buffer.allocUnsafe(head.length + note.length + tail.length);
  let at = out.write(head, 0, 'latin1');
  at += note.copy(out, at);
  out.write(tail, at, 'latin1');
  return out;
}
