/**
 * Shared pieces of Rekor entry handling: the result type, strict JSON field access, base64, and the
 * canonical form of a verifier (public key or certificate chain) as Rekor stores and indexes it.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { SignetError } from '../errors.js';
import { type PublicKeyInfo, certificateSpki, decodePemBlocks, encodePem, parsePublicKey, standardEcPublicKey } from '../keys/index.js';
import { decodeBase64Strict } from '../sigstore/index.js';

/** The largest entry (leaf) a C2SP entry bundle can carry: lengths are uint16. */
export const MAX_ENTRY_BYTES = 65535;

/** A validated, signature-checked entry ready to be appended to the log. */
export interface CanonicalEntry {
  kind: string;
  apiVersion: string;
  /** The leaf bytes: RFC 8785 JSON of the canonical entry. */
  body: Buffer;
  /** Lowercased search keys (`sha256:<hex>`, hex sha256 of the canonical key PEM, emails, URIs). */
  indexKeys: string[];
}

/**
 * An ECDSA-over-digest check (hashedrekord) that canonicalization hands back instead of running, so a
 * server can run it off the event loop (canonicalizeAsync). The entry is valid only once it passes;
 * `failure` is the VERIFICATION message to throw when it does not.
 */
export interface DeferredDigestCheck {
  key: PublicKeyInfo;
  digest: Buffer;
  sig: Buffer;
  failure: string;
}

export function malformed(msg: string): never {
  throw new SignetError('MALFORMED', msg);
}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) malformed(`${what} must be a JSON object`);
  return v;
}

/** Rejects members other than `allowed`: a strict schema keeps unsigned data out of the log. */
export function onlyFields(o: Obj, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) malformed(`${what} has unknown field ${JSON.stringify(k)}`);
  }
}

export function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0) malformed(`${what} must be a non-empty string`);
  return v;
}

export function b64(v: unknown, what: string): Buffer {
  const s = str(v, what);
  const buf = decodeBase64Strict(s, what);
  if (buf.length === 0) malformed(`${what} is empty`);
  return buf;
}

export function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Search keys as entries carry them: lowercased, 1..512 characters, each once, in order. */
export function searchKeys(keys: Iterable<string>): string[] {
  return [...new Set([...keys].map((k) => k.toLowerCase()).filter((k) => k.length > 0 && k.length <= 512))];
}

function checkSize(kind: string, body: Buffer): void {
  if (body.length > MAX_ENTRY_BYTES) {
    throw new SignetError('TOO_LARGE', `the canonical ${kind} entry is ${body.length} bytes; the log accepts at most ${MAX_ENTRY_BYTES}`);
  }
}

export function finish(kind: string, apiVersion: string, body: Buffer, keys: Iterable<string>): CanonicalEntry {
  checkSize(kind, body);
  return { kind, apiVersion, body, indexKeys: searchKeys(keys) };
}

/**
 * finish() for keys that are `first` (already a search key: lowercase, 1..512 characters) followed by a
 * verifier's `searchKeys`: the same list without redoing the verifier's part per entry.
 */
export function finishWithVerifier(kind: string, apiVersion: string, body: Buffer, first: string, v: Verifier): CanonicalEntry {
  checkSize(kind, body);
  const vk = v.searchKeys;
  return { kind, apiVersion, body, indexKeys: vk.includes(first) ? [first, ...vk.filter((k) => k !== first)] : [first, ...vk] };
}

/** Emails and URIs in a certificate's subjectAltName, as Rekor indexes them. */
export function certSubjects(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (!san) return [];
  const out: string[] = [];
  // Node escapes values holding ", " as JSON strings, so a quoted value is parsed as JSON.
  const re = /(DNS|email|URI|IP Address|Registered ID|othername|DirName):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (let m = re.exec(san); m !== null && m[0].length > 0; m = re.exec(san)) {
    let value = m[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    if (m[1] === 'email' || m[1] === 'URI') out.push(value);
  }
  return out;
}

export interface Verifier {
  key: PublicKeyInfo;
  /** Canonical PEM: the key re-encoded as PUBLIC KEY, or every certificate of the chain re-encoded. */
  pem: string;
  /** Index keys this verifier contributes: hex sha256 of the canonical PEM, SAN emails/URIs. */
  indexKeys: string[];
  /** Base64 of `pem`: how a v1 entry body carries the verifier. */
  pemBase64: string;
  /** `indexKeys` as search keys (searchKeys()). */
  searchKeys: string[];
}

const MAX_CHAIN = 10;

// CI signers reuse one key for thousands of entries; parsing it (PEM, SPKI, curve checks) is a tenth of a
// write's CPU. Verifiers are immutable, so a small bounded cache by PEM text is safe.
const verifierCache = new Map<string, Verifier>();
const VERIFIER_CACHE_MAX = 1024;

/** Adds to a bounded cache, dropping the oldest entry when full. */
function remember(cache: Map<string, Verifier>, key: string, v: Verifier): void {
  if (key.length > 64 * 1024) return;
  if (cache.size >= VERIFIER_CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, v);
}

/** Parses a PEM public key or certificate (chain ≤ 10) into Rekor's canonical form. */
export function verifierFromPem(pemText: string, what: string): Verifier {
  const hit = verifierCache.get(pemText);
  if (hit) return hit;
  const v = parseVerifierPem(pemText, what);
  remember(verifierCache, pemText, v);
  return v;
}

// The same by the base64 text a v1 entry carries (the PEM's base64), so that a known signer costs one
// lookup: no base64 decoding, no PEM text made. Only verifiers that parsed are remembered; anything else
// goes the whole way and fails with its own message.
const verifierB64Cache = new Map<string, Verifier>();

/** verifierFromPem over base64 of the PEM text (Rekor v1's `publicKey.content`, `verifiers[i]`). */
export function verifierFromPemBase64(v: unknown, what: string): Verifier {
  if (typeof v === 'string') {
    const hit = verifierB64Cache.get(v);
    if (hit) return hit;
  }
  const out = parsedElsewhere !== undefined && parsedElsewhere.of === v ? parsedElsewhere.verifier : verifierFromPem(b64(v, what).toString('utf8'), what);
  remember(verifierB64Cache, v as string, out);
  return out;
}

/** Whether base64 text `b64` (a v1 entry's verifier) is a verifier parsed before: its lookup costs nothing more. */
export function knownVerifier(b64: string): boolean {
  return verifierB64Cache.has(b64);
}

/**
 * A verifier parsed elsewhere (withVerifierFor), for the base64 text of a v1 entry's PEM
 * (verifierFromPemBase64) or for a v2 entry's DER certificate (verifierFromDer).
 */
let parsedElsewhere: { of: string | Buffer; verifier: Verifier } | undefined;

/**
 * Runs `fn` (a synchronous canonicalization) with `verifier` standing for the verifier of `of` — a v1
 * entry's base64 PEM text, or a v2 entry's DER certificate — parsed elsewhere (a certificate off the event
 * loop, rekor/certificates.ts) as this module would have parsed it.
 */
export function withVerifierFor<T>(of: string | Buffer, verifier: Verifier, fn: () => T): T {
  parsedElsewhere = { of, verifier };
  try {
    return fn();
  } finally {
    parsedElsewhere = undefined;
  }
}

/**
 * The Verifier parseVerifierPem makes of a PEM holding one certificate, given what node:crypto would have
 * said of it: its DER is `der` (X509Certificate#raw) and its email and URI names are `subjects`
 * (certSubjects). Undefined where its key is not one standardEcPublicKey reads: those go the whole way.
 */
export function certificateVerifier(der: Buffer, subjects: string[]): Verifier | undefined {
  const key = standardCertificateKey(der);
  return key && chainVerifier(key, [der], subjects);
}

/** A certificate's key when it is a standard P-256/P-384 one (standardEcPublicKey), read from the DER. */
function standardCertificateKey(der: Buffer): PublicKeyInfo | undefined {
  const spki = certificateSpki(der);
  return spki && standardEcPublicKey(spki);
}

/** A certificate chain's Verifier: the leaf's key, the chain's DERs in order, the leaf's email and URI names. */
function chainVerifier(key: PublicKeyInfo, ders: readonly Buffer[], subjects: readonly string[]): Verifier {
  const pem = ders.map((d) => encodePem('CERTIFICATE', d)).join('');
  return verifierOf(key, pem, [sha256(pem).toString('hex'), ...subjects]);
}

/** A Verifier's fields from its canonical PEM. */
function verifierOf(key: PublicKeyInfo, pem: string, indexKeys: string[]): Verifier {
  return { key, pem, indexKeys, pemBase64: Buffer.from(pem).toString('base64'), searchKeys: searchKeys(indexKeys) };
}

function parseVerifierPem(pemText: string, what: string): Verifier {
  let blocks;
  try {
    blocks = decodePemBlocks(pemText);
  } catch (e) {
    malformed(`${what}: ${(e as Error).message}`);
  }
  if (blocks.length === 0) malformed(`${what} is not a PEM public key or certificate`);
  const label = blocks[0]!.label;
  if (label === 'CERTIFICATE') {
    if (blocks.length > MAX_CHAIN) malformed(`${what} holds ${blocks.length} certificates; at most ${MAX_CHAIN} are accepted`);
    const certs: X509Certificate[] = [];
    for (const b of blocks) {
      if (b.label !== 'CERTIFICATE') malformed(`${what} mixes a certificate with a PEM "${b.label}" block`);
      try {
        certs.push(new X509Certificate(b.der));
      } catch {
        malformed(`${what} holds a certificate that does not parse`);
      }
    }
    const leaf = certs[0]!;
    const key = standardCertificateKey(blocks[0]!.der) ?? keyOf(() => parsePublicKey(leaf.publicKey.export({ type: 'spki', format: 'der' })), what);
    return chainVerifier(key, certs.map((c) => c.raw), certSubjects(leaf));
  }
  if (blocks.length > 1) malformed(`${what} holds ${blocks.length} PEM blocks; expected one public key`);
  if (label !== 'PUBLIC KEY' && label !== 'RSA PUBLIC KEY') malformed(`${what} is a PEM "${label}", expected a PUBLIC KEY or CERTIFICATE`);
  // The block is decoded already: a standard P-256/P-384 key is described from it without decoding again.
  const key = (label === 'PUBLIC KEY' ? standardEcPublicKey(blocks[0]!.der) : undefined) ?? keyOf(() => parsePublicKey(pemText), what);
  return verifierOf(key, key.pem, [sha256(key.pem).toString('hex')]);
}

/** The same from DER (Rekor v2 carries raw DER): a certificate, or a SubjectPublicKeyInfo. */
export function verifierFromDer(der: Buffer, isCert: boolean, what: string): Verifier {
  const elsewhere = parsedElsewhere?.of;
  if (isCert && Buffer.isBuffer(elsewhere) && elsewhere.equals(der)) return parsedElsewhere!.verifier;
  if (isCert) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch {
      malformed(`${what} is not a DER X.509 certificate`);
    }
    if (!cert.raw.equals(der)) malformed(`${what} has trailing bytes after the certificate`);
    return verifierFromPem(encodePem('CERTIFICATE', der), what);
  }
  const key = keyOf(() => parsePublicKey(der), what);
  if (!key.spkiDer.equals(der)) malformed(`${what} is not a DER SubjectPublicKeyInfo in canonical form`);
  return verifierOf(key, key.pem, [sha256(key.pem).toString('hex')]);
}

function keyOf(f: () => PublicKeyInfo, what: string): PublicKeyInfo {
  try {
    return f();
  } catch (e) {
    if (e instanceof SignetError) malformed(`${what}: ${e.message}`);
    throw e;
  }
}

/** The digest algorithm for a hex digest; the length must match. */
export function hexDigest(v: unknown, alg: unknown, what: string): { alg: 'sha256' | 'sha384' | 'sha512'; hex: string } {
  const a = str(alg, `${what}.algorithm`);
  const lens: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
  const want = lens[a];
  if (want === undefined) malformed(`${what}.algorithm ${JSON.stringify(a)} is not one of sha256, sha384, sha512`);
  const hex = str(v, `${what}.value`);
  if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== want) malformed(`${what}.value must be ${want} hex digits for ${a}`);
  return { alg: a as 'sha256' | 'sha384' | 'sha512', hex: hex.toLowerCase() };
}
