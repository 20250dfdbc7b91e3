/**
 * C2SP tlog-cosignature, the Ed25519 `cosignature/v1` type: a witness's note signature over a checkpoint
 * it checked for consistency. Unlike a log's own note signature it signs
 *   "cosignature/v1\n" "time <T>\n" <checkpoint text>
 * and carries the time: the signature line holds base64(keyID[4] || u64 big-endian T || Ed25519 sig[64]).
 * The key ID is SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4] (type 0x04, not the 0x01 of a
 * plain Ed25519 note key), so a witness key can never be mistaken for a log key.
 *
 * Also C2SP signed-note verifier keys ("vkeys": `<name>+<hex key ID>+<base64(type || key)>`), the form
 * witnesses publish their keys in.
 */
import { type KeyObject, createHash, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { SignetError } from '../errors.js';
import { parseNote } from './note.js';

export const COSIGNATURE_V1_TYPE = 0x04;
const ED25519_NOTE_TYPE = 0x01;
const SIG_PREFIX = '\u2014 ';
// DER SubjectPublicKeyInfo of an Ed25519 key is this fixed header followed by the 32-byte key.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const MAX_TIMESTAMP = (1n << 63n) - 1n;

/** A cosigner (witness) a verifier trusts: its key name and Ed25519 public key. */
export interface Cosigner {
  name: string;
  publicKey: KeyObject;
}

export interface VerifiedCosignature {
  name: string;
  /** POSIX seconds at which the witness cosigned. */
  timestamp: number;
}

function checkName(name: string): void {
  if (name.length === 0 || /[\s+]/u.test(name)) {
    throw new SignetError('TLOG', `cosigner name ${JSON.stringify(name)} must be non-empty, without spaces or '+'`);
  }
}

/** The 32 raw bytes of an Ed25519 key (public, or the public half of a private one). */
export function ed25519Raw(key: KeyObject): Buffer {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new SignetError('KEY_UNSUPPORTED', `a cosignature/v1 key is Ed25519, not ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI_PREFIX.length);
}

export function ed25519FromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new SignetError('MALFORMED', `an Ed25519 public key is 32 bytes, not ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function cosignatureKeyId(name: string, key: KeyObject): Buffer {
  checkName(name);
  return createHash('sha256').update(name).update('\n').update(Uint8Array.of(COSIGNATURE_V1_TYPE)).update(ed25519Raw(key)).digest().subarray(0, 4);
}

function checkTimestamp(t: number | bigint): bigint {
  const v = BigInt(t);
  if (v < 0n || v > MAX_TIMESTAMP) throw new SignetError('TLOG', `cosignature timestamp ${v} is out of range`);
  return v;
}

/** The bytes a cosignature/v1 signs: header, time line, then the checkpoint text with its final newline. */
export function cosignedMessage(checkpointText: string, timestamp: number | bigint): Buffer {
  if (!checkpointText.endsWith('\n')) throw new SignetError('TLOG', 'checkpoint text must end with a newline');
  return Buffer.from(`cosignature/v1\ntime ${checkTimestamp(timestamp)}\n${checkpointText}`, 'utf8');
}

/** One signature line ("— name base64\n") cosigning `checkpointText` at `timestamp` (POSIX seconds). */
export function cosignatureLine(checkpointText: string, name: string, privateKey: KeyObject, timestamp: number): string {
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(checkTimestamp(timestamp));
  const sig = nodeSign(null, cosignedMessage(checkpointText, timestamp), privateKey);
  return `${SIG_PREFIX}${name} ${Buffer.concat([cosignatureKeyId(name, privateKey), ts, sig]).toString('base64')}\n`;
}

/**
 * The cosignatures on a signed note by the given cosigners. Lines of other keys (the log's own, unknown
 * witnesses) are ignored, as C2SP asks; a line that carries a trusted cosigner's key ID but does not
 * verify rejects the note, as a bad signature by a known key does in signed-note verification.
 */
export function verifyCosignatures(note: string | Uint8Array, cosigners: readonly Cosigner[]): VerifiedCosignature[] {
  const parsed = parseNote(note);
  const known = cosigners.map((c) => ({ ...c, keyId: cosignatureKeyId(c.name, c.publicKey) }));
  const out: VerifiedCosignature[] = [];
  for (const sig of parsed.signatures) {
    const c = known.find((k) => k.name === sig.name && Buffer.from(sig.keyId).equals(k.keyId));
    if (!c) continue;
    if (sig.signature.length !== 8 + 64) {
      throw new SignetError('TLOG', `cosignature by ${sig.name} is ${sig.signature.length + 4} bytes, expected 76`);
    }
    const ts = Buffer.from(sig.signature.subarray(0, 8)).readBigUInt64BE();
    if (ts > MAX_TIMESTAMP) throw new SignetError('TLOG', `cosignature by ${sig.name} has an out-of-range timestamp`);
    if (!nodeVerify(null, cosignedMessage(parsed.text, ts), c.publicKey, sig.signature.subarray(8))) {
      throw new SignetError('TLOG', `checkpoint has an invalid cosignature by ${sig.name}`);
    }
    if (!out.some((o) => o.name === c.name)) out.push({ name: c.name, timestamp: Number(ts) });
  }
  return out;
}

export interface Vkey {
  name: string;
  keyId: Buffer;
  /** The signature type byte: 0x01 Ed25519 note key, 0x04 Ed25519 cosignature/v1. */
  type: number;
  key: Buffer;
}

/** Parse a C2SP verifier key `<name>+<8 hex key ID>+<base64(type || key)>`, checking its key ID. */
export function parseVkey(vkey: string): Vkey {
  const bad = (why: string): never => {
    throw new SignetError('MALFORMED', `verifier key ${JSON.stringify(vkey.slice(0, 80))}: ${why}`);
  };
  // The key is base64, which may itself contain '+': only the first two separate fields.
  const s = vkey.trim();
  const a = s.indexOf('+');
  const b = a < 0 ? -1 : s.indexOf('+', a + 1);
  if (b < 0) bad('expected <name>+<key ID>+<key>');
  const [name, idHex, b64] = [s.slice(0, a), s.slice(a + 1, b), s.slice(b + 1)];
  if (name.length === 0 || /\s/.test(name)) bad('the name is empty or has spaces');
  if (!/^[0-9a-f]{8}$/.test(idHex)) bad('the key ID is not 8 lower-case hex digits');
  const body = Buffer.from(b64, 'base64');
  if (body.length < 2 || body.toString('base64') !== b64) bad('the key is not valid base64');
  const type = body[0]!;
  const key = body.subarray(1);
  if (type !== ED25519_NOTE_TYPE && type !== COSIGNATURE_V1_TYPE) bad(`signature type 0x${type.toString(16).padStart(2, '0')} is not supported (Ed25519 0x01 or cosignature/v1 0x04)`);
  if (key.length !== 32) bad(`an Ed25519 key is 32 bytes, not ${key.length}`);
  const id = createHash('sha256').update(name).update('\n').update(body).digest().subarray(0, 4);
  if (id.toString('hex') !== idHex) bad('the key ID does not match the name and key');
  return { name, keyId: id, type, key };
}

/** The vkey of a cosignature/v1 key, as a witness publishes it. */
export function cosignerVkey(name: string, key: KeyObject): string {
  return `${name}+${cosignatureKeyId(name, key).toString('hex')}+${Buffer.concat([Uint8Array.of(COSIGNATURE_V1_TYPE), ed25519Raw(key)]).toString('base64')}`;
}
