/**
 * Sigstore trusted roots (protobuf-specs `dev.sigstore.trustroot.v1.TrustedRoot`, protojson). Transparency
 * logs are parsed fully and their keys loaded once (verifiers look them up per entry); certificate
 * authorities, CT logs and timestamp authorities are kept as parsed JSON for the layers that need them.
 * Parsing is strict: a trust anchor that half-parses is worse than none.
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

/** The key types a log may use, as protobuf-specs `PublicKeyDetails` names them, with what the key must be. */
const KEY_DETAILS: Record<string, { type: string; curve?: string }> = {
  PKIX_ECDSA_P256_SHA_256: { type: 'ec', curve: 'prime256v1' },
  PKIX_ECDSA_P384_SHA_384: { type: 'ec', curve: 'secp384r1' },
  PKIX_ECDSA_P521_SHA_512: { type: 'ec', curve: 'secp521r1' },
  PKIX_ED25519: { type: 'ed25519' },
  PKIX_ED25519_PH: { type: 'ed25519' },
  PKIX_RSA_PKCS1V15_2048_SHA256: { type: 'rsa' },
  PKIX_RSA_PKCS1V15_3072_SHA256: { type: 'rsa' },
  PKIX_RSA_PKCS1V15_4096_SHA256: { type: 'rsa' },
};

export interface ValidityPeriod {
  start?: Date;
  end?: Date;
}

export interface TrustedLog {
  baseUrl: string;
  hashAlgorithm: HashAlg;
  publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo as given in the trusted root. */
  spkiDer: Buffer;
  keyDetails: string;
  validFor: ValidityPeriod;
  /** Rekor v1: SHA-256(SPKI); Rekor v2: the C2SP key hash. */
  logId: Buffer;
  /** v0.2 trusted roots: the key hash whose first 4 bytes prefix checkpoint signatures. */
  checkpointKeyId?: Buffer;
  operator?: string;
}

export interface TrustedRoot {
  mediaType: string;
  tlogs: TrustedLog[];
  /** Kept raw for the certificate layer. */
  certificateAuthorities: unknown[];
  ctlogs: unknown[];
  timestampAuthorities: unknown[];
}

type Obj = Record<string, unknown>;

function bad(msg: string): never {
  throw new SignetError('MALFORMED', `trusted root ${msg}`);
}

function obj(v: unknown, where: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${where} is not an object`);
  return v as Obj;
}

function onlyFields(o: Obj, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`has an unknown field "${k}" in ${where}`);
}

function list(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(`${where} is not a list`);
  return v;
}

function bytes(v: unknown, where: string): Buffer {
  if (typeof v !== 'string') bad(`${where} is missing or not a string`);
  const b = decodeBase64Strict(v as string, `trusted root ${where}`);
  if (b.length === 0) bad(`${where} is empty`);
  return b;
}

/** RFC 3339 as protojson writes google.protobuf.Timestamp ("Z" or an offset, optional fraction). */
function timestamp(v: unknown, where: string): Date {
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
    bad(`${where} is not an RFC 3339 timestamp`);
  }
  const d = new Date(v as string);
  if (Number.isNaN(d.getTime())) bad(`${where} is not a valid date`);
  return d;
}

function validity(v: unknown, where: string): ValidityPeriod {
  if (v === undefined || v === null) return {};
  const o = obj(v, where);
  onlyFields(o, ['start', 'end'], where);
  const out: ValidityPeriod = {};
  if (o.start !== undefined) out.start = timestamp(o.start, `${where}.start`);
  if (o.end !== undefined) out.end = timestamp(o.end, `${where}.end`);
  if (out.start && out.end && out.end < out.start) bad(`${where} ends before it starts`);
  return out;
}

function keyId(v: unknown, where: string): Buffer {
  const o = obj(v, where);
  onlyFields(o, ['keyId'], where);
  return bytes(o.keyId, `${where}.keyId`);
}

function parseLog(v: unknown, i: number): TrustedLog {
  const where = `tlogs[${i}]`;
  const o = obj(v, where);
  onlyFields(o, ['baseUrl', 'hashAlgorithm', 'publicKey', 'logId', 'checkpointKeyId', 'operator'], where);
  if (typeof o.baseUrl !== 'string' || o.baseUrl === '') bad(`${where}.baseUrl is missing`);
  const hashAlgorithm = hashAlgFromName(o.hashAlgorithm, `trusted root ${where}.hashAlgorithm`);
  const pk = obj(o.publicKey, `${where}.publicKey`);
  onlyFields(pk, ['rawBytes', 'keyDetails', 'validFor'], `${where}.publicKey`);
  const spkiDer = bytes(pk.rawBytes, `${where}.publicKey.rawBytes`);
  if (typeof pk.keyDetails !== 'string' || !(pk.keyDetails in KEY_DETAILS)) {
    bad(`${where}.publicKey.keyDetails ${JSON.stringify(pk.keyDetails)} is not a supported log key type`);
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
  } catch {
    bad(`${where}.publicKey.rawBytes is not a DER SubjectPublicKeyInfo`);
  }
  const want = KEY_DETAILS[pk.keyDetails as string]!;
  if (publicKey.asymmetricKeyType !== want.type || (want.curve && publicKey.asymmetricKeyDetails?.namedCurve !== want.curve)) {
    bad(`${where}.publicKey is a ${publicKey.asymmetricKeyType ?? 'unknown'} key, but keyDetails says ${pk.keyDetails as string}`);
  }
  const log: TrustedLog = {
    baseUrl: o.baseUrl as string,
    hashAlgorithm,
    publicKey,
    spkiDer,
    keyDetails: pk.keyDetails as string,
    validFor: validity(pk.validFor, `${where}.publicKey.validFor`),
    logId: keyId(o.logId, `${where}.logId`),
  };
  if (log.logId.length !== 32) bad(`${where}.logId.keyId is ${log.logId.length} bytes, expected 32`);
  if (o.checkpointKeyId !== undefined && o.checkpointKeyId !== null) log.checkpointKeyId = keyId(o.checkpointKeyId, `${where}.checkpointKeyId`);
  if (o.operator !== undefined) {
    if (typeof o.operator !== 'string') bad(`${where}.operator is not a string`);
    log.operator = o.operator as string;
  }
  return log;
}

/** Parse a trusted_root.json strictly. Throws SignetError('MALFORMED') naming the offending field. */
export function parseTrustedRoot(input: Buffer | string): TrustedRoot {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof input === 'string' ? input : input.toString('utf8'));
  } catch {
    bad('is not valid JSON');
  }
  const root = obj(doc, 'document');
  onlyFields(root, ['mediaType', 'tlogs', 'certificateAuthorities', 'ctlogs', 'timestampAuthorities'], 'the trusted root');
  if (typeof root.mediaType !== 'string' || !(TRUSTED_ROOT_MEDIA_TYPES as readonly string[]).includes(root.mediaType)) {
    bad(`media type ${JSON.stringify(root.mediaType)} is not a supported trusted root version`);
  }
  const tlogs = list(root.tlogs, 'tlogs').map(parseLog);
  const ids = new Set<string>();
  for (const l of tlogs) {
    const id = l.logId.toString('hex');
    if (ids.has(id)) bad(`lists log ID ${l.logId.toString('base64')} twice`);
    ids.add(id);
  }
  return {
    mediaType: root.mediaType as string,
    tlogs,
    certificateAuthorities: list(root.certificateAuthorities, 'certificateAuthorities'),
    ctlogs: list(root.ctlogs, 'ctlogs'),
    timestampAuthorities: list(root.timestampAuthorities, 'timestampAuthorities'),
  };
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

/** The log whose log ID (or v0.2 checkpoint key ID) is exactly `id`. */
export function findLog(root: TrustedRoot, id: Uint8Array): TrustedLog | undefined {
  const b = Buffer.from(id.buffer, id.byteOffset, id.byteLength);
  return root.tlogs.find((l) => l.logId.equals(b) || (l.checkpointKeyId !== undefined && l.checkpointKeyId.equals(b)));
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
