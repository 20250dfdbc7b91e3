/**
 * Sigstore trusted roots (protobuf-specs `dev.sigstore.trustroot.v1.TrustedRoot`, protojson), read as the
 * ecosystem writes them: every field the specs define is understood (optional ones may be absent or
 * null), fields the specs add later are ignored, enums may be names or numbers, bytes base64 or base64url.
 *
 * Transparency logs and CT logs are parsed here with their keys loaded once. A log whose entry cannot be
 * used by Signet (a key that does not parse, a key type Signet does not verify with such as LMS or
 * ML-DSA, a validity period without a start, …) does not sink the whole root: it is kept in `unusable`
 * with the reason, and only a bundle that needs that log fails, with an error naming the log and why
 * (findLog for tlog entries, sct.ts for SCTs). Certificate and timestamp authorities are kept as parsed
 * JSON for the layers that need them. What still refuses a root: not JSON, a media type this is not, a
 * list that is not a list, a log that is not an object, the same log ID twice.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { SignetError } from '../errors.js';
import { ioError } from '../fsutil.js';
import { decodeBase64Strict, hashAlgFromName, type HashAlg } from './encoding.js';

export const TRUSTED_ROOT_MEDIA_TYPES = [
  'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  'application/vnd.dev.sigstore.trustedroot.v0.2+json',
] as const;
/**
 * protobuf-specs `PublicKeyDetails`, by name and enum number: how `rawBytes` is encoded and what the key
 * must be, or why Signet cannot verify with such a key. `sigHash` is the digest the log signs with; log
 * signatures (SETs, checkpoints) are checked with the digest of the curve (tlog/sig.ts), so a tlog key
 * whose details name another digest is unusable, while SCTs name their digest themselves.
 */
type KeySpec =
  | { format: 'spki' | 'pkcs1'; type: 'ec' | 'rsa' | 'ed25519'; curve?: string; sigHash?: HashAlg }
  | { unsupported: string };

const PSS = { unsupported: 'RSA-PSS log signatures are not supported' };
const KEY_DETAILS: Record<string, KeySpec> = {
  PKCS1_RSA_PKCS1V5: { format: 'pkcs1', type: 'rsa' },
  PKCS1_RSA_PSS: PSS,
  PKIX_RSA_PKCS1V5: { format: 'spki', type: 'rsa' },
  PKIX_RSA_PSS: PSS,
  PKIX_RSA_PKCS1V15_2048_SHA256: { format: 'spki', type: 'rsa' },
  PKIX_RSA_PKCS1V15_3072_SHA256: { format: 'spki', type: 'rsa' },
  PKIX_RSA_PKCS1V15_4096_SHA256: { format: 'spki', type: 'rsa' },
  PKIX_RSA_PSS_2048_SHA256: PSS,
  PKIX_RSA_PSS_3072_SHA256: PSS,
  PKIX_RSA_PSS_4096_SHA256: PSS,
  PKIX_ECDSA_P256_HMAC_SHA_256: { format: 'spki', type: 'ec', curve: 'prime256v1', sigHash: 'sha256' },
  PKIX_ECDSA_P256_SHA_256: { format: 'spki', type: 'ec', curve: 'prime256v1', sigHash: 'sha256' },
  PKIX_ECDSA_P384_SHA_384: { format: 'spki', type: 'ec', curve: 'secp384r1', sigHash: 'sha384' },
  PKIX_ECDSA_P521_SHA_512: { format: 'spki', type: 'ec', curve: 'secp521r1', sigHash: 'sha512' },
  PKIX_ECDSA_P384_SHA_256: { format: 'spki', type: 'ec', curve: 'secp384r1', sigHash: 'sha256' },
  PKIX_ECDSA_P521_SHA_256: { format: 'spki', type: 'ec', curve: 'secp521r1', sigHash: 'sha256' },
  PKIX_ED25519: { format: 'spki', type: 'ed25519' },
  PKIX_ED25519_PH: { format: 'spki', type: 'ed25519' },
  LMS_SHA256: { unsupported: 'LMS keys are not supported' },
  LMOTS_SHA256: { unsupported: 'LM-OTS keys are not supported' },
  ML_DSA_44: { unsupported: 'ML-DSA keys are not supported' },
  ML_DSA_65: { unsupported: 'ML-DSA keys are not supported' },
  ML_DSA_87: { unsupported: 'ML-DSA keys are not supported' },
};

/** protojson may write an enum as its number. */
const KEY_DETAILS_BY_NUMBER: Record<number, string> = {
  0: 'PUBLIC_KEY_DETAILS_UNSPECIFIED', 1: 'PKCS1_RSA_PKCS1V5', 2: 'PKCS1_RSA_PSS', 3: 'PKIX_RSA_PKCS1V5', 4: 'PKIX_RSA_PSS',
  5: 'PKIX_ECDSA_P256_SHA_256', 6: 'PKIX_ECDSA_P256_HMAC_SHA_256', 7: 'PKIX_ED25519', 8: 'PKIX_ED25519_PH',
  9: 'PKIX_RSA_PKCS1V15_2048_SHA256', 10: 'PKIX_RSA_PKCS1V15_3072_SHA256', 11: 'PKIX_RSA_PKCS1V15_4096_SHA256',
  12: 'PKIX_ECDSA_P384_SHA_384', 13: 'PKIX_ECDSA_P521_SHA_512', 14: 'LMS_SHA256', 15: 'LMOTS_SHA256',
  16: 'PKIX_RSA_PSS_2048_SHA256', 17: 'PKIX_RSA_PSS_3072_SHA256', 18: 'PKIX_RSA_PSS_4096_SHA256',
  19: 'PKIX_ECDSA_P384_SHA_256', 20: 'PKIX_ECDSA_P521_SHA_256', 21: 'ML_DSA_65', 22: 'ML_DSA_87', 23: 'ML_DSA_44',
};
const HASH_BY_NUMBER: Record<number, string> = { 0: 'HASH_ALGORITHM_UNSPECIFIED', 1: 'SHA2_256', 2: 'SHA2_384', 3: 'SHA2_512', 4: 'SHA3_256', 5: 'SHA3_384' };

/** The digest a curve's log signatures use (tlog/sig.ts); Ed25519 and RSA sign as their details say. */
const CURVE_HASH: Record<string, HashAlg> = { prime256v1: 'sha256', secp384r1: 'sha384', secp521r1: 'sha512' };

export interface ValidityPeriod {
  start?: Date;
  end?: Date;
}

export interface TrustedLog {
  baseUrl: string;
  hashAlgorithm: HashAlg;
  publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo of the key (converted when the root gives a PKCS#1 RSAPublicKey). */
  spkiDer: Buffer;
  keyDetails: string;
  validFor: ValidityPeriod;
  /** Rekor v1: SHA-256(SPKI); Rekor v2: the C2SP key hash. */
  logId: Buffer;
  /** v0.2 trusted roots: the key hash whose first 4 bytes prefix checkpoint signatures. */
  checkpointKeyId?: Buffer;
  operator?: string;
}

/** A transparency or CT log listed in the root whose key Signet cannot use, and why. */
export interface UnusableLog {
  list: 'tlogs' | 'ctlogs';
  index: number;
  baseUrl: string;
  keyDetails: string;
  /** When it could be read. */
  logId?: Buffer;
  checkpointKeyId?: Buffer;
  validFor: ValidityPeriod;
  reason: string;
}

export interface TrustedRoot {
  mediaType: string;
  /** The transparency logs whose keys are usable. */
  tlogs: TrustedLog[];
  /** Kept raw for the certificate layer. */
  certificateAuthorities: unknown[];
  /** Kept raw; parseCtLogs reads them (cached). */
  ctlogs: unknown[];
  timestampAuthorities: unknown[];
  /** Logs (tlogs and ctlogs) listed but not usable: an error only for a bundle that needs one. */
  unusable?: UnusableLog[];
}

type Obj = Record<string, unknown>;

function bad(msg: string): never {
  throw new SignetError('MALFORMED', `trusted root ${msg}`);
}

/** A problem with one log: it makes that log unusable, not the root. */
class Unusable extends Error {}

function unusable(msg: string): never {
  throw new Unusable(msg);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function list(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(`${where} is not a list`);
  return v;
}

/** protojson bytes: standard base64 or base64url, padding optional; line breaks (wrapped output) skipped. */
function bytes(v: unknown, where: string): Buffer {
  if (typeof v !== 'string' || v === '') unusable(`${where} is missing`);
  const std = (v as string).replace(/[\r\n]/g, '').replace(/-/g, '+').replace(/_/g, '/');
  let b: Buffer;
  try {
    b = decodeBase64Strict(std, where);
  } catch {
    unusable(`${where} is not base64`);
  }
  if (b.length === 0) unusable(`${where} is empty`);
  return b;
}

/** RFC 3339 as protojson writes google.protobuf.Timestamp ("Z" or an offset, optional fraction). */
function timestamp(v: unknown, where: string): Date {
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/.test(v)) {
    unusable(`${where} is not an RFC 3339 timestamp`);
  }
  const d = new Date(v as string);
  if (Number.isNaN(d.getTime())) unusable(`${where} is not a valid date`);
  return d;
}

/** A key's TimeRange: absent means unbounded; present, it needs its start (the specs require it). */
function validity(v: unknown, where: string): ValidityPeriod {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) unusable(`${where} is not an object`);
  if (v.start === undefined || v.start === null) unusable(`${where} has no start`);
  const out: ValidityPeriod = { start: timestamp(v.start, `${where}.start`) };
  if (v.end !== undefined && v.end !== null) out.end = timestamp(v.end, `${where}.end`);
  if (out.end && out.end < out.start!) unusable(`${where} ends before it starts`);
  return out;
}

function keyIdOf(v: unknown, where: string): Buffer {
  if (!isObj(v)) unusable(`${where} is missing`);
  return bytes(v.keyId, `${where}.keyId`);
}

function enumName(v: unknown, numbers: Record<number, string>): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return numbers[v] ?? `enum value ${v}`;
  return undefined;
}

/** Load a log key as its keyDetails say, and whether `raw` was an SPKI; throws Unusable with the reason. */
function logKey(raw: Buffer, details: string, list: 'tlogs' | 'ctlogs', where: string): { key: KeyObject; spki: boolean } {
  const spec = KEY_DETAILS[details];
  if (!spec) {
    if (details !== 'PUBLIC_KEY_DETAILS_UNSPECIFIED') unusable(`${where}.keyDetails ${JSON.stringify(details)} is not a key type Signet knows`);
    // No details: whatever SubjectPublicKeyInfo it is, if it is a kind logs sign with.
    let key: KeyObject;
    try {
      key = createPublicKey({ key: raw, format: 'der', type: 'spki' });
    } catch {
      unusable(`${where}.rawBytes is not a DER SubjectPublicKeyInfo (keyDetails is unspecified)`);
    }
    if (!['ec', 'rsa', 'ed25519'].includes(key.asymmetricKeyType ?? '')) unusable(`${where} is a ${key.asymmetricKeyType ?? 'unknown'} key, which logs do not sign with`);
    if (key.asymmetricKeyType === 'ec' && !CURVE_HASH[key.asymmetricKeyDetails?.namedCurve ?? '']) unusable(`${where} is on curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'}, which is not supported`);
    return { key, spki: true };
  }
  if ('unsupported' in spec) unusable(`${where}.keyDetails is ${details}: ${spec.unsupported}`);
  let key: KeyObject | undefined;
  let spki = false;
  // PKCS#1 and SubjectPublicKeyInfo are both DER SEQUENCEs that cannot be mistaken for each other: an
  // RSA key written in the other encoding than its details say is still the same key.
  const formats: Array<'spki' | 'pkcs1'> = spec.type === 'rsa' ? [spec.format, spec.format === 'spki' ? 'pkcs1' : 'spki'] : ['spki'];
  for (const format of formats) {
    try {
      key = createPublicKey({ key: raw, format: 'der', type: format });
      spki = format === 'spki';
      break;
    } catch {
      // try the next encoding
    }
  }
  if (!key) unusable(`${where}.rawBytes is not a DER ${spec.format === 'pkcs1' ? 'PKCS#1 RSAPublicKey' : 'SubjectPublicKeyInfo'}`);
  if (key.asymmetricKeyType !== spec.type || (spec.curve && key.asymmetricKeyDetails?.namedCurve !== spec.curve)) {
    unusable(`${where} is a ${key.asymmetricKeyType ?? 'unknown'}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''} key, but keyDetails says ${details}`);
  }
  if (list === 'tlogs' && spec.curve && spec.sigHash !== CURVE_HASH[spec.curve]) {
    unusable(`${where}.keyDetails is ${details}: Signet checks log signatures of this curve with ${CURVE_HASH[spec.curve]}`);
  }
  return { key, spki };
}

/** One TransparencyLogInstance (tlogs and ctlogs share the message). */
function parseLogInstance(v: unknown, listName: 'tlogs' | 'ctlogs', index: number): TrustedLog | UnusableLog {
  const where = `${listName}[${index}]`;
  if (!isObj(v)) bad(`${where} is not an object`);
  const baseUrl = typeof v.baseUrl === 'string' ? v.baseUrl : '';
  const pk = isObj(v.publicKey) ? v.publicKey : undefined;
  const keyDetails = enumName(pk?.keyDetails, KEY_DETAILS_BY_NUMBER) ?? 'PUBLIC_KEY_DETAILS_UNSPECIFIED';
  const partial: UnusableLog = { list: listName, index, baseUrl, keyDetails, validFor: {}, reason: '' };
  try {
    // The IDs first, so that an unusable log can still be recognised (and named) by them.
    partial.logId = keyIdOf(v.logId, `${where}.logId`);
    if (v.checkpointKeyId !== undefined && v.checkpointKeyId !== null) partial.checkpointKeyId = keyIdOf(v.checkpointKeyId, `${where}.checkpointKeyId`);
    // RFC 6962 log IDs are SHA-256 hashes; a Rekor v2 log's ID may be its (shorter) checkpoint key ID.
    if (listName === 'ctlogs' && partial.logId.length !== 32) unusable(`${where}.logId.keyId is ${partial.logId.length} bytes, expected 32`);
    if (!pk) unusable(`${where}.publicKey is missing`);
    partial.validFor = validity(pk.validFor, `${where}.publicKey.validFor`);
    // CT logs hash nothing the verifier checks; a tlog's Merkle hash must be one Signet computes.
    let hashAlgorithm: HashAlg = 'sha256';
    const hashName = enumName(v.hashAlgorithm, HASH_BY_NUMBER);
    if (listName === 'tlogs' && hashName !== undefined && hashName !== 'HASH_ALGORITHM_UNSPECIFIED') {
      try {
        hashAlgorithm = hashAlgFromName(hashName, `${where}.hashAlgorithm`);
      } catch (e) {
        unusable((e as Error).message);
      }
    }
    const raw = bytes(pk.rawBytes, `${where}.publicKey.rawBytes`);
    const { key: publicKey, spki } = logKey(raw, keyDetails, listName, `${where}.publicKey`);
    const log: TrustedLog = {
      baseUrl,
      hashAlgorithm,
      publicKey,
      // As given when it is an SPKI (hashes over it must match what the log computed); converted from PKCS#1.
      spkiDer: spki ? raw : publicKey.export({ format: 'der', type: 'spki' }),
      keyDetails,
      validFor: partial.validFor,
      logId: partial.logId,
    };
    if (partial.checkpointKeyId) log.checkpointKeyId = partial.checkpointKeyId;
    if (typeof v.operator === 'string' && v.operator !== '') log.operator = v.operator;
    return log;
  } catch (e) {
    if (!(e instanceof Unusable)) throw e;
    partial.reason = e.message;
    return partial;
  }
}

function isUsable(l: TrustedLog | UnusableLog): l is TrustedLog {
  return !('reason' in l);
}

const ctCache = new WeakMap<readonly unknown[], { logs: TrustedLog[]; unusable: UnusableLog[] }>();

/** The CT logs of a trusted root (its raw `ctlogs`), usable and not; cached per list. */
export function parseCtLogs(raw: readonly unknown[]): { logs: TrustedLog[]; unusable: UnusableLog[] } {
  let hit = ctCache.get(raw);
  if (!hit) {
    const all = raw.map((v, i) => parseLogInstance(v, 'ctlogs', i));
    hit = { logs: all.filter(isUsable), unusable: all.filter((l): l is UnusableLog => !isUsable(l)) };
    ctCache.set(raw, hit);
  }
  return hit;
}

/** Parse a trusted_root.json. Throws SignetError('MALFORMED') naming the offending field. */
export function parseTrustedRoot(input: Buffer | string): TrustedRoot {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof input === 'string' ? input : input.toString('utf8'));
  } catch {
    bad('is not valid JSON');
  }
  if (!isObj(doc)) bad('document is not an object');
  const root = doc;
  if (typeof root.mediaType !== 'string' || !(TRUSTED_ROOT_MEDIA_TYPES as readonly string[]).includes(root.mediaType)) {
    bad(`media type ${JSON.stringify(root.mediaType)} is not a supported trusted root version`);
  }
  const all = list(root.tlogs, 'tlogs').map((v, i) => parseLogInstance(v, 'tlogs', i));
  const tlogs = all.filter(isUsable);
  const ids = new Set<string>();
  for (const l of tlogs) {
    const id = l.logId.toString('hex');
    if (ids.has(id)) bad(`lists log ID ${l.logId.toString('base64')} twice`);
    ids.add(id);
  }
  const ctlogs = list(root.ctlogs, 'ctlogs');
  const out: TrustedRoot = {
    mediaType: root.mediaType as string,
    tlogs,
    certificateAuthorities: list(root.certificateAuthorities, 'certificateAuthorities'),
    ctlogs,
    timestampAuthorities: list(root.timestampAuthorities, 'timestampAuthorities'),
  };
  const unusableLogs = [...all.filter((l): l is UnusableLog => !isUsable(l)), ...parseCtLogs(ctlogs).unusable];
  if (unusableLogs.length > 0) out.unusable = unusableLogs;
  return out;
}

/** How an unusable log is named in errors: its log ID (base64, as roots and bundles write it) and URL. */
export function describeUnusableLog(u: UnusableLog): string {
  const kind = u.list === 'ctlogs' ? 'CT log' : 'transparency log';
  const name = u.baseUrl || `${u.list}[${u.index}]`;
  return `${kind} ${name}${u.logId ? ` (log ID ${u.logId.toString('base64')})` : ''}`;
}

/** Read and parse a trusted root file. */
export async function loadTrustedRoot(path: string): Promise<TrustedRoot> {
  let bytes: Buffer;
  try {
    const st = await fs.stat(path);
    if (st.isDirectory()) throw new SignetError('IO', `trusted root ${path}: is a directory`);
    if (st.size > 16 * 1024 * 1024) throw new SignetError('TOO_LARGE', `trusted root ${path} is larger than 16 MiB`);
    bytes = await fs.readFile(path);
  } catch (e) {
    if (e instanceof SignetError) throw e;
    throw ioError(`trusted root ${path}`, e);
  }
  try {
    return parseTrustedRoot(bytes);
  } catch (e) {
    if (e instanceof SignetError) throw new SignetError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * The log whose log ID (or v0.2 checkpoint key ID) is exactly `id`; undefined when the root does not list
 * it. A log the root lists but whose key Signet cannot use is needed here, so that is an error (TLOG)
 * naming the log and why.
 */
export function findLog(root: TrustedRoot, id: Uint8Array): TrustedLog | undefined {
  const b = Buffer.from(id.buffer, id.byteOffset, id.byteLength);
  const log = root.tlogs.find((l) => l.logId.equals(b) || (l.checkpointKeyId !== undefined && l.checkpointKeyId.equals(b)));
  if (log || !root.unusable) return log;
  const u = root.unusable.find((l) => l.list === 'tlogs' && ((l.logId && l.logId.equals(b)) || (l.checkpointKeyId && l.checkpointKeyId.equals(b))));
  if (u) throw new SignetError('TLOG', `the entry is from ${describeUnusableLog(u)}, which the trusted root lists with a key Signet cannot use: ${u.reason}`);
  return undefined;
}

/**
 * Logs whose checkpoint signatures may carry this 4-byte key hint: the prefix of the log ID (Rekor v1
 * and every ECDSA log), of the checkpoint key ID, or of SHA-256(SPKI) (Rekor v1 for any key type).
 */
export function findLogsByKeyHint(root: TrustedRoot, hint: Uint8Array): TrustedLog[] {
  if (hint.length !== 4) return [];
  const h = Buffer.from(hint.buffer, hint.byteOffset, hint.byteLength);
  return root.tlogs.filter(
    (l) =>
      l.logId.subarray(0, 4).equals(h) ||
      (l.checkpointKeyId !== undefined && l.checkpointKeyId.subarray(0, 4).equals(h)) ||
      createHash('sha256').update(l.spkiDer).digest().subarray(0, 4).equals(h),
  );
}

/** Whether `time` lies in the log key's validity period. */
export function logValidAt(log: TrustedLog, time: Date): boolean {
  if (log.validFor.start && time < log.validFor.start) return false;
  if (log.validFor.end && time > log.validFor.end) return false;
  return true;
}
