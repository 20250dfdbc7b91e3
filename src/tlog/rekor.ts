/**
 * Rekor v1 conventions that are pure functions: log ID, entry UUID and EntryID, and the Signed Entry
 * Timestamp (SET) payload and signature.
 */
import { type KeyObject, createHash, createPublicKey } from 'node:crypto';
import { SignetError } from '../errors.js';
import { leafHash, toHex } from './hash.js';
import { canonicalJsonBytes } from './jcs.js';
import { signBytes, verifyBytes } from './sig.js';

/** Rekor v1 / RFC 6962 log ID: hex SHA-256 of the log key's DER SubjectPublicKeyInfo. */
export function logIdFromPublicKey(key: Uint8Array | KeyObject): string {
  const der = key instanceof Uint8Array ? key : (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
  return createHash('sha256').update(der).digest('hex');
}

/** Entry UUID = hex RFC 6962 leaf hash of the canonicalized entry body. */
export function entryUuid(body: Uint8Array): string {
  return toHex(leafHash(body));
}

const MAX_TREE_ID = (1n << 63n) - 1n;

function treeIdBig(treeId: bigint | number | string): bigint {
  let t: bigint;
  try {
    t = BigInt(treeId);
  } catch {
    throw new SignetError('TLOG', `tree ID ${String(treeId)} is not an integer`);
  }
  if (typeof treeId === 'string' && !/^[1-9][0-9]*$/.test(treeId)) throw new SignetError('TLOG', `tree ID ${treeId} is not a positive decimal integer`);
  if (t <= 0n || t > MAX_TREE_ID) throw new SignetError('TLOG', `tree ID ${String(treeId)} is outside 1..2^63-1`);
  return t;
}

/** EntryID = 16 hex digits of the tree ID + the 64-hex UUID. Tree IDs exceed 2^53: pass a bigint or string. */
export function entryId(treeId: bigint | number | string, uuid: string): string {
  if (!/^[0-9a-f]{64}$/.test(uuid)) throw new SignetError('TLOG', `entry UUID must be 64 lowercase hex digits, got ${JSON.stringify(uuid.slice(0, 80))}`);
  return treeIdBig(treeId).toString(16).padStart(16, '0') + uuid;
}

/** Accepts a bare UUID (64 hex) or an EntryID (80 hex); case-insensitive as Rekor's API is. */
export function parseEntryId(id: string): { treeId?: bigint; uuid: string } {
  const s = id.toLowerCase();
  if (/^[0-9a-f]{64}$/.test(s)) return { uuid: s };
  if (/^[0-9a-f]{80}$/.test(s)) {
    const treeId = BigInt(`0x${s.slice(0, 16)}`);
    if (treeId === 0n || treeId > MAX_TREE_ID) throw new SignetError('TLOG', `entry ID ${id} has an invalid tree ID`);
    return { treeId, uuid: s.slice(16) };
  }
  throw new SignetError('TLOG', `not a Rekor entry UUID (64 hex digits) or entry ID (80 hex digits): ${JSON.stringify(id.slice(0, 100))}`);
}

export interface SetFields {
  /** The canonicalized entry body: raw bytes, or already base64 as in Rekor's JSON. */
  body: Uint8Array | string;
  integratedTime: number;
  /** Hex log ID (`logIdFromPublicKey`). */
  logID: string;
  /** The global (virtual) log index. */
  logIndex: number;
}

/** Text that JSON writes as it is (no escapes): the standard and URL-safe base64 alphabets. */
const BASE64_TEXT = /^[A-Za-z0-9+/=_-]*$/;

/** The bytes a SET signs: JCS({body, integratedTime, logID, logIndex}). */
export function setPayload(f: SetFields): Buffer {
  for (const [k, v] of [['integratedTime', f.integratedTime], ['logIndex', f.logIndex]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new SignetError('TLOG', `SET ${k} must be a non-negative integer, got ${String(v)}`);
  }
  if (!/^[0-9a-f]{64}$/.test(f.logID)) throw new SignetError('TLOG', 'SET logID must be 64 lowercase hex digits');
  const body = typeof f.body === 'string' ? f.body : Buffer.from(f.body.buffer, f.body.byteOffset, f.body.byteLength).toString('base64');
  // A body of base64 characters (every body a log writes) needs no escaping, and the members are already
  // in JCS order: the payload is written out directly, byte for byte what canonicalJsonBytes gives, without
  // its escaping pass over a body of kilobytes (a log signs one of these per entry it answers with).
  if (BASE64_TEXT.test(body)) {
    return Buffer.from(`{"body":"${body}","integratedTime":${f.integratedTime},"logID":"${f.logID}","logIndex":${f.logIndex}}`, 'latin1');
  }
  if (!body.isWellFormed()) throw new SignetError('TLOG', 'SET body contains a lone surrogate');
  return canonicalJsonBytes({ body, integratedTime: f.integratedTime, logID: f.logID, logIndex: f.logIndex });
}

export function signSET(f: SetFields, privateKey: KeyObject): Uint8Array {
  return signBytes(setPayload(f), privateKey);
}

/** Throws SignetError('TLOG') unless `set` is the log key's signature over the entry's SET payload. */
export function verifySET(f: SetFields, set: Uint8Array, publicKey: KeyObject): void {
  if (!verifyBytes(setPayload(f), set, publicKey)) {
    throw new SignetError('TLOG', `signed entry timestamp for log index ${f.logIndex} does not verify with the log key`);
  }
}
