/**
 * Rekor v1 proposed entries (`hashedrekord` 0.0.1, `dsse` 0.0.1, `intoto` 0.0.2): validation, signature
 * verification and the canonical body Rekor would log. Signatures are checked here, before anything
 * reaches the log, so the log never holds a claim it did not verify.
 */
import { SignetError } from '../errors.js';
import { type PublicKeyInfo, verifyPrehashed, verifySignature } from '../keys/index.js';
import { IN_TOTO_PAYLOAD_TYPE, decodeBase64Strict, envelopeFromObject, pae } from '../sigstore/index.js';
import { canonicalJsonBytes } from '../tlog/index.js';
import { verifyEcdsaDigestOf } from '../keys/ecdsa.js';
import { verifyEd25519ph } from './ed25519ph.js';
import {
  type CanonicalEntry,
  type DeferredDigestCheck,
  type Obj,
  type Verifier,
  b64,
  finish,
  finishWithVerifier,
  hexDigest,
  isObj,
  malformed,
  obj,
  onlyFields,
  sha256,
  str,
  verifierFromPemBase64,
} from './common.js';

function verifierFromB64(v: unknown, what: string): Verifier {
  return verifierFromPemBase64(v, what);
}

function unverified(what: string): never {
  throw new SignetError('VERIFICATION', what);
}

/** Signature over a digest only (hashedrekord). */
function verifyDigestSignature(key: PublicKeyInfo, digest: Buffer, alg: 'sha256' | 'sha384' | 'sha512', sig: Buffer): boolean {
  if (key.kind === 'ed25519') {
    // A digest-only entry cannot carry a pure Ed25519 signature; Rekor takes Ed25519ph over SHA-512.
    if (alg !== 'sha512') malformed('hashedrekord entries with Ed25519 keys must be Ed25519ph signatures over a sha512 digest');
    return verifyEd25519ph(key.key, digest, sig);
  }
  // OpenSSL-backed for ECDSA (the common case and the hot path); RSA recovers the DigestInfo.
  if (key.kind !== 'rsa') return verifyEcdsaDigestOf(key, digest, sig);
  return verifyPrehashed(key, digest, alg, sig);
}

function hashedRekord(spec: Obj, deferred?: DeferredDigestCheck[]): CanonicalEntry {
  onlyFields(spec, ['data', 'signature'], 'hashedrekord spec');
  const data = obj(spec.data, 'spec.data');
  onlyFields(data, ['hash'], 'spec.data');
  const hash = obj(data.hash, 'spec.data.hash');
  onlyFields(hash, ['algorithm', 'value'], 'spec.data.hash');
  const digest = hexDigest(hash.value, hash.algorithm, 'spec.data.hash');
  const sigObj = obj(spec.signature, 'spec.signature');
  onlyFields(sigObj, ['content', 'publicKey'], 'spec.signature');
  const sig = b64(sigObj.content, 'spec.signature.content');
  const pk = obj(sigObj.publicKey, 'spec.signature.publicKey');
  onlyFields(pk, ['content'], 'spec.signature.publicKey');
  const verifier = verifierFromB64(pk.content, 'spec.signature.publicKey.content');
  const failure = 'hashedrekord signature does not verify with the given public key over the given digest';
  const d = Buffer.from(digest.hex, 'hex');
  if (deferred && verifier.key.kind.startsWith('ecdsa-')) deferred.push({ key: verifier.key, digest: d, sig, failure });
  else if (!verifyDigestSignature(verifier.key, d, digest.alg, sig)) unverified(failure);
  // RFC 8785 JSON of {apiVersion, kind, spec: {data: {hash: {algorithm, value}}, signature: {content,
  // publicKey: {content}}}}, written out: the members are in JCS order and every value is a fixed name,
  // lowercase hex or base64, none of which JSON escapes (the test compares it with canonicalJsonBytes).
  const body = Buffer.from(
    `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"${digest.alg}","value":"${digest.hex}"}},` +
      `"signature":{"content":"${sig.toString('base64')}","publicKey":{"content":"${verifier.pemBase64}"}}}}`,
    'latin1',
  );
  return finishWithVerifier('hashedrekord', '0.0.1', body, `${digest.alg}:${digest.hex}`, verifier);
}

/** in-toto statement subjects as `<alg>:<hex>` keys; a payload that is not a statement adds none. */
function statementKeys(payloadType: string, payload: Buffer): string[] {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) return [];
  try {
    const st = JSON.parse(payload.toString('utf8')) as { subject?: Array<{ digest?: Record<string, unknown> }> };
    const out: string[] = [];
    for (const s of Array.isArray(st.subject) ? st.subject.slice(0, 1000) : []) {
      for (const [alg, v] of Object.entries(isObj(s?.digest) ? s.digest : {})) {
        if (typeof v === 'string' && /^[0-9a-fA-F]{32,128}$/.test(v)) out.push(`${alg}:${v}`);
      }
    }
    return out;
  } catch {
    return [];
  }
}

function dsse(spec: Obj): CanonicalEntry {
  onlyFields(spec, ['proposedContent'], 'dsse spec');
  const pc = obj(spec.proposedContent, 'spec.proposedContent');
  onlyFields(pc, ['envelope', 'verifiers'], 'spec.proposedContent');
  const envText = str(pc.envelope, 'spec.proposedContent.envelope');
  if (!Array.isArray(pc.verifiers) || pc.verifiers.length === 0) malformed('spec.proposedContent.verifiers must be a non-empty array');
  if (pc.verifiers.length > 10) malformed('spec.proposedContent.verifiers holds more than 10 keys');
  const verifiers = pc.verifiers.map((v, i) => verifierFromB64(v, `spec.proposedContent.verifiers[${i}]`));
  let envDoc: unknown;
  try {
    envDoc = JSON.parse(envText);
  } catch {
    malformed('spec.proposedContent.envelope is not valid JSON');
  }
  const env = envelopeFromObject(envDoc, 'spec.proposedContent.envelope');
  if (env.signatures.length > 10) malformed('spec.proposedContent.envelope holds more than 10 signatures');
  const rawSigs = (envDoc as { signatures: Array<{ sig: string }> }).signatures.map((s) => s.sig);
  const signed = pae(env.payloadType, env.payload);
  const sigs = env.signatures.map((s, i) => {
    const v = verifiers.find((k) => verifySignature(k.key, signed, s.sig));
    if (!v) unverified(`DSSE signature ${i} does not verify with any of the given verifiers`);
    return { signature: rawSigs[i]!, verifier: v.pemBase64, keys: v.indexKeys };
  });
  // Rekor orders signatures by their base64 text so that the body does not depend on envelope order.
  sigs.sort((a, b) => (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0));
  const envelopeHash = sha256(Buffer.from(envText, 'utf8')).toString('hex');
  const payloadHash = sha256(env.payload).toString('hex');
  const body = canonicalJsonBytes({
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: envelopeHash },
      payloadHash: { algorithm: 'sha256', value: payloadHash },
      signatures: sigs.map((s) => ({ signature: s.signature, verifier: s.verifier })),
    },
  });
  return finish('dsse', '0.0.1', body, [
    `sha256:${envelopeHash}`,
    `sha256:${payloadHash}`,
    ...sigs.flatMap((s) => s.keys),
    ...statementKeys(env.payloadType, env.payload),
  ]);
}

/** intoto 0.0.2 fields are protobuf `bytes` holding base64 text, hence two layers of base64. */
function doubleB64(v: unknown, what: string): Buffer {
  const inner = b64(v, what).toString('latin1');
  return decodeBase64Strict(inner, `${what} (inner base64)`);
}

function intoto(spec: Obj): CanonicalEntry {
  onlyFields(spec, ['content'], 'intoto spec');
  const content = obj(spec.content, 'spec.content');
  onlyFields(content, ['envelope', 'hash', 'payloadHash'], 'spec.content');
  const env = obj(content.envelope, 'spec.content.envelope');
  onlyFields(env, ['payload', 'payloadType', 'signatures'], 'spec.content.envelope');
  const payloadType = str(env.payloadType, 'spec.content.envelope.payloadType');
  const payload = doubleB64(env.payload, 'spec.content.envelope.payload');
  if (!Array.isArray(env.signatures) || env.signatures.length === 0) malformed('spec.content.envelope.signatures must be a non-empty array');
  if (env.signatures.length > 10) malformed('spec.content.envelope.signatures holds more than 10 signatures');
  const hash = obj(content.hash, 'spec.content.hash');
  onlyFields(hash, ['algorithm', 'value'], 'spec.content.hash');
  const envHash = hexDigest(hash.value, hash.algorithm, 'spec.content.hash');
  if (envHash.alg !== 'sha256') malformed('spec.content.hash.algorithm must be sha256');
  const payloadHash = sha256(payload).toString('hex');
  if (content.payloadHash !== undefined) {
    const ph = obj(content.payloadHash, 'spec.content.payloadHash');
    onlyFields(ph, ['algorithm', 'value'], 'spec.content.payloadHash');
    const given = hexDigest(ph.value, ph.algorithm, 'spec.content.payloadHash');
    if (given.alg !== 'sha256' || given.hex !== payloadHash) malformed('spec.content.payloadHash does not match the sha256 of the payload');
  }
  const signed = pae(payloadType, payload);
  const keys: string[] = [];
  const sigs = env.signatures.map((s: unknown, i: number) => {
    const what = `spec.content.envelope.signatures[${i}]`;
    const so = obj(s, what);
    onlyFields(so, ['keyid', 'sig', 'publicKey'], what);
    const sig = doubleB64(so.sig, `${what}.sig`);
    const v = verifierFromB64(so.publicKey, `${what}.publicKey`);
    if (!verifySignature(v.key, signed, sig)) unverified(`in-toto envelope signature ${i} does not verify with its public key`);
    keys.push(...v.indexKeys);
    if (so.keyid !== undefined && typeof so.keyid !== 'string') malformed(`${what}.keyid must be a string`);
    return {
      // Go omits an empty keyid; sigstore-js rebuilds the entry on that assumption.
      keyid: typeof so.keyid === 'string' && so.keyid !== '' ? so.keyid : undefined,
      sig: Buffer.from(sig.toString('base64')).toString('base64'),
      publicKey: v.pemBase64,
    };
  });
  const body = canonicalJsonBytes({
    apiVersion: '0.0.2',
    kind: 'intoto',
    spec: {
      content: {
        envelope: { payloadType, signatures: sigs },
        hash: { algorithm: 'sha256', value: envHash.hex },
        payloadHash: { algorithm: 'sha256', value: payloadHash },
      },
    },
  });
  return finish('intoto', '0.0.2', body, [`sha256:${envHash.hex}`, `sha256:${payloadHash}`, ...keys, ...statementKeys(payloadType, payload)]);
}

const KINDS: Record<string, Record<string, (spec: Obj, deferred?: DeferredDigestCheck[]) => CanonicalEntry>> = {
  hashedrekord: { '0.0.1': hashedRekord },
  dsse: { '0.0.1': dsse },
  intoto: { '0.0.2': intoto },
};

/**
 * Validates a Rekor v1 `ProposedEntry` ({kind, apiVersion, spec}), verifies its signatures and returns
 * the canonical body. Throws SignetError MALFORMED (bad shape or unsupported kind), VERIFICATION (a
 * signature does not verify) or TOO_LARGE. Given `deferred`, ECDSA digest checks are appended to it
 * instead of run: the entry is then valid only once every one of them passes (canonicalizeAsync).
 */
export function canonicalizeProposedEntry(doc: unknown, deferred?: DeferredDigestCheck[]): CanonicalEntry {
  const e = obj(doc, 'proposed entry');
  onlyFields(e, ['kind', 'apiVersion', 'spec'], 'proposed entry');
  const kind = str(e.kind, 'kind');
  const versions = KINDS[kind];
  if (!versions) malformed(`entry kind ${JSON.stringify(kind)} is not supported (use ${Object.keys(KINDS).join(', ')})`);
  const apiVersion = str(e.apiVersion, 'apiVersion');
  const f = versions[apiVersion];
  if (!f) malformed(`${kind} apiVersion ${JSON.stringify(apiVersion)} is not supported (use ${Object.keys(versions).join(', ')})`);
  return f(obj(e.spec, 'spec'), deferred);
}

export const SUPPORTED_V1_KINDS: ReadonlyArray<readonly [string, string]> = Object.entries(KINDS).flatMap(([k, v]) =>
  Object.keys(v).map((ver) => [k, ver] as const),
);
