/**
 * Signet's one verification engine for Sigstore bundles, keyless and key-based. Pure and synchronous:
 * the caller passes the parsed bundle, the artifact (bytes or digests), the trust material and a policy.
 *
 * Order, as sigstore-go and sigstore-js do it:
 *   1. verified times: every RFC 3161 timestamp (over the signature bytes) and the integrated time of
 *      every tlog entry whose SET verified (only the SET signs integratedTime; an inclusion proof does not);
 *   2. the certificate chain at EVERY verified time (keyless needs at least one, unless the caller
 *      explicitly ignored the log, then "now"); 3. embedded SCTs;
 *   4. tlog entries: the logged body describes this signature and key/certificate, SET and/or inclusion
 *      proof + checkpoint verify, and there are at least `tlogThreshold` distinct ones;
 *   5. the signature over the artifact (message signature) or over the PAE (DSSE, plus the artifact in
 *      the statement's subjects); 6. the identity policy (certificates) or the given key (keys).
 * Every failure is a SignetError ('VERIFICATION', 'TLOG' or 'USAGE') whose message names the failed check.
 *
 * Throughput (DESIGN.md: ≥ 800 keyless bundles/s on one core): everything that only depends on the
 * trusted root is decoded once per root (`prepareTrust`, cached per TrustedRoot object), CA chains and
 * TSA chains are validated once per process by certificate.ts / timestamp.ts, the leaf is parsed once as
 * zero-copy views into the bundle's bytes, and signatures are checked by OpenSSL.
 */
import { createHash, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { SignetError, type ErrorCode } from '../errors.js';
import { verifyEcdsaDigest, verifyPrehashed, type PublicKeyInfo } from '../keys/index.js';
import type { ParsedBundle } from './bundle.js';
import {
  certificateAuthoritiesFromTrustedRoot,
  certificatePublicKey,
  derRead,
  parseCertificate,
  verifyCertificateChain,
  type CertificateAuthority,
  type ParsedCertificate,
} from './certificate.js';
import { IN_TOTO_PAYLOAD_TYPE, pae } from './dsse.js';
import { HASH_ALG_NAME, type HashAlg } from './encoding.js';
import { certificateIdentity, checkIdentity, validateIdentityPolicy, type FulcioIdentity, type IdentityPolicy } from './identity.js';
import { parseStatement } from './intoto.js';
import { ctLogsFromTrustedRoot, verifySct, type CtLog } from './sct.js';
import { verifyTimestamp, type TimestampAuthority } from './timestamp-verify.js';
import { checkEntriesWitnessed, verifyTlogEntry, type SignedMaterial, type VerifiedTlogEntry } from './tlog.js';
import type { WitnessPolicy } from '../tlog/witness-policy.js';
import type { TrustedRoot } from './trustedroot.js';
import { artifactDigest, checkSubjects, type Artifact } from './verify.js';

/** Everything a verifier needs from a trusted root, decoded once. */
export interface TrustMaterial {
  root: TrustedRoot;
  cas: readonly CertificateAuthority[];
  ctlogs: readonly CtLog[];
  tsas: readonly TimestampAuthority[];
  /**
   * cosign's --allow-certificate-chain: a bundle's x509CertificateChain is accepted in v0.3 too (the
   * format forbids it there), and its intermediates may link the leaf to one of `cas`.
   */
  allowCertificateChain?: boolean;
}

export interface VerifyPolicy {
  /** Key-based verification: the bundle must be signed by this key. */
  key?: PublicKeyInfo;
  /** Keyless verification: who must have signed (identity and issuer are both required). */
  identity?: IdentityPolicy;
  /** --insecure-ignore-tlog: entries are not checked and not required; certificates are checked "now". */
  ignoreTlog?: boolean;
  /** --insecure-ignore-sct */
  ignoreSct?: boolean;
  /** Distinct verified tlog entries required (default 1, 0 with ignoreTlog). */
  tlogThreshold?: number;
  /** Verified RFC 3161 timestamps required (default 0; use ≥ 1 for --use-signed-timestamps). */
  tsaThreshold?: number;
  /**
   * Verified SCTs from distinct CT logs required for certificates. Default: 0 with ignoreSct; otherwise 1
   * when the trusted root lists CT logs and 0 when it lists none (such a root says its CA does not log
   * certificates, so demanding SCTs could only fail).
   */
  ctlogThreshold?: number;
  /** The time used when the log is ignored and no timestamp is present (default: now). */
  now?: Date;
  /** Leave RFC 3161 timestamps unchecked (only for callers that establish time elsewhere). */
  ignoreTimestamps?: boolean;
  /** --witness-policy: every verified log entry's checkpoint must be cosigned by this quorum of witnesses. */
  witnessPolicy?: WitnessPolicy;
}

export interface VerifiedTimestamp {
  source: 'tsa' | 'tlog';
  time: Date;
}

export interface VerifiedBundle {
  kind: 'messageSignature' | 'dsse';
  payload?: Buffer;
  payloadType?: string;
  /** The parsed in-toto statement, for in-toto DSSE payloads. */
  statement?: unknown;
  /** The signer's Fulcio identity (certificates only). */
  identity?: FulcioIdentity;
  signingKey: KeyObject;
  timestamps: VerifiedTimestamp[];
  /** Number of tlog entries that verified. */
  tlogEntries: number;
  /** Things worth telling the user that do not make the bundle invalid (e.g. a key hint mismatch). */
  warnings: string[];
}

const trustCache = new WeakMap<TrustedRoot, TrustMaterial>();

/** Decode the trusted root's CAs, CT logs and TSAs once (cached per root object). */
/** Whether SCTs go unchecked: asked for, or the trusted root lists no CT log to check them against. */
export function sctIgnored(trust: TrustMaterial, ignoreSct: boolean | undefined): boolean {
  return ignoreSct ?? trust.ctlogs.length === 0;
}

export function prepareTrust(root: TrustedRoot): TrustMaterial {
  let t = trustCache.get(root);
  if (!t) {
    t = {
      root,
      cas: certificateAuthoritiesFromTrustedRoot(root.certificateAuthorities),
      ctlogs: ctLogsFromTrustedRoot(root.ctlogs),
      tsas: root.timestampAuthorities as TimestampAuthority[],
    };
    trustCache.set(root, t);
  }
  return t;
}

function fail(code: ErrorCode, msg: string, cause?: unknown): never {
  throw new SignetError(code, msg, cause === undefined ? undefined : { cause });
}

/**
 * Runs one check; any SignetError from the layers below becomes `code` (MALFORMED evidence inside a
 * bundle is a failed verification) and its message is prefixed with the check's name.
 */
function check<T>(name: string, code: 'VERIFICATION' | 'TLOG', fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SignetError) {
      if (e.code === 'USAGE') throw e;
      fail(code, `${name}: ${e.message}`, e);
    }
    throw e;
  }
}

/** The hash a key signs with (DSSE and key-based signatures): P-256/RSA sha256, P-384 sha384, P-521 sha512. */
function keyHash(key: KeyObject): HashAlg | null {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
    case 'ed448':
      return null;
    case 'ec':
      switch (key.asymmetricKeyDetails?.namedCurve) {
        case 'secp384r1':
          return 'sha384';
        case 'secp521r1':
          return 'sha512';
        default:
          return 'sha256';
      }
    default:
      return 'sha256';
  }
}

// AlgorithmIdentifier bodies of EC SubjectPublicKeyInfos: id-ecPublicKey + the named curve's OID.
const EC_ALG_HASH: ReadonlyArray<[Buffer, HashAlg]> = [
  [Buffer.from('06072a8648ce3d020106082a8648ce3d030107', 'hex'), 'sha256'], // P-256
  [Buffer.from('06072a8648ce3d020106052b81040022', 'hex'), 'sha384'], // P-384
  [Buffer.from('06072a8648ce3d020106052b81040023', 'hex'), 'sha512'], // P-521
];

/**
 * keyHash for a certificate's key, read from its SPKI bytes: KeyObject.asymmetricKeyDetails builds a
 * fresh object in C++ on every access (~10 µs), once per bundle for a leaf key. Anything but the three
 * named curves falls back to the KeyObject.
 */
function certKeyHash(leaf: ParsedCertificate, key: KeyObject): HashAlg | null {
  const spki = leaf.spki;
  const outer = derRead(spki, 0, spki.length, 'certificate public key');
  const alg = derRead(spki, outer.body, outer.end, 'certificate public key');
  if (alg.tag === 0x30) {
    const body = spki.subarray(alg.body, alg.end);
    for (const [prefix, hash] of EC_ALG_HASH) if (body.equals(prefix)) return hash;
  }
  return keyHash(key);
}

function verifyBytes(hash: HashAlg | null, data: Uint8Array, key: KeyObject, sig: Uint8Array): boolean {
  try {
    return cryptoVerify(hash, data, key, sig);
  } catch {
    return false;
  }
}

function verifyDigest(key: KeyObject, digest: Buffer, hashAlg: HashAlg, sig: Buffer, info?: PublicKeyInfo): boolean {
  if (key.asymmetricKeyType === 'ec') return verifyEcdsaDigest(key, digest, sig);
  if (key.asymmetricKeyType === 'rsa' && info) return verifyPrehashed(info, digest, hashAlg, sig);
  if (key.asymmetricKeyType === 'rsa') {
    // verifyPrehashed only needs the key, its kind and hash for RSA.
    return verifyPrehashed({ key, kind: 'rsa', hash: 'sha256', spkiDer: Buffer.alloc(0), pem: '', hint: '' }, digest, hashAlg, sig);
  }
  fail('VERIFICATION', 'artifact signature: an Ed25519 signature covers the whole artifact and cannot be checked against a digest; pass the file itself');
}

interface Signer {
  key: KeyObject;
  leaf?: ParsedCertificate;
  info?: PublicKeyInfo;
}

/**
 * Verify a bundle. Returns what was verified; throws SignetError naming the first failed check.
 * A message-signature bundle needs the artifact; a DSSE bundle checks the artifact against the in-toto
 * subjects when it is given.
 */
export function verifyBundle(bundle: ParsedBundle, artifact: Artifact | undefined, trust: TrustMaterial, policy: VerifyPolicy): VerifiedBundle {
  const vm = bundle.verificationMaterial;
  const warnings: string[] = [];
  const ignoreTlog = policy.ignoreTlog === true;
  const tlogThreshold = policy.tlogThreshold ?? (ignoreTlog ? 0 : 1);
  const tsaThreshold = policy.tsaThreshold ?? 0;
  for (const [n, v] of [['tlogThreshold', tlogThreshold], ['tsaThreshold', tsaThreshold], ['ctlogThreshold', policy.ctlogThreshold ?? 0]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) fail('USAGE', `${n} must be a non-negative integer, got ${v}`);
  }
  if (ignoreTlog && tlogThreshold > 0) fail('USAGE', 'ignoring the transparency log contradicts requiring tlog entries');

  // --- the signer, before any expensive work: usage errors first.
  const c = bundle.content;
  let signer: Signer;
  if (vm.kind === 'publicKey') {
    if (!policy.key) fail('USAGE', 'the bundle was signed with a key: pass the public key to verify it with');
    signer = { key: policy.key.key, info: policy.key };
    // The hint is unauthenticated (cosign ignores it); the signature check below is what binds the key.
    if (vm.hint !== '' && vm.hint !== policy.key.hint) warnings.push(`the bundle's key hint ${vm.hint} does not match the given key (${policy.key.hint})`);
  } else {
    const der = vm.kind === 'certificate' ? vm.certificate : vm.certificates[0]!;
    const leaf = check('certificate', 'VERIFICATION', () => parseCertificate(der, 'signing certificate'));
    const key = check('certificate', 'VERIFICATION', () => certificatePublicKey(leaf));
    if (policy.key) {
      // A key pins the signer directly: the certificate must carry exactly that key.
      if (!leaf.spki.equals(policy.key.spkiDer)) fail('VERIFICATION', 'key: the bundle\'s certificate holds a different public key than the one given');
      signer = { key, info: policy.key };
    } else {
      if (!policy.identity) fail('USAGE', 'keyless verification needs an identity policy (--certificate-identity and --certificate-oidc-issuer)');
      validateIdentityPolicy(policy.identity);
      if (vm.kind === 'x509CertificateChain' && bundle.version === '0.3' && !trust.allowCertificateChain) {
        fail('VERIFICATION', 'certificate: a v0.3 bundle must carry the signing certificate alone, but this one carries a certificate chain: pass --allow-certificate-chain to accept it and use its intermediates');
      }
      signer = { key, leaf };
    }
  }
  if (c.kind === 'messageSignature' && !artifact) {
    fail('USAGE', 'a message-signature bundle can only be verified together with the artifact or its digest');
  }

  // --- 1. verified times. Log entries are verified here in full (body + SET/proof); their result is
  // reused in step 4, so each signature is checked once.
  const timestamps: VerifiedTimestamp[] = [];
  const seenTimes = new Set<string>();
  const addTime = (t: VerifiedTimestamp, id: string): void => {
    const k = `${t.source}|${id}|${t.time.getTime()}`;
    if (seenTimes.has(k)) fail('VERIFICATION', `timestamps: duplicate ${t.source === 'tsa' ? 'RFC 3161 timestamp' : 'log timestamp'}`);
    seenTimes.add(k);
    timestamps.push(t);
  };
  let verifiedEntries: VerifiedTlogEntry[] = [];
  if (!ignoreTlog) {
    const m: SignedMaterial = {
      signature: c.signature,
      content: c.kind === 'messageSignature' ? { kind: 'digest', hashAlg: c.hashAlg, digest: c.digest } : { kind: 'dsse', payloadType: c.payloadType, payload: c.payload },
    };
    if (signer.leaf) m.certificate = signer.leaf.der;
    else if (vm.kind === 'publicKey') m.publicKeySpki = signer.info!.spkiDer;
    else m.certificate = vm.kind === 'certificate' ? vm.certificate : vm.certificates[0]!;
    const seen = new Set<string>();
    verifiedEntries = bundle.tlogEntries.map((e, i) => {
      const v = check(bundle.tlogEntries.length > 1 ? `transparency log entry ${i}` : 'transparency log entry', 'TLOG', () => verifyTlogEntry(e, m, trust.root));
      // A repeated entry must not count twice towards the threshold (the index is not authenticated).
      const id = `${v.log.logId.toString('hex')}|${e.canonicalizedBody}`;
      if (seen.has(id)) fail('TLOG', 'transparency log: the bundle lists the same entry twice');
      seen.add(id);
      if (v.integratedTime !== undefined && v.checked.includes('inclusionPromise')) {
        addTime({ source: 'tlog', time: new Date(v.integratedTime * 1000) }, v.log.logId.toString('hex'));
      }
      return v;
    });
    if (verifiedEntries.length < tlogThreshold) {
      fail('TLOG', bundle.tlogEntries.length === 0
        ? 'transparency log: the bundle has no transparency log entry'
        : `transparency log: ${verifiedEntries.length} entries verified, ${tlogThreshold} required`);
    }
    if (policy.witnessPolicy) {
      const wp = policy.witnessPolicy;
      check('transparency log', 'TLOG', () => checkEntriesWitnessed(verifiedEntries, wp));
    }
  }
  if (!policy.ignoreTimestamps) bundle.rfc3161Timestamps.forEach((ts, i) => {
    const name = bundle.rfc3161Timestamps.length > 1 ? `RFC 3161 timestamp ${i}` : 'RFC 3161 timestamp';
    const r = check(name, 'VERIFICATION', () => verifyTimestamp(ts, { signature: c.signature, authorities: trust.tsas }));
    addTime({ source: 'tsa', time: r.time }, `${r.authority.uri ?? ''}|${trust.tsas.indexOf(r.authority)}`);
  });
  const tsaCount = timestamps.filter((t) => t.source === 'tsa').length;
  if (tsaCount < tsaThreshold) fail('VERIFICATION', `timestamps: ${tsaCount} RFC 3161 timestamps verified, ${tsaThreshold} required`);

  // --- 2, 3. the certificate at every verified time, its SCTs.
  let identity: FulcioIdentity | undefined;
  if (signer.leaf) {
    const leaf = signer.leaf;
    let times = timestamps.map((t) => t.time);
    if (times.length === 0) {
      if (!ignoreTlog) fail('VERIFICATION', 'timestamps: no verified time (tlog SET or RFC 3161 timestamp) to check the certificate against');
      times = [policy.now ?? new Date()];
    }
    const intermediates = vm.kind === 'x509CertificateChain' && trust.allowCertificateChain ? vm.certificates.slice(1) : [];
    const chain = check('certificate chain', 'VERIFICATION', () => verifyCertificateChain(leaf, trust.cas, times, intermediates));
    const ctlogThreshold = policy.ctlogThreshold ?? (sctIgnored(trust, policy.ignoreSct) ? 0 : 1);
    if (ctlogThreshold > 0) check('SCT', 'VERIFICATION', () => verifySct(leaf, chain.chain[1]!, trust.ctlogs, ctlogThreshold));
    identity = check('certificate identity', 'VERIFICATION', () => certificateIdentity(leaf));
  }

  // --- 5. the artifact signature.
  const result: VerifiedBundle = { kind: c.kind, signingKey: signer.key, timestamps, tlogEntries: verifiedEntries.length, warnings };
  if (c.kind === 'messageSignature') {
    const a = artifact!;
    const isEd = signer.key.asymmetricKeyType === 'ed25519';
    if ('bytes' in a) {
      // The signature covers the artifact; the recorded digest must be that of the same bytes.
      const d = createHash(c.hashAlg).update(a.bytes).digest();
      if (!d.equals(c.digest)) fail('VERIFICATION', 'artifact: the artifact digest does not match the bundle');
      if (!verifyBytes(isEd ? null : c.hashAlg, a.bytes, signer.key, c.signature)) fail('VERIFICATION', 'artifact signature: the signature does not verify');
    } else {
      const d = artifactDigest(a, c.hashAlg);
      if (!d) fail('VERIFICATION', `artifact: the bundle records a ${HASH_ALG_NAME[c.hashAlg]} digest, which was not given for the artifact`);
      if (!d.equals(c.digest)) fail('VERIFICATION', 'artifact: the artifact digest does not match the bundle');
      if (!verifyDigest(signer.key, c.digest, c.hashAlg, c.signature, signer.info)) fail('VERIFICATION', 'artifact signature: the signature does not verify');
    }
  } else {
    const hash = signer.info ? signer.info.hash : signer.leaf ? certKeyHash(signer.leaf, signer.key) : keyHash(signer.key);
    if (!verifyBytes(hash, pae(c.payloadType, c.payload), signer.key, c.signature)) fail('VERIFICATION', 'DSSE signature: the signature does not verify');
    result.payload = c.payload;
    result.payloadType = c.payloadType;
    if (c.payloadType === IN_TOTO_PAYLOAD_TYPE) {
      const statement = check('in-toto statement', 'VERIFICATION', () => parseStatement(c.payload));
      result.statement = statement;
      if (artifact) check('in-toto subject', 'VERIFICATION', () => checkSubjects(statement, artifact));
    } else if (artifact) {
      fail('VERIFICATION', `in-toto subject: the envelope's payload type "${c.payloadType}" is not an in-toto statement, so it cannot name the artifact`);
    }
  }

  // --- 6. who signed.
  if (identity) {
    check('identity policy', 'VERIFICATION', () => checkIdentity(identity!, policy.identity!));
    result.identity = identity;
  }
  return result;
}

/**
 * RFC 3161 timestamps over `signature` for signatures verified with a key, or whose proofs live outside
 * a bundle (cosign's legacy annotation, `--rfc3161-timestamp`): every timestamp given must verify
 * against `tsas` (one that does not is an error, not a timestamp to skip), and at least `required` must
 * be there; `required` ≥ 1 is `--use-signed-timestamps`. Returns the verified times.
 */
export function verifySignatureTimestamps(signature: Uint8Array, timestamps: readonly Uint8Array[], tsas: readonly TimestampAuthority[] | undefined, required: number): Date[] {
  if (timestamps.length < required) {
    fail('VERIFICATION', timestamps.length === 0
      ? `timestamps: the signature carries no RFC 3161 timestamp, and --use-signed-timestamps requires ${required}`
      : `timestamps: the signature carries ${timestamps.length} RFC 3161 timestamps, ${required} required`);
  }
  const times: Date[] = [];
  if (!tsas) {
    // No timestamp authority to check against: a demanded proof cannot be had, an offered one is not used.
    if (required > 0) fail('USAGE', '--use-signed-timestamps needs timestamp authorities to verify against: pass --trusted-root or --timestamp-certificate-chain');
    return times;
  }
  const seen = new Set<string>();
  timestamps.forEach((ts, i) => {
    const name = timestamps.length > 1 ? `RFC 3161 timestamp ${i}` : 'RFC 3161 timestamp';
    const r = check(name, 'VERIFICATION', () => verifyTimestamp(ts, { signature, authorities: tsas }));
    const k = `${tsas.indexOf(r.authority)}|${r.time.getTime()}`;
    if (seen.has(k)) fail('VERIFICATION', 'timestamps: duplicate RFC 3161 timestamp');
    seen.add(k);
    times.push(r.time);
  });
  return times;
}

/**
 * Key-based verification through the engine, shaped like verify.ts's `verifyBundleWithKey`
 * (signature and artifact only: the log is the caller's business there). Kept here so that verify.ts
 * can delegate to it and Signet has one verifier.
 */
export function verifyBundleWithKeyEngine(
  bundle: ParsedBundle,
  key: PublicKeyInfo,
  artifact?: Artifact,
): { kind: 'messageSignature' | 'dsse'; payload?: Buffer; payloadType?: string; statement?: unknown; warnings: string[] } {
  const r = verifyBundle(bundle, artifact, EMPTY_TRUST, { key, ignoreTlog: true, ignoreTimestamps: true });
  if (bundle.verificationMaterial.kind !== 'publicKey') {
    r.warnings.push(`the bundle carries a ${bundle.verificationMaterial.kind === 'certificate' ? 'certificate' : 'certificate chain'}; it was verified against the given key instead`);
  }
  const out: ReturnType<typeof verifyBundleWithKeyEngine> = { kind: r.kind, warnings: r.warnings };
  if (r.payload) out.payload = r.payload;
  if (r.payloadType !== undefined) out.payloadType = r.payloadType;
  if (r.statement !== undefined) out.statement = r.statement;
  return out;
}

const EMPTY_TRUST: TrustMaterial = {
  root: { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] },
  cas: [],
  ctlogs: [],
  tsas: [],
};
