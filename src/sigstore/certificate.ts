/**
 * Certificate-side verification for keyless bundles: a Fulcio leaf is checked against the certificate
 * authorities of a trusted root (path, signatures, validity at every verified signing time, basic
 * constraints, EKU, critical extensions). Pure: no I/O.
 *
 * Speed is the point of this module (DESIGN.md: ≥ 800 keyless bundles/s on one core). A schema-driven
 * parse of a Fulcio leaf with @peculiar/asn1-schema costs ~0.7 ms and a TBS re-encode another ~0.6 ms,
 * more than the whole per-bundle budget, so the certificate's outer structure is read here through a
 * minimal zero-copy DER view (offsets into the received bytes, never re-serialized), and so are the small
 * extension values (basic constraints, EKU; the SAN in identity.ts); the tests check the view against the
 * @peculiar/asn1-x509 schema decoder on real and generated certificates. Signatures are OpenSSL's
 * (crypto.verify); everything that repeats per trusted root (parsed CA certificates, their keys, the
 * validation of the CA chains themselves) is computed once per process and cached.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { SignetError } from '../errors.js';

// ---------------------------------------------------------------------------------------------------
// Zero-copy DER view

/** One DER element: `start` is the tag byte, `body` the first content byte, `end` one past the last. */
export interface DerElement {
  tag: number;
  start: number;
  body: number;
  end: number;
}

function malformed(what: string): never {
  throw new SignetError('MALFORMED', what);
}

/** Read the element at `pos`, which must end at or before `limit`. Definite, minimal lengths only (DER). */
export function derRead(buf: Uint8Array, pos: number, limit: number, what = 'certificate'): DerElement {
  if (pos + 2 > limit) malformed(`${what} is truncated`);
  const tag = buf[pos]!;
  // High tag numbers never occur in X.509; refusing them keeps the reader one byte per tag.
  if ((tag & 0x1f) === 0x1f) malformed(`${what} uses an unsupported multi-byte ASN.1 tag`);
  let len = buf[pos + 1]!;
  let body = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) malformed(`${what} uses an indefinite length (not DER)`);
    if (n > 4) malformed(`${what} has an element longer than 4 GiB`);
    if (body + n > limit) malformed(`${what} is truncated`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[body + i]!;
    if (buf[body] === 0 || len < 0x80) malformed(`${what} has a non-minimal DER length`);
    body += n;
  }
  const end = body + len;
  if (end > limit) malformed(`${what} is truncated`);
  return { tag, start: pos, body, end };
}

/** The children of a constructed element. */
export function derChildren(buf: Uint8Array, el: DerElement, what = 'certificate'): DerElement[] {
  const out: DerElement[] = [];
  for (let p = el.body; p < el.end; ) {
    const c = derRead(buf, p, el.end, what);
    out.push(c);
    p = c.end;
  }
  return out;
}

/** Dotted-decimal form of an OBJECT IDENTIFIER body. */
export function derOid(buf: Uint8Array, el: DerElement, what = 'certificate'): string {
  if (el.tag !== 0x06 || el.end === el.body) malformed(`${what} has a malformed object identifier`);
  const parts: number[] = [];
  let v = 0;
  for (let i = el.body; i < el.end; i++) {
    const b = buf[i]!;
    if (v === 0 && b === 0x80) malformed(`${what} has a non-minimal object identifier`);
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        parts.push(first, v - first * 40);
      } else parts.push(v);
      v = 0;
    } else if (i === el.end - 1) malformed(`${what} has a truncated object identifier`);
  }
  return parts.join('.');
}

function derTime(buf: Buffer, el: DerElement, what: string): Date {
  const s = buf.toString('latin1', el.body, el.end);
  let m: RegExpExecArray | null;
  let year: number;
  if (el.tag === 0x17 && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    const yy = Number(m[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy; // RFC 5280 §4.1.2.5.1
  } else if (el.tag === 0x18 && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    year = Number(m[1]);
  } else malformed(`${what} has a malformed validity time "${s}"`);
  const d = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  if (Number.isNaN(d.getTime()) || d.getUTCDate() !== Number(m[3])) malformed(`${what} has an invalid validity time "${s}"`);
  return d;
}

// ---------------------------------------------------------------------------------------------------
// Parsed certificates

export interface CertExtension {
  oid: string;
  critical: boolean;
  /** The extnValue contents (the DER inside the OCTET STRING), a view into the certificate. */
  value: Buffer;
  /** Offsets of the whole Extension element inside `tbs`, for re-building the precertificate TBS. */
  start: number;
  end: number;
}

/** A certificate read through the zero-copy view: every Buffer is a subarray of `der`. */
export interface ParsedCertificate {
  der: Buffer;
  /** The complete TBSCertificate element (what the issuer signed). */
  tbs: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
  serialNumber: Buffer;
  /** Raw DER Names; chains are built by byte equality, as Go's crypto/x509 does. */
  issuerRaw: Buffer;
  subjectRaw: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo. */
  spki: Buffer;
  extensions: CertExtension[];
  /** Offsets inside `tbs` of the [3] extensions wrapper and of the SEQUENCE inside it (if any). */
  extensionsWrapper?: { start: number; seqStart: number; seqBody: number; end: number };
}

export const OID_EKU_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const OID_EKU_ANY = '2.5.29.37.0';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_EXT_KEY_USAGE = '2.5.29.37';

/**
 * Critical extensions we understand (so may accept when critical): key usage, SAN (critical in Fulcio
 * certificates, and we read it in identity.ts), basic constraints, EKU, SKI, AKI, certificate policies.
 * Name constraints are not enforced here, so a critical one is refused rather than ignored.
 */
const UNDERSTOOD_CRITICAL = new Set(['2.5.29.15', '2.5.29.17', OID_BASIC_CONSTRAINTS, OID_EXT_KEY_USAGE, '2.5.29.14', '2.5.29.35', '2.5.29.32']);

/** Read a DER X.509 certificate. Throws SignetError('MALFORMED') on anything that is not one. */
export function parseCertificate(input: Uint8Array, what = 'certificate'): ParsedCertificate {
  const der = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const cert = derRead(der, 0, der.length, what);
  if (cert.tag !== 0x30 || cert.end !== der.length) malformed(`${what} is not a DER certificate`);
  const top = derChildren(der, cert, what);
  if (top.length !== 3 || top[0]!.tag !== 0x30 || top[1]!.tag !== 0x30 || top[2]!.tag !== 0x03) malformed(`${what} is not a DER certificate`);
  const [tbsEl, outerAlgEl, sigEl] = top as [DerElement, DerElement, DerElement];
  if (sigEl.end - sigEl.body < 2 || der[sigEl.body] !== 0) malformed(`${what} has a malformed signature`);

  const tbsF = derChildren(der, tbsEl, what);
  let i = 0;
  if (tbsF[0]?.tag === 0xa0) {
    const v = derChildren(der, tbsF[0], what);
    if (v.length !== 1 || v[0]!.tag !== 0x02 || v[0]!.end - v[0]!.body !== 1 || der[v[0]!.body] !== 2) {
      malformed(`${what} is not an X.509 v3 certificate`);
    }
    i = 1;
  } else malformed(`${what} is not an X.509 v3 certificate`);
  const [serialEl, innerAlgEl, issuerEl, validityEl, subjectEl, spkiEl] = tbsF.slice(i, i + 6);
  if (!serialEl || serialEl.tag !== 0x02 || !innerAlgEl || innerAlgEl.tag !== 0x30 || !issuerEl || issuerEl.tag !== 0x30) {
    malformed(`${what} has a malformed TBSCertificate`);
  }
  if (!validityEl || validityEl.tag !== 0x30 || !subjectEl || subjectEl.tag !== 0x30 || !spkiEl || spkiEl.tag !== 0x30) {
    malformed(`${what} has a malformed TBSCertificate`);
  }
  // RFC 5280 §4.1.1.2: the signed algorithm must be the one the outer wrapper names.
  if (!der.subarray(innerAlgEl.start, innerAlgEl.end).equals(der.subarray(outerAlgEl.start, outerAlgEl.end))) {
    malformed(`${what}: inner and outer signature algorithms differ`);
  }
  const algOid = derChildren(der, outerAlgEl, what)[0];
  if (!algOid) malformed(`${what} has a malformed signature algorithm`);
  const times = derChildren(der, validityEl, what);
  if (times.length !== 2) malformed(`${what} has a malformed validity`);

  const tbsStart = tbsEl.start;
  const extensions: CertExtension[] = [];
  let extensionsWrapper: ParsedCertificate['extensionsWrapper'];
  for (const el of tbsF.slice(i + 6)) {
    if (el.tag === 0x81 || el.tag === 0x82) continue; // issuer/subject unique IDs
    if (el.tag !== 0xa3) malformed(`${what} has an unexpected field in its TBSCertificate`);
    if (extensionsWrapper) malformed(`${what} has two extension lists`);
    const seqs = derChildren(der, el, what);
    if (seqs.length !== 1 || seqs[0]!.tag !== 0x30) malformed(`${what} has a malformed extension list`);
    const seq = seqs[0]!;
    extensionsWrapper = { start: el.start - tbsStart, seqStart: seq.start - tbsStart, seqBody: seq.body - tbsStart, end: el.end - tbsStart };
    const seen = new Set<string>();
    for (const ext of derChildren(der, seq, what)) {
      const f = ext.tag === 0x30 ? derChildren(der, ext, what) : [];
      if (f.length < 2 || f.length > 3) malformed(`${what} has a malformed extension`);
      const oid = derOid(der, f[0]!, what);
      let critical = false;
      if (f.length === 3) {
        const b = f[1]!;
        if (b.tag !== 0x01 || b.end - b.body !== 1) malformed(`${what} extension ${oid} has a malformed critical flag`);
        // DER forbids encoding the default (FALSE); Go refuses it too.
        if (der[b.body] !== 0xff) malformed(`${what} extension ${oid} encodes critical=FALSE explicitly (not DER)`);
        critical = true;
      }
      const v = f[f.length - 1]!;
      if (v.tag !== 0x04) malformed(`${what} extension ${oid} value is not an OCTET STRING`);
      if (seen.has(oid)) malformed(`${what} has extension ${oid} twice`);
      seen.add(oid);
      extensions.push({ oid, critical, value: der.subarray(v.body, v.end), start: ext.start - tbsStart, end: ext.end - tbsStart });
    }
  }
  const parsed: ParsedCertificate = {
    der,
    tbs: der.subarray(tbsEl.start, tbsEl.end),
    signatureAlgorithm: derOid(der, algOid, what),
    signature: der.subarray(sigEl.body + 1, sigEl.end),
    serialNumber: der.subarray(serialEl.body, serialEl.end),
    issuerRaw: der.subarray(issuerEl.start, issuerEl.end),
    subjectRaw: der.subarray(subjectEl.start, subjectEl.end),
    notBefore: derTime(der, times[0]!, what),
    notAfter: derTime(der, times[1]!, what),
    spki: der.subarray(spkiEl.start, spkiEl.end),
    extensions,
  };
  if (extensionsWrapper) parsed.extensionsWrapper = extensionsWrapper;
  return parsed;
}

export function findExtension(cert: ParsedCertificate, oid: string): CertExtension | undefined {
  for (const e of cert.extensions) if (e.oid === oid) return e;
  return undefined;
}

const keyCache = new WeakMap<ParsedCertificate, KeyObject>();

/** The certificate's public key (created once per parsed certificate). */
export function certificatePublicKey(cert: ParsedCertificate): KeyObject {
  let k = keyCache.get(cert);
  if (!k) {
    try {
      k = createPublicKey({ key: cert.spki, format: 'der', type: 'spki' });
    } catch (e) {
      throw new SignetError('MALFORMED', 'certificate public key is not a supported SubjectPublicKeyInfo', { cause: e });
    }
    keyCache.set(cert, k);
  }
  return k;
}

/** Signature algorithm OID → [hash for crypto.verify, key type it needs]. RSA-PSS is not used by Sigstore CAs. */
const SIG_ALGS: Record<string, [string | null, string]> = {
  '1.2.840.10045.4.3.2': ['sha256', 'ec'],
  '1.2.840.10045.4.3.3': ['sha384', 'ec'],
  '1.2.840.10045.4.3.4': ['sha512', 'ec'],
  '1.2.840.113549.1.1.11': ['sha256', 'rsa'],
  '1.2.840.113549.1.1.12': ['sha384', 'rsa'],
  '1.2.840.113549.1.1.13': ['sha512', 'rsa'],
  '1.3.101.112': [null, 'ed25519'],
};

/** Whether `cert` carries a valid signature by `issuerKey`. Unsupported algorithms count as invalid. */
export function isSignedBy(cert: ParsedCertificate, issuerKey: KeyObject): boolean {
  const alg = SIG_ALGS[cert.signatureAlgorithm];
  if (!alg || issuerKey.asymmetricKeyType !== alg[1]) return false;
  try {
    return cryptoVerify(alg[0], cert.tbs, issuerKey, cert.signature);
  } catch {
    return false;
  }
}

/** SHA-256 of the DER SubjectPublicKeyInfo (the CT issuer_key_hash), cached per parsed certificate. */
const spkiHashCache = new WeakMap<ParsedCertificate, Buffer>();
export function spkiSha256(cert: ParsedCertificate): Buffer {
  let h = spkiHashCache.get(cert);
  if (!h) {
    h = createHash('sha256').update(cert.spki).digest();
    spkiHashCache.set(cert, h);
  }
  return h;
}

/**
 * BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL },
 * read in place (a schema decode of this and the EKU cost ~35 µs per leaf). DER only, as Go reads it:
 * booleans are 0x00/0xFF, integers minimal, nothing after the SEQUENCE.
 */
export function basicConstraints(cert: ParsedCertificate): { ca: boolean; pathLen?: number } | undefined {
  const e = findExtension(cert, OID_BASIC_CONSTRAINTS);
  if (!e) return undefined;
  const what = 'certificate basic constraints extension';
  const v = e.value;
  const bad = (): never => malformed(`certificate has a malformed basic constraints extension`);
  const seq = derRead(v, 0, v.length, what);
  if (seq.tag !== 0x30 || seq.end !== v.length) bad();
  const f = derChildren(v, seq, what);
  const out: { ca: boolean; pathLen?: number } = { ca: false };
  let i = 0;
  if (f[i]?.tag === 0x01) {
    const b = f[i]!;
    if (b.end - b.body !== 1 || (v[b.body] !== 0 && v[b.body] !== 0xff)) bad();
    out.ca = v[b.body] === 0xff;
    i++;
  }
  if (f[i]?.tag === 0x02) {
    const n = f[i]!;
    const len = n.end - n.body;
    // Non-negative, minimal, and small enough to be a path length.
    if (len === 0 || len > 4 || v[n.body]! & 0x80 || (len > 1 && v[n.body] === 0 && !(v[n.body + 1]! & 0x80))) bad();
    let x = 0;
    for (let k = n.body; k < n.end; k++) x = x * 256 + v[k]!;
    out.pathLen = x;
    i++;
  }
  if (i !== f.length) bad();
  return out;
}

/** The EKU OIDs, or undefined when the certificate has no EKU extension (= any usage, RFC 5280). */
export function extendedKeyUsages(cert: ParsedCertificate): string[] | undefined {
  const e = findExtension(cert, OID_EXT_KEY_USAGE);
  if (!e) return undefined;
  const what = 'certificate extended key usage extension';
  const v = e.value;
  const seq = derRead(v, 0, v.length, what);
  if (seq.tag !== 0x30 || seq.end !== v.length) malformed('certificate has a malformed extended key usage extension');
  return derChildren(v, seq, what).map((el) => {
    if (el.tag !== 0x06) malformed('certificate has a malformed extended key usage extension');
    return derOid(v, el, what);
  });
}

function unhandledCritical(cert: ParsedCertificate): string | undefined {
  for (const e of cert.extensions) if (e.critical && !UNDERSTOOD_CRITICAL.has(e.oid)) return e.oid;
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Certificate authorities from a trusted root

export interface CertificateAuthority {
  /** DER certificates, the issuing intermediate first and the root last (trusted_root.json order). */
  certChain: Buffer[];
  validFor: { start?: Date; end?: Date };
  uri?: string;
}

type Obj = Record<string, unknown>;

function rootDate(v: unknown, where: string): Date | undefined {
  if (v === undefined || v === null) return undefined;
  const d = typeof v === 'string' ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) malformed(`trusted root ${where} is not an RFC 3339 timestamp`);
  return d;
}

const caListCache = new WeakMap<readonly unknown[], CertificateAuthority[]>();

/**
 * Decode trusted_root.json `certificateAuthorities` (kept raw by trustedroot.ts). Cached per list, so
 * a verifier may call this per bundle.
 */
export function certificateAuthoritiesFromTrustedRoot(raw: readonly unknown[]): CertificateAuthority[] {
  const hit = caListCache.get(raw);
  if (hit) return hit;
  const out = raw.map((v, i): CertificateAuthority => {
    const where = `certificateAuthorities[${i}]`;
    if (typeof v !== 'object' || v === null) malformed(`trusted root ${where} is not an object`);
    const o = v as Obj;
    const chain = (o.certChain as Obj | undefined)?.certificates;
    if (!Array.isArray(chain) || chain.length === 0) malformed(`trusted root ${where}.certChain has no certificates`);
    const certChain = chain.map((c, j) => {
      const b64 = (c as Obj | null)?.rawBytes;
      if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) malformed(`trusted root ${where}.certChain.certificates[${j}].rawBytes is not base64`);
      return Buffer.from(b64, 'base64');
    });
    const vf = (o.validFor ?? {}) as Obj;
    const validFor: CertificateAuthority['validFor'] = {};
    const start = rootDate(vf.start, `${where}.validFor.start`);
    const end = rootDate(vf.end, `${where}.validFor.end`);
    if (start) validFor.start = start;
    if (end) validFor.end = end;
    const ca: CertificateAuthority = { certChain, validFor };
    if (typeof o.uri === 'string') ca.uri = o.uri;
    return ca;
  });
  caListCache.set(raw, out);
  return out;
}

interface PreparedAuthority {
  certs: ParsedCertificate[];
  keys: KeyObject[];
  pathLens: (number | undefined)[];
  /** Why this CA's own chain is unusable, if it is. */
  problem?: string;
}

const prepared = new WeakMap<CertificateAuthority, PreparedAuthority>();

function caName(ca: CertificateAuthority): string {
  return ca.uri ? `certificate authority ${ca.uri}` : 'certificate authority';
}

/** Parse and validate a CA's own chain once per process. */
function prepare(ca: CertificateAuthority): PreparedAuthority {
  let p = prepared.get(ca);
  if (p) return p;
  let certs: ParsedCertificate[];
  let keys: KeyObject[];
  try {
    certs = ca.certChain.map((d, i) => parseCertificate(d, `${caName(ca)} certificate ${i}`));
    keys = certs.map((c) => certificatePublicKey(c));
  } catch (e) {
    // A CA whose own certificates cannot be read issues nothing here: it fails only a leaf no other CA
    // issued, and that error says why (a trusted root is read as the ecosystem writes it).
    p = { certs: [], keys: [], pathLens: [], problem: `${caName(ca)} cannot be used: ${(e as Error).message}` };
    prepared.set(ca, p);
    return p;
  }
  p = { certs, keys, pathLens: [] };
  const problems: string[] = [];
  certs.forEach((c, i) => {
    const bc = basicConstraints(c);
    if (!bc?.ca) problems.push(`certificate ${i} is not a CA certificate (basic constraints CA:TRUE missing)`);
    p!.pathLens.push(bc?.pathLen);
    const eku = extendedKeyUsages(c);
    if (eku && !eku.includes(OID_EKU_CODE_SIGNING) && !eku.includes(OID_EKU_ANY)) problems.push(`certificate ${i} does not allow code signing`);
    const crit = unhandledCritical(c);
    if (crit) problems.push(`certificate ${i} has an unhandled critical extension ${crit}`);
    const parent = certs[i + 1];
    if (parent && (!c.issuerRaw.equals(parent.subjectRaw) || !isSignedBy(c, p!.keys[i + 1]!))) {
      problems.push(`certificate ${i} is not issued by certificate ${i + 1}`);
    }
  });
  if (problems.length) p.problem = `${caName(ca)}: ${problems.join('; ')}`;
  prepared.set(ca, p);
  return p;
}

function iso(d: Date): string {
  return d.toISOString();
}

function within(t: Date, start: Date | undefined, end: Date | undefined): boolean {
  return !(start && t < start) && !(end && t > end);
}

export interface VerifiedChain {
  leaf: ParsedCertificate;
  /** The path: leaf, then intermediates, the trust anchor last. chain[1] issued the leaf. */
  chain: ParsedCertificate[];
  authority: CertificateAuthority;
}

/**
 * Verify a Fulcio leaf against the trusted certificate authorities at every time in `at` (times from
 * verified timestamps and/or log integration). The leaf must be a code-signing end-entity certificate
 * with no critical extension we do not understand; its path must end in a CA whose validity window
 * covers every time, with every certificate on the path valid at every time (Go crypto/x509 semantics:
 * bounds inclusive) and path lengths honoured. `untrusted` are intermediates that came with the
 * signature (a bundle's x509CertificateChain under --allow-certificate-chain): they may link the leaf to
 * a trusted CA, checked as CA certificates on the path are, but never anchor it. Throws
 * SignetError('VERIFICATION') with the reason.
 */
export function verifyCertificateChain(leafIn: Uint8Array | ParsedCertificate, cas: readonly CertificateAuthority[], at: readonly Date[], untrusted: readonly Uint8Array[] = []): VerifiedChain {
  const leaf = leafIn instanceof Uint8Array ? parseCertificate(leafIn) : leafIn;
  if (at.length === 0) throw new SignetError('VERIFICATION', 'no verified signing time to check the certificate against');

  const bc = basicConstraints(leaf);
  if (bc?.ca) throw new SignetError('VERIFICATION', 'certificate is a CA certificate, not a signing certificate');
  const eku = extendedKeyUsages(leaf);
  if (!eku || !eku.includes(OID_EKU_CODE_SIGNING)) {
    throw new SignetError('VERIFICATION', 'certificate does not have the code signing extended key usage');
  }
  const crit = unhandledCritical(leaf);
  if (crit) throw new SignetError('VERIFICATION', `certificate has an unhandled critical extension ${crit}`);
  for (const t of at) {
    if (!within(t, leaf.notBefore, leaf.notAfter)) {
      throw new SignetError(
        'VERIFICATION',
        `certificate is not valid at the signing time ${iso(t)} (valid from ${iso(leaf.notBefore)} to ${iso(leaf.notAfter)})`,
      );
    }
  }

  // Intermediates a bundle carries (--allow-certificate-chain) may link the leaf to a trusted CA; they
  // are never anchors, and self-signed ones are left out (protobuf-specs forbids them in a bundle).
  const pool = untrusted
    .map((d, i) => parseCertificate(d, `intermediate certificate ${i + 1} of the bundle's chain`))
    .filter((c) => !c.subjectRaw.equals(c.issuerRaw))
    .map((cert) => ({ cert, key: certificatePublicKey(cert) }));

  let firstProblem: string | undefined;
  const unusable: string[] = [];
  const search = (current: ParsedCertificate, below: ParsedCertificate[]): VerifiedChain | undefined => {
    for (const ca of cas) {
      const p = prepare(ca);
      if (p.certs.length === 0 && p.problem && below.length === 0) unusable.push(p.problem);
      for (let idx = 0; idx < p.certs.length; idx++) {
        const issuer = p.certs[idx]!;
        if (!issuer.subjectRaw.equals(current.issuerRaw) || !isSignedBy(current, p.keys[idx]!)) continue;
        const path = p.certs.slice(idx);
        const problem = pathProblem(ca, p, idx, path, at, below.length);
        if (!problem) return { leaf, chain: [leaf, ...below, ...path], authority: ca };
        firstProblem ??= problem;
      }
    }
    for (const u of pool) {
      if (below.includes(u.cert) || !u.cert.subjectRaw.equals(current.issuerRaw) || !isSignedBy(current, u.key)) continue;
      const problem = intermediateProblem(u.cert, below.length, at);
      if (problem) {
        firstProblem ??= problem;
        continue;
      }
      const found = search(u.cert, [...below, u.cert]);
      if (found) return found;
    }
    return undefined;
  };
  const found = search(leaf, []);
  if (found) return found;
  const notIssued = 'certificate was not issued by a trusted certificate authority';
  throw new SignetError('VERIFICATION', firstProblem ?? (unusable.length ? `${notIssued} (${unusable.join('; ')})` : notIssued));
}

/** Why an intermediate from the bundle cannot stand on the path (`depth` intermediates below it), or undefined. */
function intermediateProblem(c: ParsedCertificate, depth: number, at: readonly Date[]): string | undefined {
  const bc = basicConstraints(c);
  if (!bc?.ca) return 'certificate chain is invalid: an intermediate certificate of the bundle is not a CA certificate';
  if (bc.pathLen !== undefined && depth > bc.pathLen) return 'certificate chain is invalid: path length constraint of an intermediate certificate of the bundle exceeded';
  const eku = extendedKeyUsages(c);
  if (eku && !eku.includes(OID_EKU_CODE_SIGNING) && !eku.includes(OID_EKU_ANY)) return 'certificate chain is invalid: an intermediate certificate of the bundle does not allow code signing';
  const crit = unhandledCritical(c);
  if (crit) return `certificate chain is invalid: an intermediate certificate of the bundle has an unhandled critical extension ${crit}`;
  for (const t of at) {
    if (!within(t, c.notBefore, c.notAfter)) {
      return `certificate chain is invalid: an intermediate certificate of the bundle is not valid at the signing time ${iso(t)} (valid from ${iso(c.notBefore)} to ${iso(c.notAfter)})`;
    }
  }
  return undefined;
}

function pathProblem(ca: CertificateAuthority, p: PreparedAuthority, idx: number, path: ParsedCertificate[], at: readonly Date[], extra = 0): string | undefined {
  if (p.problem) return `certificate chain is invalid: ${p.problem}`;
  for (const t of at) {
    if (!within(t, ca.validFor.start, ca.validFor.end)) {
      return `${caName(ca)} is not valid at the signing time ${iso(t)}`;
    }
    for (const c of path) {
      if (!within(t, c.notBefore, c.notAfter)) {
        return `certificate chain is invalid: a CA certificate is not valid at the signing time ${iso(t)} (valid from ${iso(c.notBefore)} to ${iso(c.notAfter)})`;
      }
    }
  }
  // path[j] has j intermediates below it (the leaf is not counted), plus the bundle's `extra`.
  for (let j = 0; j < path.length; j++) {
    const max = p.pathLens[idx + j];
    if (max !== undefined && j + extra > max) return `certificate chain is invalid: path length constraint of CA certificate ${idx + j} exceeded`;
  }
  return undefined;
}
