/**
 * Rekor v2 (`rekor-tiles`) create-entry requests, parsed as protojson does (camelCase or proto field
 * names, unknown fields refused, bytes as standard or URL-safe base64), verified, and turned into the
 * canonical v0.0.2 entry that becomes the leaf.
 */
import { SignetError } from '../errors.js';
import { type PublicKeyInfo, certificateSpki, verifyPrehashed, verifySignature } from '../keys/index.js';
import { pae } from '../sigstore/index.js';
import { canonicalJsonBytes } from '../tlog/index.js';
import { verifyEcdsaDigestOf } from '../keys/ecdsa.js';
import { verifyEd25519ph } from './ed25519ph.js';
import { type CanonicalEntry, type DeferredDigestCheck, type Obj, type Verifier, b64, finish, isObj, malformed, obj, sha256, verifierFromDer } from './common.js';

type Hash = 'sha256' | 'sha384' | 'sha512';

/** PublicKeyDetails the log accepts, with their protobuf numbers (protojson accepts either form). */
const KEY_DETAILS: Record<string, { num: number; kind: PublicKeyInfo['kind']; hash: Hash | null; rsaBits?: number }> = {
  PKIX_ECDSA_P256_SHA_256: { num: 5, kind: 'ecdsa-p256', hash: 'sha256' },
  PKIX_ECDSA_P384_SHA_384: { num: 12, kind: 'ecdsa-p384', hash: 'sha384' },
  PKIX_ECDSA_P521_SHA_512: { num: 13, kind: 'ecdsa-p521', hash: 'sha512' },
  PKIX_RSA_PKCS1V15_2048_SHA256: { num: 9, kind: 'rsa', hash: 'sha256', rsaBits: 2048 },
  PKIX_RSA_PKCS1V15_3072_SHA256: { num: 10, kind: 'rsa', hash: 'sha256', rsaBits: 3072 },
  PKIX_RSA_PKCS1V15_4096_SHA256: { num: 11, kind: 'rsa', hash: 'sha256', rsaBits: 4096 },
  PKIX_ED25519: { num: 7, kind: 'ed25519', hash: null },
  PKIX_ED25519_PH: { num: 8, kind: 'ed25519', hash: 'sha512' },
};

const HASH_NAME: Record<Hash, string> = { sha256: 'SHA2_256', sha384: 'SHA2_384', sha512: 'SHA2_512' };
const DIGEST_LEN: Record<Hash, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** protojson field access: the JSON name or the proto name, never both; anything else is refused. */
function fields(o: Obj, names: Record<string, string>, what: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const canonical = k in names ? k : Object.entries(names).find(([, proto]) => proto === k)?.[0];
    if (!canonical) malformed(`${what} has unknown field ${JSON.stringify(k)}`);
    if (canonical in out) malformed(`${what} sets ${canonical} twice`);
    if (v !== null) out[canonical] = v;
  }
  return out;
}

function keyDetails(v: unknown, what: string): { name: string; kind: PublicKeyInfo['kind']; hash: Hash | null; rsaBits?: number } {
  const entry = Object.entries(KEY_DETAILS).find(([name, d]) => name === v || d.num === v);
  if (!entry) malformed(`${what} ${JSON.stringify(v)} is not a supported PublicKeyDetails value`);
  return { name: entry[0], ...entry[1] };
}

interface ParsedVerifier {
  verifier: Verifier;
  details: ReturnType<typeof keyDetails>;
  /** The canonical verifier JSON as logged. */
  json: Record<string, unknown>;
}

function parseVerifier(v: unknown, what: string): ParsedVerifier {
  const f = fields(obj(v, what), { publicKey: 'public_key', x509Certificate: 'x509_certificate', keyDetails: 'key_details' }, what);
  if (f.keyDetails === undefined) malformed(`${what}.keyDetails is required`);
  const details = keyDetails(f.keyDetails, `${what}.keyDetails`);
  if ((f.publicKey === undefined) === (f.x509Certificate === undefined)) malformed(`${what} needs exactly one of publicKey, x509Certificate`);
  const isCert = f.x509Certificate !== undefined;
  const inner = fields(obj(isCert ? f.x509Certificate : f.publicKey, `${what}.${isCert ? 'x509Certificate' : 'publicKey'}`), { rawBytes: 'raw_bytes' }, what);
  const der = b64(inner.rawBytes, `${what}.${isCert ? 'x509Certificate' : 'publicKey'}.rawBytes`);
  let verifier: Verifier;
  let asCert = isCert;
  if (isCert && der[0] === 0x30 && looksLikeSpki(der)) {
    // sigstore-js (5.x) sends a key-based signer's DER SPKI in x509Certificate; it is logged as what it is.
    asCert = false;
  }
  verifier = verifierFromDer(der, asCert, `${what}.${isCert ? 'x509Certificate' : 'publicKey'}.rawBytes`);
  if (verifier.key.kind !== details.kind) {
    malformed(`${what}.keyDetails is ${details.name} but the key is ${verifier.key.kind}`);
  }
  if (details.rsaBits !== undefined && verifier.key.key.asymmetricKeyDetails?.modulusLength !== details.rsaBits) {
    malformed(`${what}.keyDetails is ${details.name} but the RSA key has ${verifier.key.key.asymmetricKeyDetails?.modulusLength ?? 0} bits`);
  }
  const raw = { rawBytes: der.toString('base64') };
  const json = asCert ? { keyDetails: details.name, x509Certificate: raw } : { keyDetails: details.name, publicKey: raw };
  return { verifier, details, json };
}

/** A certificate's DER starts SEQUENCE{SEQUENCE{...}}; an SPKI's second element is an AlgorithmIdentifier. */
function looksLikeSpki(der: Buffer): boolean {
  // DER shaped like a certificate (its to-be-signed part opens with a version or serial number, where an
  // SPKI's AlgorithmIdentifier opens with an OID) is no SPKI: no need to ask OpenSSL's decoder to fail.
  if (certificateSpki(der) !== undefined) return false;
  try {
    verifierFromDer(der, false, 'key');
    return true;
  } catch {
    return false;
  }
}

function verifyDigest(key: PublicKeyInfo, details: ParsedVerifier['details'], digest: Buffer, sig: Buffer): boolean {
  if (details.hash === null) {
    malformed(`${details.name} cannot sign a hashedrekord digest (pure Ed25519 signs whole messages); use PKIX_ED25519_PH, ECDSA or RSA`);
  }
  if (details.name === 'PKIX_ED25519_PH') return verifyEd25519ph(key.key, digest, sig);
  if (key.kind !== 'rsa') return verifyEcdsaDigestOf(key, digest, sig);
  return verifyPrehashed(key, digest, details.hash, sig);
}

function hashedRekordV002(req: Obj, deferred?: DeferredDigestCheck[]): CanonicalEntry {
  const what = 'hashedRekordRequestV002';
  const f = fields(req, { signature: 'signature', digest: 'digest' }, what);
  const digest = b64(f.digest, `${what}.digest`);
  const s = fields(obj(f.signature, `${what}.signature`), { content: 'content', verifier: 'verifier' }, `${what}.signature`);
  const sig = b64(s.content, `${what}.signature.content`);
  if (s.verifier === undefined) malformed(`${what}.signature.verifier is required`);
  const v = parseVerifier(s.verifier, `${what}.signature.verifier`);
  const hash = v.details.hash;
  if (hash !== null && digest.length !== DIGEST_LEN[hash]) {
    malformed(`${what}.digest is ${digest.length} bytes; ${v.details.name} needs a ${DIGEST_LEN[hash]}-byte ${hash} digest`);
  }
  const failure = 'hashedrekord signature does not verify with the given verifier over the given digest';
  if (deferred && hash !== null && v.verifier.key.kind.startsWith('ecdsa-')) deferred.push({ key: v.verifier.key, digest, sig, failure });
  else if (!verifyDigest(v.verifier.key, v.details, digest, sig)) throw new SignetError('VERIFICATION', failure);
  const body = canonicalJsonBytes({
    apiVersion: '0.0.2',
    kind: 'hashedrekord',
    spec: {
      hashedRekordV002: {
        data: { algorithm: HASH_NAME[hash!], digest: digest.toString('base64') },
        signature: { content: sig.toString('base64'), verifier: v.json as never },
      },
    },
  });
  return finish('hashedrekord', '0.0.2', body, [`${hash}:${digest.toString('hex')}`, ...v.verifier.indexKeys]);
}

function dsseV002(req: Obj): CanonicalEntry {
  const what = 'dsseRequestV002';
  const f = fields(req, { envelope: 'envelope', verifiers: 'verifiers' }, what);
  const e = fields(obj(f.envelope, `${what}.envelope`), { payload: 'payload', payloadType: 'payload_type', signatures: 'signatures' }, `${what}.envelope`);
  const payload = b64(f.envelope && e.payload, `${what}.envelope.payload`);
  if (typeof e.payloadType !== 'string' || e.payloadType === '') malformed(`${what}.envelope.payloadType must be a non-empty string`);
  const payloadType = e.payloadType;
  if (!Array.isArray(e.signatures) || e.signatures.length === 0) malformed(`${what}.envelope.signatures must be a non-empty array`);
  if (e.signatures.length > 10) malformed(`${what}.envelope holds more than 10 signatures`);
  if (!Array.isArray(f.verifiers) || f.verifiers.length === 0) malformed(`${what}.verifiers must be a non-empty array`);
  if (f.verifiers.length > 10) malformed(`${what}.verifiers holds more than 10 verifiers`);
  const verifiers = f.verifiers.map((v, i) => parseVerifier(v, `${what}.verifiers[${i}]`));
  const signed = pae(payloadType, payload);
  const sigs = e.signatures.map((s: unknown, i: number) => {
    const sf = fields(obj(s, `${what}.envelope.signatures[${i}]`), { sig: 'sig', keyid: 'keyid' }, `${what}.envelope.signatures[${i}]`);
    const sig = b64(sf.sig, `${what}.envelope.signatures[${i}].sig`);
    const v = verifiers.find((k) => verifySignature(k.verifier.key, signed, sig));
    if (!v) throw new SignetError('VERIFICATION', `DSSE signature ${i} does not verify with any of the given verifiers`);
    return { sig, v };
  });
  sigs.sort((a, b) => Buffer.compare(a.sig, b.sig));
  const payloadHash = sha256(payload);
  const body = canonicalJsonBytes({
    apiVersion: '0.0.2',
    kind: 'dsse',
    spec: {
      dsseV002: {
        payloadHash: { algorithm: 'SHA2_256', digest: payloadHash.toString('base64') },
        signatures: sigs.map((s) => ({ content: s.sig.toString('base64'), verifier: s.v.json as never })),
      },
    },
  });
  return finish('dsse', '0.0.2', body, [`sha256:${payloadHash.toString('hex')}`, ...sigs.flatMap((s) => s.v.verifier.indexKeys)]);
}

/**
 * Validates a Rekor v2 `CreateEntryRequest` (`hashedRekordRequestV002`, or the deprecated
 * `dsseRequestV002` that sigstore-js still sends), verifies it and returns the canonical v0.0.2 entry.
 * `deferred` as for canonicalizeProposedEntry.
 */
export function canonicalizeCreateEntryRequest(doc: unknown, deferred?: DeferredDigestCheck[]): CanonicalEntry {
  const f = fields(obj(doc, 'CreateEntryRequest'), { hashedRekordRequestV002: 'hashed_rekord_request_v002', dsseRequestV002: 'dsse_request_v002' }, 'CreateEntryRequest');
  const keys = Object.keys(f);
  if (keys.length !== 1) malformed('CreateEntryRequest needs exactly one of hashedRekordRequestV002, dsseRequestV002');
  if (f.hashedRekordRequestV002 !== undefined) return hashedRekordV002(obj(f.hashedRekordRequestV002, 'hashedRekordRequestV002'), deferred);
  if (!isObj(f.dsseRequestV002)) malformed('dsseRequestV002 must be a JSON object');
  return dsseV002(f.dsseRequestV002);
}
