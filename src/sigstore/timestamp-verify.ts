/**
 * RFC 3161 timestamp verification as Sigstore uses it: a TSA countersigns the hash of a signature, and
 * the verifier learns a trustworthy time at which that signature existed. Pure: no I/O; the trusted
 * timestamp authorities come from the trusted root (its `timestampAuthorities[]` entries).
 *
 * Everything here reads DER directly (certificate.ts's zero-copy reader), with no ASN.1 schema
 * package: the @peculiar schemas are ~250 modules, and loading them cost every verifying command
 * ~100 ms of cold start. The schema-based decoder and the ESS attribute schemas (what the TSA server
 * and tests need) live in timestamp.ts, which re-exports this module.
 */
import { createHash, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto';
import { SignetError } from '../errors.js';
import { derChildren, derOid, derRead, extendedKeyUsages, findExtension, parseCertificate, type DerElement, type ParsedCertificate } from './certificate.js';
import { decodeBase64Strict, type HashAlg } from './encoding.js';

// ---------------------------------------------------------------------------------------------
// Object identifiers
// ---------------------------------------------------------------------------------------------

export const OID = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  ecPublicKey: '1.2.840.10045.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  ed25519: '1.3.101.112',
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  attrContentType: '1.2.840.113549.1.9.3',
  attrMessageDigest: '1.2.840.113549.1.9.4',
  attrSigningTime: '1.2.840.113549.1.9.5',
  attrSigningCertificate: '1.2.840.113549.1.9.16.2.12',
  attrSigningCertificateV2: '1.2.840.113549.1.9.16.2.47',
  extKeyUsage: '2.5.29.37',
  kpTimeStamping: '1.3.6.1.5.5.7.3.8',
  /** Sigstore's TSA policy (Sigstore's private enterprise arc 57264, .2 = timestamping). */
  sigstoreTsaPolicy: '1.3.6.1.4.1.57264.2',
} as const;

export const HASH_OID: Record<HashAlg, string> = { sha256: OID.sha256, sha384: OID.sha384, sha512: OID.sha512 };

export function hashAlgFromOid(oid: string): HashAlg | undefined {
  for (const [alg, o] of Object.entries(HASH_OID)) if (o === oid) return alg as HashAlg;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Trusted-root shapes
// ---------------------------------------------------------------------------------------------

/** A `timestampAuthorities[]` element of a Sigstore trusted root (protojson). */
export interface TimestampAuthority {
  subject?: { organization?: string; commonName?: string };
  uri?: string;
  /** Leaf (the TSA signing certificate) first, root last. */
  certChain: { certificates: { rawBytes: string }[] };
  validFor?: { start?: string; end?: string };
  operator?: string;
}

export interface TimestampVerification {
  /** genTime of the timestamp. */
  time: Date;
  authority: TimestampAuthority;
}

export interface VerifyTimestampOptions {
  /** The bytes that were timestamped: in Sigstore, the artifact signature. */
  signature: Uint8Array;
  authorities: readonly TimestampAuthority[];
}

export function fail(message: string, cause?: unknown): never {
  throw new SignetError('VERIFICATION', message, cause === undefined ? undefined : { cause });
}

/** An authority's chain, decoded and checked once, independent of any particular timestamp. */
interface PreparedAuthority {
  authority: TimestampAuthority;
  chain: X509Certificate[];
  /** Validity of every chain certificate, read once (X509Certificate.validFrom is a string). */
  windows?: { from: Date; to: Date }[];
  leafKey?: KeyObject;
  leafDer: Buffer;
  /** The leaf's issuer Name exactly as encoded in the certificate (what a DER SignerIdentifier repeats). */
  leafIssuerRaw: Buffer;
  leafSerial: Buffer;
  leafSki?: Buffer;
  start?: Date;
  end?: Date;
  /** Why this authority can never verify anything (bad chain, wrong EKU), or undefined. */
  defect?: string;
}

const prepared = new WeakMap<TimestampAuthority, PreparedAuthority>();

function parseTime(s: string | undefined, what: string): Date | undefined {
  if (s === undefined) return undefined;
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new SignetError('MALFORMED', `trusted root: ${what} ${JSON.stringify(s)} is not a time`);
  return d;
}

function prepare(a: TimestampAuthority): PreparedAuthority {
  const cached = prepared.get(a);
  if (cached) return cached;
  const certs = a?.certChain?.certificates;
  if (!Array.isArray(certs) || certs.length === 0) {
    throw new SignetError('MALFORMED', 'trusted root: a timestamp authority has no certificate chain');
  }
  const ders = certs.map((c, i) => decodeBase64Strict(String(c?.rawBytes ?? ''), `trusted root: timestamp authority certificate ${i}`));
  let chain: X509Certificate[];
  let leaf: ParsedCertificate;
  try {
    chain = ders.map((d) => new X509Certificate(d));
    leaf = parseCertificate(ders[0]!);
  } catch (e) {
    throw new SignetError('MALFORMED', 'trusted root: a timestamp authority certificate does not parse', { cause: e });
  }
  const p: PreparedAuthority = {
    authority: a,
    chain,
    leafDer: ders[0]!,
    leafIssuerRaw: leaf.issuerRaw,
    leafSerial: normalizeSerial(leaf.serialNumber),
    start: parseTime(a.validFor?.start, 'validFor.start'),
    end: parseTime(a.validFor?.end, 'validFor.end'),
  };
  // SubjectKeyIdentifier ::= OCTET STRING; an unreadable one only means no match by key identifier.
  const ski = findExtension(leaf, '2.5.29.14')?.value;
  if (ski && ski.length >= 2 && ski[0] === 0x04) {
    try {
      const el = derRead(ski, 0, ski.length, 'subject key identifier');
      if (el.end === ski.length) p.leafSki = ski.subarray(el.body, el.end);
    } catch {
      // as above
    }
  }
  p.defect = chainDefect(chain) ?? ekuDefect(leaf);
  prepared.set(a, p);
  return p;
}

/** Each certificate must be signed by the next one; the last is the trust anchor as given. */
function chainDefect(chain: X509Certificate[]): string | undefined {
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.verify(chain[i + 1]!.publicKey)) return 'the timestamp authority certificate chain does not verify';
    if (!chain[i + 1]!.ca) return 'the timestamp authority certificate chain has a non-CA issuer';
  }
  return undefined;
}

/** RFC 3161 §2.3: the TSA certificate has exactly one EKU, id-kp-timeStamping, and it is critical. */
function ekuDefect(leaf: ParsedCertificate): string | undefined {
  const eku = findExtension(leaf, OID.extKeyUsage);
  if (!eku || !eku.critical) return 'the timestamp authority certificate lacks the critical timeStamping extended key usage';
  let usages: string[];
  try {
    usages = extendedKeyUsages(leaf)!;
  } catch {
    return 'the timestamp authority certificate has an unreadable extended key usage';
  }
  if (usages.length !== 1 || usages[0] !== OID.kpTimeStamping) {
    return 'the timestamp authority certificate must have timeStamping as its only extended key usage';
  }
  return undefined;
}

// INTEGER contents may carry a leading 0x00 that only marks the number positive; compare magnitudes.
function normalizeSerial(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** Hash of a signature algorithm, given the SignerInfo's digest algorithm for the bare-key OIDs. */
function signatureHash(sigAlg: string, digestAlg: HashAlg): HashAlg | null {
  switch (sigAlg) {
    case OID.ecdsaWithSha256:
    case OID.sha256WithRsa:
      return 'sha256';
    case OID.ecdsaWithSha384:
    case OID.sha384WithRsa:
      return 'sha384';
    case OID.ecdsaWithSha512:
    case OID.sha512WithRsa:
      return 'sha512';
    case OID.ecPublicKey:
    case OID.rsaEncryption:
      return digestAlg;
    case OID.ed25519:
      return null;
    default:
      return fail(`timestamp uses unsupported signature algorithm ${sigAlg}`);
  }
}

/**
 * The schema engine decodes BER leniently (an inner length may overrun its parent), which would let
 * unsigned framing bytes change without effect. Timestamps are DER (RFC 3161 §2.4.2): walk the
 * tag-length-value framing once and refuse indefinite, non-minimal or inconsistent lengths.
 */
export function assertDerFraming(buf: Uint8Array, what: string): void {
  const badDer = (why: string): never => {
    throw new SignetError('MALFORMED', `${what} is not DER: ${why}`);
  };
  const walk = (start: number, end: number, depth: number): void => {
    if (depth > 64) badDer('nested too deeply');
    let i = start;
    while (i < end) {
      const tag = buf[i++]!;
      if ((tag & 0x1f) === 0x1f) {
        // high tag number form: base-128 continuation octets
        while (i < end && buf[i]! & 0x80) i++;
        i++;
      }
      if (i >= end) badDer('truncated element');
      let len = buf[i++]!;
      if (len === 0x80) badDer('indefinite length');
      if (len & 0x80) {
        const n = len & 0x7f;
        if (n > 4 || i + n > end) badDer('bad length');
        if (buf[i] === 0) badDer('non-minimal length');
        len = 0;
        for (let k = 0; k < n; k++) len = len * 256 + buf[i++]!;
        if (len < 0x80) badDer('non-minimal length');
      }
      if (i + len > end) badDer('element overruns its container');
      if (tag & 0x20) walk(i, i + len, depth + 1);
      i += len;
    }
  };
  walk(0, buf.length, 0);
}

function within(t: Date, start: Date | undefined, end: Date | undefined): boolean {
  return (start === undefined || t >= start) && (end === undefined || t <= end);
}

// ---------------------------------------------------------------------------------------------
// The verification hot path: a zero-copy DER reading of the response. A schema decode of a
// TimeStampResp (embedded certificates included) cost ~1.1 ms, more than a keyless bundle's whole
// budget; this reads the same fields as offsets into the received bytes and keeps every check of
// parseTimestampResponse (which stays, schema-based, for the TSA client and tests).
// ---------------------------------------------------------------------------------------------

/** What verifyTimestamp needs from a TimeStampResp; every Buffer is a view into the response. */
interface TimestampView {
  imprintAlg: string;
  imprint: Buffer;
  /** TSTInfo nonce INTEGER contents, if present. */
  nonce?: Buffer;
  genTime: Date;
  tstInfoDer: Buffer;
  sid: { issuerRaw: Buffer; serial: Buffer } | { ski: Buffer };
  digestAlg: string;
  signatureAlg: string;
  signature: Buffer;
  /** The signed attributes re-tagged as SET OF (a copy: one byte differs from what was received). */
  signedAttrsDer: Buffer;
  /** attrType → its single value element (full TLV). */
  attrs: Map<string, Buffer>;
}

function tsMalformed(msg: string): never {
  throw new SignetError('MALFORMED', msg);
}

/** The children of `el`, which must have tag `tag`. */
function kids(buf: Buffer, el: DerElement | undefined, tag: number, what: string): DerElement[] {
  if (!el || el.tag !== tag) tsMalformed(`${what} is malformed`);
  return derChildren(buf, el!, what);
}

/** A small non-negative INTEGER (versions, status). */
function smallInt(buf: Buffer, el: DerElement | undefined, what: string): number {
  if (!el || el.tag !== 0x02 || el.end === el.body || el.end - el.body > 4 || buf[el.body]! & 0x80) tsMalformed(`${what} is malformed`);
  let v = 0;
  for (let i = el!.body; i < el!.end; i++) v = v * 256 + buf[i]!;
  return v;
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }; parameters absent or NULL. */
function algorithm(buf: Buffer, el: DerElement | undefined, what: string): string {
  const f = kids(buf, el, 0x30, what);
  if (f.length < 1 || f.length > 2) tsMalformed(`${what} is malformed`);
  if (f.length === 2 && (f[1]!.tag !== 0x05 || f[1]!.end !== f[1]!.body)) tsMalformed(`${what} has unexpected parameters`);
  return derOid(buf, f[0]!, what);
}

function contents(buf: Buffer, el: DerElement): Buffer {
  return buf.subarray(el.body, el.end);
}

/** DER GeneralizedTime as RFC 3161 §2.4.2 has it: YYYYMMDDhhmmss[.f*]Z, no trailing zero in the fraction. */
function generalizedTime(buf: Buffer, el: DerElement | undefined, what: string): Date {
  if (!el || el.tag !== 0x18) tsMalformed(`${what} has no genTime`);
  const s = buf.toString('latin1', el!.body, el!.end);
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z$/.exec(s);
  if (!m) tsMalformed(`${what} has a malformed genTime "${s}"`);
  const ms = m![7] ? Number(m![7].slice(0, 3).padEnd(3, '0')) : 0;
  const d = new Date(Date.UTC(Number(m![1]), Number(m![2]) - 1, Number(m![3]), Number(m![4]), Number(m![5]), Number(m![6]), ms));
  if (Number.isNaN(d.getTime()) || d.getUTCDate() !== Number(m![3]) || d.getUTCHours() !== Number(m![4])) tsMalformed(`${what} has an invalid genTime "${s}"`);
  return d;
}

function readTimestamp(respIn: Uint8Array): TimestampView {
  const resp = Buffer.isBuffer(respIn) ? respIn : Buffer.from(respIn.buffer, respIn.byteOffset, respIn.byteLength);
  assertDerFraming(resp, 'timestamp response');
  if (resp[0] !== 0x30) tsMalformed('timestamp response is not a SEQUENCE');
  const W = 'timestamp response';
  const top = derRead(resp, 0, resp.length, W);
  if (top.end !== resp.length) tsMalformed('timestamp is not a DER TimeStampResp');
  const r = derChildren(resp, top, W);
  if (r.length < 1 || r.length > 2) tsMalformed('timestamp is not a DER TimeStampResp');
  // PKIStatusInfo ::= SEQUENCE { status INTEGER, statusString PKIFreeText OPTIONAL, failInfo BIT STRING OPTIONAL }
  const si = kids(resp, r[0], 0x30, 'timestamp status');
  const status = smallInt(resp, si[0], 'timestamp status');
  let texts: string[] = [];
  let k = 1;
  if (si[k]?.tag === 0x30) {
    texts = kids(resp, si[k], 0x30, 'timestamp status text').map((t) => {
      if (t.tag !== 0x0c) tsMalformed('timestamp status text is malformed');
      return resp.toString('utf8', t.body, t.end);
    });
    k++;
  }
  if (si[k]?.tag === 0x03) k++;
  if (k !== si.length) tsMalformed('timestamp status is malformed');
  if (status !== 0 && status !== 1) {
    const text = texts.join('; ');
    fail(`timestamp authority refused the request (status ${status}${text ? `: ${text}` : ''})`);
  }
  if (!r[1]) tsMalformed('timestamp response carries no timestamp token');

  // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }
  const T = 'timestamp token';
  const ci = kids(resp, r[1], 0x30, T);
  if (ci.length !== 2) tsMalformed(`${T} is malformed`);
  const contentType = derOid(resp, ci[0]!, T);
  if (contentType !== OID.signedData) tsMalformed(`${T} has content type ${contentType}, not signed-data`);
  const wrapped = kids(resp, ci[1], 0xa0, T);
  if (wrapped.length !== 1) tsMalformed(`${T} is not CMS SignedData`);

  // SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo, [0] certificates, [1] crls, signerInfos SET }
  const sd = kids(resp, wrapped[0], 0x30, `${T} SignedData`);
  if (sd.length < 4 || sd.length > 6) tsMalformed(`${T} is not CMS SignedData`);
  const sdVersion = smallInt(resp, sd[0], `${T} SignedData version`);
  const digestAlgs = kids(resp, sd[1], 0x31, `${T} digest algorithms`).map((a) => algorithm(resp, a, `${T} digest algorithm`));
  const eci = kids(resp, sd[2], 0x30, `${T} encapsulated content`);
  if (eci.length < 1 || eci.length > 2) tsMalformed(`${T} encapsulated content is malformed`);
  const eContentType = derOid(resp, eci[0]!, T);
  if (eContentType !== OID.tstInfo) tsMalformed(`${T} encapsulates ${eContentType}, not TSTInfo`);
  if (!eci[1]) tsMalformed(`${T} has no TSTInfo content`);
  const octets = kids(resp, eci[1], 0xa0, `${T} encapsulated content`);
  if (octets.length !== 1 || octets[0]!.tag !== 0x04) tsMalformed(`${T} has no TSTInfo content`);
  const tstInfoDer = contents(resp, octets[0]!);
  let i = 3;
  if (sd[i]?.tag === 0xa0) {
    // The embedded certificates are not trusted (the trusted root is); they must still be certificates.
    for (const c of derChildren(resp, sd[i]!, `${T} certificates`)) {
      if (c.tag !== 0x30) tsMalformed(`${T} embeds something other than a certificate`);
      parseCertificate(resp.subarray(c.start, c.end), `${T} embedded certificate`);
    }
    i++;
  }
  if (sd[i]?.tag === 0xa1) i++;
  if (i !== sd.length - 1) tsMalformed(`${T} is not CMS SignedData`);
  const signers = kids(resp, sd[i], 0x31, `${T} signer infos`);

  // TSTInfo (as received: it is what the message-digest attribute covers)
  const I = `${T} TSTInfo`;
  const tstTop = derRead(tstInfoDer, 0, tstInfoDer.length, I);
  if (tstTop.end !== tstInfoDer.length) tsMalformed(`${T} has a TSTInfo that does not parse`);
  const tf = kids(tstInfoDer, tstTop, 0x30, I);
  if (tf.length < 5) tsMalformed(`${T} has a TSTInfo that does not parse`);
  const tstVersion = smallInt(tstInfoDer, tf[0], `${I} version`);
  derOid(tstInfoDer, tf[1]!, `${I} policy`);
  const mi = kids(tstInfoDer, tf[2], 0x30, `${I} message imprint`);
  if (mi.length !== 2 || mi[1]!.tag !== 0x04) tsMalformed(`${I} message imprint is malformed`);
  const imprintAlg = algorithm(tstInfoDer, mi[0], `${I} message imprint algorithm`);
  if (tf[3]!.tag !== 0x02 || tf[3]!.end === tf[3]!.body) tsMalformed(`${I} serial number is malformed`);
  const genTime = generalizedTime(tstInfoDer, tf[4], T);
  // accuracy SEQUENCE, ordering BOOLEAN, nonce INTEGER, tsa [0], extensions [1]: optional, in this order.
  let j = 5;
  let nonce: Buffer | undefined;
  for (const tag of [0x30, 0x01, 0x02, 0xa0, 0xa1]) {
    if (tf[j]?.tag !== tag) continue;
    if (tag === 0x02) nonce = contents(tstInfoDer, tf[j]!);
    j++;
  }
  if (j !== tf.length) tsMalformed(`${T} has a TSTInfo that does not parse`);
  if (tstVersion !== 1) tsMalformed(`${T} has TSTInfo version ${tstVersion}`);
  if (sdVersion !== 3) tsMalformed(`${T} has SignedData version ${sdVersion}, not 3`);
  if (signers.length !== 1) tsMalformed(`${T} has ${signers.length} signers, not exactly one`);

  // SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature, [1] unsignedAttrs }
  const S = `${T} SignerInfo`;
  const sf = kids(resp, signers[0], 0x30, S);
  if (sf.length < 5 || sf.length > 7) tsMalformed(`${S} is malformed`);
  const siVersion = smallInt(resp, sf[0], `${S} version`);
  let sid: TimestampView['sid'];
  if (sf[1]!.tag === 0x30) {
    const ias = derChildren(resp, sf[1]!, `${S} issuer and serial`);
    if (ias.length !== 2 || ias[0]!.tag !== 0x30 || ias[1]!.tag !== 0x02 || ias[1]!.end === ias[1]!.body) tsMalformed(`${S} issuer and serial is malformed`);
    sid = { issuerRaw: resp.subarray(ias[0]!.start, ias[0]!.end), serial: contents(resp, ias[1]!) };
  } else if (sf[1]!.tag === 0x80) {
    sid = { ski: contents(resp, sf[1]!) };
  } else tsMalformed(`${S} signer identifier is malformed`);
  const sidVersion = 'ski' in sid! ? 3 : 1;
  if (siVersion !== sidVersion) tsMalformed(`${T} has SignerInfo version ${siVersion}, not ${sidVersion}`);
  const digestAlg = algorithm(resp, sf[2], `${S} digest algorithm`);
  if (!digestAlgs.includes(digestAlg)) tsMalformed(`${T} does not list its signer digest algorithm among its digest algorithms`);
  if (sf[3]!.tag !== 0xa0) tsMalformed(`${T} has no signed attributes`);
  const sa = sf[3]!;
  const attrs = new Map<string, Buffer>();
  for (const a of derChildren(resp, sa, `${S} signed attributes`)) {
    const af = kids(resp, a, 0x30, `${S} signed attribute`);
    if (af.length !== 2) tsMalformed(`${S} signed attribute is malformed`);
    const type = derOid(resp, af[0]!, `${S} signed attribute`);
    const values = kids(resp, af[1], 0x31, `${S} signed attribute ${type}`);
    if (attrs.has(type)) tsMalformed(`${T} repeats signed attribute ${type}`);
    if (values.length !== 1) tsMalformed(`${T} has ${values.length} values for signed attribute ${type}`);
    attrs.set(type, resp.subarray(values[0]!.start, values[0]!.end));
  }
  const signatureAlg = algorithm(resp, sf[4], `${S} signature algorithm`);
  if (!sf[5] || sf[5].tag !== 0x04) tsMalformed(`${S} has no signature`);
  if (sf[6] && sf[6].tag !== 0xa1) tsMalformed(`${S} is malformed`);
  // The attributes are transmitted as [0] IMPLICIT but signed as a universal SET (RFC 5652 §5.4).
  const signedAttrsDer = Buffer.from(resp.subarray(sa.start, sa.end));
  signedAttrsDer[0] = 0x31;
  return { imprintAlg, imprint: contents(tstInfoDer, mi[1]!), ...(nonce ? { nonce } : {}), genTime, tstInfoDer, sid: sid!, digestAlg, signatureAlg, signature: contents(resp, sf[5]), signedAttrsDer, attrs };
}

/**
 * What a TSA client checks in a fresh response before trusting it further: the structure (every check
 * verifyTimestamp makes of it), status granted, and the imprint and nonce it answers.
 */
export function readTimestampAnswer(resp: Uint8Array): { imprintAlg: string; imprint: Buffer; nonce?: Buffer; genTime: Date } {
  const ts = readTimestamp(resp);
  return { imprintAlg: ts.imprintAlg, imprint: ts.imprint, ...(ts.nonce ? { nonce: ts.nonce } : {}), genTime: ts.genTime };
}

/**
 * Verify an RFC 3161 timestamp over `signature` against the trusted timestamp authorities; returns
 * the time it vouches for and the authority that issued it. Throws SignetError 'VERIFICATION'.
 */
export function verifyTimestamp(respDer: Uint8Array, opts: VerifyTimestampOptions): TimestampVerification {
  const ts = readTimestamp(respDer);

  // 1. What was timestamped: the imprint must be the hash of our signature.
  const imprintAlg = hashAlgFromOid(ts.imprintAlg);
  if (!imprintAlg) fail(`timestamp imprint uses unsupported hash algorithm ${ts.imprintAlg}`);
  const expectedImprint = createHash(imprintAlg!).update(opts.signature).digest();
  if (!expectedImprint.equals(ts.imprint)) fail('timestamp is for other data');

  // 2. The signed attributes bind the TSTInfo bytes.
  const digestAlg = hashAlgFromOid(ts.digestAlg);
  if (!digestAlg) fail(`timestamp signer uses unsupported digest algorithm ${ts.digestAlg}`);
  const ct = ts.attrs.get(OID.attrContentType);
  let ctValue: string | undefined;
  if (ct) {
    const el = derRead(ct, 0, ct.length, 'timestamp content-type attribute');
    if (el.end !== ct.length) tsMalformed('timestamp content-type attribute does not parse');
    ctValue = derOid(ct, el, 'timestamp content-type attribute');
  }
  if (ctValue !== OID.tstInfo) fail('timestamp signed attributes do not declare TSTInfo content');
  const md = ts.attrs.get(OID.attrMessageDigest);
  if (!md) fail('timestamp signed attributes lack a message digest');
  const mdEl = derRead(md!, 0, md!.length, 'timestamp message-digest attribute');
  if (mdEl.tag !== 0x04 || mdEl.end !== md!.length) tsMalformed('timestamp message-digest attribute does not parse');
  if (!createHash(digestAlg!).update(ts.tstInfoDer).digest().equals(contents(md!, mdEl))) {
    fail('timestamp content does not match its signed message digest');
  }

  // 3. Who signed: an authority from the trusted root whose leaf is the signer, valid at genTime.
  const sid = ts.sid;
  // An authority whose certificates cannot be read is skipped; it is named only if no other issued this.
  const unusable: string[] = [];
  const usable = opts.authorities.flatMap((a) => {
    try {
      return [prepare(a)];
    } catch (e) {
      unusable.push(`timestamp authority${a?.uri ? ` ${a.uri}` : ''} cannot be used: ${(e as Error).message.replace(/^trusted root: /, '')}`);
      return [];
    }
  });
  const candidates = usable.filter((p) => {
    if ('ski' in sid) return p.leafSki !== undefined && sid.ski.equals(p.leafSki);
    return normalizeSerial(sid.serial).equals(p.leafSerial) && sid.issuerRaw.equals(p.leafIssuerRaw);
  });
  if (candidates.length === 0) fail(`timestamp was not issued by a trusted timestamp authority${unusable.length ? ` (${unusable.join('; ')})` : ''}`);

  let firstReason: string | undefined;
  for (const p of candidates) {
    const reason = checkWithAuthority(ts, p, digestAlg!);
    if (reason === undefined) return { time: ts.genTime, authority: p.authority };
    firstReason ??= reason;
  }
  return fail(firstReason!);
}


/** Undefined if `p` vouches for this timestamp, else why not. */
function checkWithAuthority(ts: TimestampView, p: PreparedAuthority, digestAlg: HashAlg): string | undefined {
  if (p.defect) return p.defect;
  const t = ts.genTime;
  if (!within(t, p.start, p.end)) return 'timestamp is outside the validity period of its timestamp authority';
  p.windows ??= p.chain.map((c) => ({ from: new Date(c.validFrom), to: new Date(c.validTo) }));
  for (const w of p.windows) {
    if (!within(t, w.from, w.to)) return 'timestamp is outside the validity period of the timestamp authority certificates';
  }
  const leafKey: KeyObject = (p.leafKey ??= p.chain[0]!.publicKey);
  const hash = signatureHash(ts.signatureAlg, digestAlg);
  let ok: boolean;
  try {
    ok = cryptoVerify(hash, ts.signedAttrsDer, leafKey, ts.signature);
  } catch {
    ok = false;
  }
  if (!ok) return 'timestamp signature does not verify with the timestamp authority key';
  return signingCertDefect(ts, p);
}

/** The ESS signing-certificate attribute (RFC 5816) must name the leaf that signed. */
function signingCertDefect(ts: TimestampView, p: PreparedAuthority): string | undefined {
  const v2 = ts.attrs.get(OID.attrSigningCertificateV2);
  const v1 = ts.attrs.get(OID.attrSigningCertificate);
  let hashAlg: string;
  let certHash: Buffer;
  try {
    const attr = v2 ?? v1;
    if (!attr) return 'timestamp does not identify its signing certificate';
    // SigningCertificate(V2) ::= SEQUENCE { certs SEQUENCE OF ESSCertID(v2), policies SEQUENCE OF PolicyInformation OPTIONAL }
    const W = 'timestamp signing-certificate attribute';
    const top = derRead(attr, 0, attr.length, W);
    if (top.end !== attr.length) throw new Error('trailing data');
    const f = kids(attr, top, 0x30, W);
    if (f.length < 1 || f.length > 2 || (f[1] && f[1].tag !== 0x30)) throw new Error('malformed');
    const certs = kids(attr, f[0], 0x30, W);
    const first = certs[0];
    if (!first) return 'timestamp signing-certificate attribute is empty';
    for (const c of certs) if (c.tag !== 0x30) throw new Error('malformed');
    // ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT sha256, certHash OCTET STRING, issuerSerial OPTIONAL }
    // ESSCertID   ::= SEQUENCE { certHash OCTET STRING (SHA-1), issuerSerial OPTIONAL }
    const id = derChildren(attr, first, W);
    let n = 0;
    if (v2) {
      let oid: string = OID.sha256;
      if (id[0]?.tag === 0x30) oid = algorithm(attr, id[n++], W);
      const alg = hashAlgFromOid(oid);
      if (!alg) return `timestamp signing-certificate attribute uses unsupported hash ${oid}`;
      hashAlg = alg;
    } else {
      // ESSCertID v1 is defined with SHA-1; here it only identifies a certificate already trusted.
      hashAlg = 'sha1';
    }
    if (id[n]?.tag !== 0x04) throw new Error('malformed');
    certHash = contents(attr, id[n++]!);
    if (id[n]?.tag === 0x30) n++;
    if (n !== id.length) throw new Error('malformed');
  } catch {
    return 'timestamp signing-certificate attribute does not parse';
  }
  if (!createHash(hashAlg).update(p.leafDer).digest().equals(certHash)) {
    return 'timestamp signing-certificate attribute names another certificate';
  }
  return undefined;
}
