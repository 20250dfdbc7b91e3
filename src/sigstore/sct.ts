/**
 * Embedded Signed Certificate Timestamps (RFC 6962 §3.2–3.3) in Fulcio leaves, verified against the CT
 * logs of a trusted root. Pure: no I/O.
 *
 * The CA asked the log to sign the precertificate, whose TBS is the final TBS without the SCT list
 * extension (the poison extension is not in the final certificate). That TBS is rebuilt by splicing the
 * extension out of the received bytes and fixing the three enclosing lengths: re-encoding the TBS from
 * a decoded schema would reproduce every byte only if the decoder round-trips exactly, and costs more
 * than the signature check itself (tests compare the splice with @peculiar/asn1-x509's re-encoding).
 * The SCT list is a TLS structure, not ASN.1, so it is read by hand.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { SignetError } from '../errors.js';
import { derRead, findExtension, parseCertificate, spkiSha256, type CertExtension, type ParsedCertificate } from './certificate.js';
import { parseCtLogs } from './trustedroot.js';

export const OID_SCT_LIST = '1.3.6.1.4.1.11129.2.4.2';

/** A CT log key from a trusted root; structurally compatible with trustedroot.ts's TrustedLog. */
export interface CtLog {
  logId: Buffer;
  /** Absent for a log the trusted root lists with a key Signet cannot use (`unusable` says why). */
  publicKey?: KeyObject;
  unusable?: string;
  validFor: { start?: Date; end?: Date };
  baseUrl?: string;
}

export interface Sct {
  version: number;
  logId: Buffer;
  /** Milliseconds since the epoch, as the log wrote it. */
  timestamp: bigint;
  extensions: Buffer;
  hashAlgorithm: number;
  signatureAlgorithm: number;
  signature: Buffer;
}

export interface VerifiedSct {
  sct: Sct;
  log: CtLog;
}

function bad(msg: string): never {
  throw new SignetError('MALFORMED', msg);
}

function fail(msg: string): never {
  throw new SignetError('VERIFICATION', msg);
}

/** Parse the extension value: a DER OCTET STRING holding the TLS `SignedCertificateTimestampList`. */
export function parseSctList(extValue: Buffer): Sct[] {
  const what = 'certificate SCT list';
  const os = derRead(extValue, 0, extValue.length, what);
  if (os.tag !== 0x04 || os.end !== extValue.length) bad(`${what} is not an OCTET STRING`);
  const b = extValue.subarray(os.body, os.end);
  if (b.length < 2 || b.readUInt16BE(0) !== b.length - 2) bad(`${what} has a wrong length`);
  const out: Sct[] = [];
  for (let p = 2; p < b.length; ) {
    if (p + 2 > b.length) bad(`${what} is truncated`);
    const len = b.readUInt16BE(p);
    p += 2;
    if (len === 0 || p + len > b.length) bad(`${what} has an SCT with a wrong length`);
    out.push(parseSct(b.subarray(p, p + len)));
    p += len;
  }
  if (out.length === 0) bad(`${what} is empty`);
  return out;
}

function parseSct(s: Buffer): Sct {
  const what = 'certificate SCT';
  if (s.length < 1 + 32 + 8 + 2) bad(`${what} is truncated`);
  const version = s[0]!;
  if (version !== 0) bad(`${what} has unsupported version ${version + 1}`);
  const logId = s.subarray(1, 33);
  const timestamp = s.readBigUInt64BE(33);
  let p = 41;
  const extLen = s.readUInt16BE(p);
  p += 2;
  if (p + extLen + 4 > s.length) bad(`${what} is truncated`);
  const extensions = s.subarray(p, p + extLen);
  p += extLen;
  const hashAlgorithm = s[p]!;
  const signatureAlgorithm = s[p + 1]!;
  const sigLen = s.readUInt16BE(p + 2);
  p += 4;
  if (p + sigLen !== s.length) bad(`${what} has a wrong signature length`);
  return { version, logId, timestamp, extensions, hashAlgorithm, signatureAlgorithm, signature: s.subarray(p) };
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, parts: Buffer[]): Buffer {
  const len = parts.reduce((a, b) => a + b.length, 0);
  return Buffer.concat([Buffer.from([tag]), derLength(len), ...parts]);
}

/** The precertificate TBS: the leaf's TBS with the SCT list extension removed, byte for byte otherwise. */
export function precertificateTbs(leaf: ParsedCertificate, sctExt: CertExtension): Buffer {
  const tbs = leaf.tbs;
  const w = leaf.extensionsWrapper;
  if (!w) bad('certificate has no extensions');
  const tbsHead = derRead(tbs, 0, tbs.length);
  const rest = Buffer.concat([tbs.subarray(w.seqBody, sctExt.start), tbs.subarray(sctExt.end, w.end)]);
  const wrapper = rest.length === 0 ? Buffer.alloc(0) : tlv(0xa3, [tlv(0x30, [rest])]);
  return tlv(0x30, [tbs.subarray(tbsHead.body, w.start), wrapper, tbs.subarray(w.end)]);
}

/** RFC 6962 §3.2 digitally-signed struct for a precert entry. */
function signedData(sct: Sct, issuerKeyHash: Buffer, tbs: Buffer): Buffer {
  if (tbs.length >= 1 << 24) bad('certificate TBS is too large for an SCT');
  const head = Buffer.alloc(1 + 1 + 8 + 2);
  head[0] = sct.version;
  head[1] = 0; // signature_type = certificate_timestamp
  head.writeBigUInt64BE(sct.timestamp, 2);
  head.writeUInt16BE(1, 10); // entry_type = precert_entry
  const tbsLen = Buffer.from([(tbs.length >> 16) & 0xff, (tbs.length >> 8) & 0xff, tbs.length & 0xff]);
  const extLen = Buffer.alloc(2);
  extLen.writeUInt16BE(sct.extensions.length);
  return Buffer.concat([head, issuerKeyHash, tbsLen, tbs, extLen, sct.extensions]);
}

const HASHES: Record<number, string> = { 4: 'sha256', 5: 'sha384', 6: 'sha512' };

function sctSignatureValid(sct: Sct, key: KeyObject, data: Buffer): boolean {
  try {
    // RFC 8446 SignatureScheme ed25519 = 0x0807 (hash byte 8, signature byte 7).
    if (sct.hashAlgorithm === 8 && sct.signatureAlgorithm === 7) {
      return key.asymmetricKeyType === 'ed25519' && cryptoVerify(null, data, key, sct.signature);
    }
    const hash = HASHES[sct.hashAlgorithm];
    const type = sct.signatureAlgorithm === 3 ? 'ec' : sct.signatureAlgorithm === 1 ? 'rsa' : undefined;
    if (!hash || !type || key.asymmetricKeyType !== type) return false;
    return cryptoVerify(hash, data, key, sct.signature);
  } catch {
    return false;
  }
}

function logName(log: CtLog): string {
  return log.baseUrl ? `CT log ${log.baseUrl}` : `CT log ${log.logId.toString('base64')}`;
}

/**
 * Verify the SCTs embedded in `leaf` (issued by `issuer`) against `ctlogs`; at least `threshold` SCTs
 * from distinct trusted logs must verify, each with its timestamp inside its log key's validity window.
 * Returns the verified SCTs; throws SignetError('VERIFICATION') with the reason otherwise.
 */
export function verifySct(
  leafIn: Uint8Array | ParsedCertificate,
  issuerIn: Uint8Array | ParsedCertificate,
  ctlogs: readonly CtLog[],
  threshold = 1,
): VerifiedSct[] {
  const leaf = leafIn instanceof Uint8Array ? parseCertificate(leafIn) : leafIn;
  const issuer = issuerIn instanceof Uint8Array ? parseCertificate(issuerIn, 'issuer certificate') : issuerIn;
  const ext = findExtension(leaf, OID_SCT_LIST);
  if (!ext) fail('certificate has no embedded signed certificate timestamp (SCT)');
  const scts = parseSctList(ext.value);
  let tbs: Buffer | undefined;
  const verified: VerifiedSct[] = [];
  const logsSeen = new Set<string>();
  const reasons: string[] = [];
  for (const sct of scts) {
    const log = ctlogs.find((l) => l.logId.equals(sct.logId));
    if (!log) {
      reasons.push(`SCT is from an unknown CT log ${sct.logId.toString('base64')}`);
      continue;
    }
    if (!log.publicKey) {
      reasons.push(`SCT is from ${logName(log)}, which the trusted root lists with a key Signet cannot use: ${log.unusable ?? 'no key'}`);
      continue;
    }
    tbs ??= precertificateTbs(leaf, ext);
    if (!sctSignatureValid(sct, log.publicKey, signedData(sct, spkiSha256(issuer), tbs))) {
      reasons.push(`SCT signature from ${logName(log)} does not verify`);
      continue;
    }
    const t = new Date(Number(sct.timestamp));
    if ((log.validFor.start && t < log.validFor.start) || (log.validFor.end && t > log.validFor.end)) {
      reasons.push(`SCT from ${logName(log)} has timestamp ${t.toISOString()}, outside the log key's validity`);
      continue;
    }
    const id = sct.logId.toString('hex');
    if (logsSeen.has(id)) continue;
    logsSeen.add(id);
    verified.push({ sct, log });
  }
  if (verified.length >= threshold) return verified;
  if (reasons.length === 1 && threshold === 1) fail(reasons[0]!);
  fail(`${verified.length} of ${scts.length} SCTs verified, ${threshold} required${reasons.length ? `: ${reasons.join('; ')}` : ''}`);
}

const ctLogCache = new WeakMap<readonly unknown[], CtLog[]>();

/**
 * trusted_root.json `ctlogs` (kept raw by trustedroot.ts) as CtLogs, parsed by trustedroot.ts's one log
 * parser; logs whose keys cannot be used stay in the list without a key, so an SCT from one of them
 * fails naming the reason. Cached per list.
 */
export function ctLogsFromTrustedRoot(raw: readonly unknown[]): CtLog[] {
  const hit = ctLogCache.get(raw);
  if (hit) return hit;
  const { logs, unusable } = parseCtLogs(raw);
  const out: CtLog[] = logs.map((l) => ({ logId: l.logId, publicKey: l.publicKey, validFor: l.validFor, ...(l.baseUrl ? { baseUrl: l.baseUrl } : {}) }));
  for (const u of unusable) {
    if (u.logId) out.push({ logId: u.logId, validFor: u.validFor, unusable: u.reason, ...(u.baseUrl ? { baseUrl: u.baseUrl } : {}) });
  }
  ctLogCache.set(raw, out);
  return out;
}
