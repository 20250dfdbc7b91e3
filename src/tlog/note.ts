/**
 * C2SP signed notes (c2sp.org/signed-note): text ending in a newline, a blank line, then one or more
 * lines "— <name> <base64(keyID[4] || signature)>". Key IDs follow the conventions of the logs we talk to:
 *  - Ed25519: SHA-256(name || 0x0A || 0x01 || 32-byte key)[:4]  (C2SP; Rekor v2)
 *  - ECDSA:   SHA-256(DER SPKI)[:4]                            (C2SP type 0x02; Rekor v1 and v2)
 *  - RSA:     SHA-256(name || 0x0A || 0xFF || "PKIX-RSA-PKCS#1v1.5" || DER SPKI)[:4]  (Rekor v2)
 * Rekor v1 used SHA-256(DER SPKI)[:4] for every key type, so verification also accepts that ID.
 */
import { type KeyObject, createHash, createPublicKey } from 'node:crypto';
import { SignetError } from '../errors.js';
import { signBytes, verifyBytes } from './sig.js';

export const MAX_NOTE_SIGNATURES = 100;
export const MAX_NOTE_BYTES = 1 << 20;
const SIG_PREFIX = '\u2014 ';

export interface NoteSignature {
  name: string;
  /** The 4-byte key ID. */
  keyId: Uint8Array;
  signature: Uint8Array;
}

export interface ParsedNote {
  /** The signed text, including its final newline. */
  text: string;
  signatures: NoteSignature[];
}

export interface NoteVerifier {
  name: string;
  publicKey: KeyObject;
  /** Key IDs to accept for this key; defaults to `noteKeyIds(name, publicKey)`. */
  keyIds?: Uint8Array[];
}

function sha256(...parts: (Uint8Array | string)[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ format: 'der', type: 'spki' });
}

function checkName(name: string): void {
  if (name.length === 0 || /[\s+]/u.test(name)) {
    throw new SignetError('TLOG', `signed-note key name ${JSON.stringify(name)} must be non-empty, without spaces or '+'`);
  }
}

/**
 * The 32-byte key hash whose first four bytes are the note key ID. Rekor v2 publishes this untruncated
 * hash as its log ID.
 */
export function noteKeyHash(name: string, key: KeyObject): Uint8Array {
  checkName(name);
  switch (key.asymmetricKeyType) {
    case 'ed25519': {
      const raw = spkiDer(key).subarray(-32); // Ed25519 SPKI is a fixed 12-byte header + the 32-byte key
      return sha256(name, '\n', Uint8Array.of(0x01), raw);
    }
    case 'ec':
      return sha256(spkiDer(key));
    case 'rsa':
      return sha256(name, '\n', Uint8Array.of(0xff), 'PKIX-RSA-PKCS#1v1.5', spkiDer(key));
    default:
      throw new SignetError('KEY_UNSUPPORTED', `${key.asymmetricKeyType ?? 'unknown'} keys cannot sign notes`);
  }
}

/** The 4-byte key ID a signer puts on its signature lines. */
export function noteKeyId(name: string, key: KeyObject): Uint8Array {
  return noteKeyHash(name, key).subarray(0, 4);
}

/** Every key ID a verifier accepts for this key (the C2SP one, plus Rekor v1's SPKI-hash hint). */
export function noteKeyIds(name: string, key: KeyObject): Uint8Array[] {
  return acceptedKeyIds(name, key).map((id) => id.slice());
}

// A verifier checks one checkpoint per bundle against the same few log keys: hashing the key's SPKI for
// every note cost as much as a tenth of a keyless verification. KeyObjects are immutable, so the IDs
// of a (key, name) pair never change; the WeakMap lets a dropped trust root take its entries along.
const keyIdCache = new WeakMap<KeyObject, Map<string, readonly Uint8Array[]>>();
const MAX_CACHED_NAMES = 64;

function acceptedKeyIds(name: string, key: KeyObject): readonly Uint8Array[] {
  let byName = keyIdCache.get(key);
  const hit = byName?.get(name);
  if (hit) return hit;
  const ids = [noteKeyId(name, key)];
  const legacy = sha256(spkiDer(key)).subarray(0, 4);
  if (!Buffer.from(legacy).equals(ids[0]!)) ids.push(legacy);
  if (!byName) keyIdCache.set(key, (byName = new Map()));
  // Names come from the (unauthenticated) note lines: bound the per-key cache.
  if (byName.size < MAX_CACHED_NAMES) byName.set(name, ids);
  return ids;
}

function sameKeyId(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Strict standard base64 (RFC 4648 §4): padding required, no whitespace, canonical trailing bits. */
export function decodeBase64Strict(s: string, what: string): Buffer {
  const b = Buffer.from(s, 'base64');
  if (s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s) || b.toString('base64') !== s) {
    throw new SignetError('MALFORMED', `${what} is not valid base64`);
  }
  return b;
}

function decodeNoteInput(note: string | Uint8Array): string {
  if (typeof note === 'string') return note;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(note);
  } catch {
    throw new SignetError('MALFORMED', 'signed note is not valid UTF-8');
  }
}

/** Parses a signed note without verifying anything. Throws SignetError('MALFORMED'). */
export function parseNote(note: string | Uint8Array): ParsedNote {
  if (note.length > MAX_NOTE_BYTES) throw new SignetError('MALFORMED', `signed note is larger than ${MAX_NOTE_BYTES} bytes`);
  const s = decodeNoteInput(note);
  if (/[\x00-\x09\x0b-\x1f]/.test(s)) throw new SignetError('MALFORMED', 'signed note contains control characters');
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)) {
    throw new SignetError('MALFORMED', 'signed note is not valid Unicode');
  }
  if (!s.endsWith('\n')) throw new SignetError('MALFORMED', 'signed note does not end with a newline');
  const sep = s.lastIndexOf('\n\n');
  if (sep < 0) throw new SignetError('MALFORMED', 'signed note has no blank line before its signatures');
  const text = s.slice(0, sep + 1);
  const lines = s.slice(sep + 2, -1);
  if (lines.length === 0) throw new SignetError('MALFORMED', 'signed note has no signatures');
  const signatures: NoteSignature[] = [];
  for (const line of lines.split('\n')) {
    if (signatures.length >= MAX_NOTE_SIGNATURES) {
      throw new SignetError('MALFORMED', `signed note has more than ${MAX_NOTE_SIGNATURES} signatures`);
    }
    const fields = line.startsWith(SIG_PREFIX) ? line.slice(SIG_PREFIX.length).split(' ') : [];
    if (fields.length !== 2 || fields[0]!.length === 0 || /[\s+]/u.test(fields[0]!)) {
      throw new SignetError('MALFORMED', `malformed signature line in signed note: ${JSON.stringify(line.slice(0, 120))}`);
    }
    const raw = decodeBase64Strict(fields[1]!, `signature of ${fields[0]} in signed note`);
    if (raw.length < 5) throw new SignetError('MALFORMED', `signature of ${fields[0]} in signed note is too short`);
    signatures.push({ name: fields[0]!, keyId: raw.subarray(0, 4), signature: raw.subarray(4) });
  }
  return { text, signatures };
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) throw new SignetError('TLOG', 'note text must end with a newline');
  if (/[\x00-\x09\x0b-\x1f]/.test(text)) throw new SignetError('TLOG', 'note text must not contain control characters');
}

/** Signs `text` and returns one signature line ("— name base64\n"). */
export function signatureLine(text: string, name: string, privateKey: KeyObject, keyId?: Uint8Array): string {
  checkText(text);
  checkName(name);
  const id = keyId ?? noteKeyId(name, privateKey);
  if (id.length !== 4) throw new SignetError('TLOG', 'a note key ID is 4 bytes');
  const sig = signBytes(Buffer.from(text, 'utf8'), privateKey);
  return `${SIG_PREFIX}${name} ${Buffer.concat([id, sig]).toString('base64')}\n`;
}

/** Returns the signed note: text, blank line, signature line. */
export function signNote(text: string, name: string, privateKey: KeyObject, options: { keyId?: Uint8Array } = {}): string {
  return `${text}\n${signatureLine(text, name, privateKey, options.keyId)}`;
}

/**
 * Verifies a signed note against one or more trusted keys. Signatures by unknown (name, key ID) pairs are
 * ignored; a signature by a known key that fails rejects the whole note; at least one must verify.
 * Returns the text and the verified signatures. Throws SignetError('TLOG') (or 'MALFORMED').
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): { text: string; verified: NoteSignature[] } {
  const parsed = parseNote(note);
  const data = Buffer.from(parsed.text, 'utf8');
  const verified: NoteSignature[] = [];
  for (const sig of parsed.signatures) {
    for (const v of verifiers) {
      if (v.name !== sig.name) continue;
      const ids = v.keyIds ?? acceptedKeyIds(v.name, v.publicKey);
      if (!ids.some((id) => sameKeyId(id, sig.keyId))) continue;
      if (!verifyBytes(data, sig.signature, v.publicKey)) {
        throw new SignetError('TLOG', `signed note has an invalid signature by ${sig.name} (key ID ${Buffer.from(sig.keyId).toString('hex')})`);
      }
      verified.push(sig);
      break;
    }
  }
  if (verified.length === 0) {
    const names = verifiers.map((v) => v.name).join(', ');
    throw new SignetError('TLOG', `signed note carries no signature by a trusted key (${names || 'none given'})`);
  }
  return { text: parsed.text, verified };
}

export function verifyNote(note: string | Uint8Array, name: string, publicKey: KeyObject, options: { keyIds?: Uint8Array[] } = {}) {
  return openNote(note, [{ name, publicKey, ...(options.keyIds ? { keyIds: options.keyIds } : {}) }]);
}
