/**
 * C2SP tlog-checkpoint: the note text "<origin>\n<size>\n<base64 root>\n" plus optional extension lines
 * (Rekor v1 once emitted "Timestamp: <nanos>"), signed as a C2SP signed note.
 */
import type { KeyObject } from 'node:crypto';
import { SignetError } from '../errors.js';
import { HASH_SIZE, type Hash, checkHash, checkSize } from './hash.js';
import { type NoteSignature, type NoteVerifier, decodeBase64Strict, openNote, signNote } from './note.js';

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Hash;
  extensions?: string[];
}

function checkLine(s: string, what: string): void {
  if (typeof s !== 'string' || s.length === 0 || /[\x00-\x1f]/.test(s)) {
    throw new SignetError('TLOG', `checkpoint ${what} must be a non-empty line without control characters`);
  }
}

export function formatCheckpoint(cp: Checkpoint): string {
  checkLine(cp.origin, 'origin');
  checkSize(cp.size, 'checkpoint tree size');
  checkHash(cp.rootHash, 'checkpoint root hash');
  const ext = cp.extensions ?? [];
  ext.forEach((e) => checkLine(e, 'extension line'));
  const root = Buffer.from(cp.rootHash.buffer, cp.rootHash.byteOffset, cp.rootHash.byteLength).toString('base64');
  return [cp.origin, String(cp.size), root, ...ext].join('\n') + '\n';
}

/** Parses checkpoint note text (the signed body, not the whole note). Throws SignetError('MALFORMED'). */
export function parseCheckpoint(text: string): Required<Checkpoint> {
  const bad = (why: string): never => {
    throw new SignetError('MALFORMED', `malformed checkpoint: ${why}`);
  };
  if (!text.endsWith('\n')) bad('it does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) bad('it needs an origin, a tree size and a root hash line');
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) bad('the origin line is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(size)) bad(`tree size ${JSON.stringify(size.slice(0, 40))} is not a decimal number without leading zeros`);
  const n = Number(size);
  if (!Number.isSafeInteger(n)) bad(`tree size ${size} is too large`);
  const rootHash = decodeBase64Strict(root, 'checkpoint root hash');
  if (rootHash.length !== HASH_SIZE) bad(`the root hash is ${rootHash.length} bytes, expected ${HASH_SIZE}`);
  if (extensions.some((e) => e.length === 0)) bad('it has an empty extension line');
  return { origin, size: n, rootHash, extensions };
}

/** Formats and signs a checkpoint; returns the whole signed note. */
export function signCheckpoint(cp: Checkpoint, name: string, privateKey: KeyObject, options: { keyId?: Uint8Array } = {}): string {
  return signNote(formatCheckpoint(cp), name, privateKey, options);
}

export interface VerifiedCheckpoint extends Required<Checkpoint> {
  text: string;
  verified: NoteSignature[];
}

/**
 * Verifies a signed checkpoint and parses it. `origin`, if given, must match exactly (Rekor v1:
 * "<host> - <treeID>" while the signature name is "<host>"; Rekor v2: both are the host).
 */
export function verifyCheckpoint(
  note: string | Uint8Array,
  verifiers: NoteVerifier | readonly NoteVerifier[],
  options: { origin?: string } = {},
): VerifiedCheckpoint {
  const { text, verified } = openNote(note, Array.isArray(verifiers) ? verifiers : [verifiers as NoteVerifier]);
  const cp = parseCheckpoint(text);
  if (options.origin !== undefined && cp.origin !== options.origin) {
    throw new SignetError('TLOG', `checkpoint is for log ${JSON.stringify(cp.origin)}, expected ${JSON.stringify(options.origin)}`);
  }
  return { ...cp, text, verified };
}
