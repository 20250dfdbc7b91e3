/**
 * `signet verify`: find an image's signatures in both of cosign's formats (bundle referrers and the
 * legacy `.sig` tag), verify each, and report which ones hold. An error while listing referrers is an
 * error, never "no signatures" (cosign's silent fallback is how signatures get lost or re-made).
 */
import { SignetError } from '../errors.js';
import type { PublicKeyInfo } from '../keys/index.js';
import { verifySignature } from '../keys/index.js';
import { parseReference, repositoryName, type ImageReader } from '../oci/index.js';
import { parseBundle, verifyBundleWithKey, subjectMatches } from '../sigstore/index.js';
import { checkAnnotations, checkSimpleSigningClaims, parseSimpleSigningPayload, SIMPLE_SIGNING_MEDIA_TYPE, type SimpleSigningPayload } from './payload.js';
import { readLayers } from './sign.js';
import { checkEntriesWitnessed, verifyBundleTlog, verifyRekorBundle, type VerifiedTlogEntry, type WitnessPolicy } from '../sigstore/tlog.js';
import type { TrustedRoot } from '../sigstore/trustedroot.js';
import { ANNOTATION, attachmentTag, COSIGN_SIG_ARTIFACT, COSIGN_SIGN_PREDICATE, isBundleMediaType, parseImageManifest, type Descriptor } from './storage.js';
import { resolveTargets, signatureRepository, type Target } from './targets.js';
import { checkLegacyKeyless, certificateClaims } from './keyless-verify.js';
import { sctIgnored, verifyBundle, verifySignatureTimestamps, type TrustMaterial, type VerifiedBundle } from '../sigstore/verifier.js';
import type { TimestampAuthority } from '../sigstore/timestamp-verify.js';
import { parseTimestampJson } from './pki.js';
import type { Artifact } from '../sigstore/verify.js';
import { validateIdentityPolicy, type FulcioIdentity, type IdentityPolicy } from '../sigstore/identity.js';

/** Bounds on what we download per signature: cosign's 128 MiB attachment limit is far too generous for one bundle. */
const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;
const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

export interface VerifyImagesOptions {
  /** A registry client, or an OCI layout's reader (`verify --local-image`). */
  client: ImageReader;
  /** Key-based verification. Without it, verification is keyless: `identity` and `trust` are required. */
  key?: PublicKeyInfo;
  /** Keyless: who must have signed (cosign's --certificate-identity/--certificate-oidc-issuer family). */
  identity?: IdentityPolicy;
  /** Keyless: the trusted root's CAs, CT logs, TSAs and logs (prepareTrust). */
  trust?: TrustMaterial;
  /**
   * --insecure-ignore-sct. Unset: SCTs are required when the trusted root lists CT logs and not
   * otherwise (a root without CT logs says its CA does not log certificates; demanding SCTs could
   * only fail).
   */
  ignoreSct?: boolean;
  /** --use-signed-timestamps: each signature needs a verified RFC 3161 timestamp. */
  useSignedTimestamps?: boolean;
  /**
   * Keyed: the timestamp authorities RFC 3161 timestamps are verified against (required with
   * useSignedTimestamps; without them a keyed signature's timestamps go unchecked).
   */
  tsas?: readonly TimestampAuthority[];
  images: string[];
  /** `-a k=v`: every one must be present in the signed claims. */
  annotations?: Record<string, string>;
  /** cosign's --check-claims (default true). */
  checkClaims?: boolean;
  /** --insecure-ignore-tlog. Without it, each signature needs log evidence that `tlog` accepts. */
  ignoreTlog?: boolean;
  /** Offline log verification: every accepted signature needs an entry that verifies against this root. */
  trustedRoot?: TrustedRoot;
  /** Replaces the built-in check of a signature's log evidence (tests, custom policies). */
  tlog?: (evidence: TlogEvidence) => VerifiedTlogEntry[] | void;
  signatureRepository?: string;
  maxWorkers?: number;
  /** --witness-policy: each accepted signature's log entries must carry checkpoints cosigned by this quorum. */
  witnessPolicy?: WitnessPolicy;
}

export type TlogEvidence =
  | { kind: 'bundle'; bundle: ReturnType<typeof parseBundle> }
  | { kind: 'legacy'; annotation?: string; payload: Buffer; signature: Buffer };

export interface VerifiedSignature {
  source: 'referrer' | 'legacy';
  /** Where it was found: referrer manifest digest or `.sig` tag. */
  location: string;
  /** The payload in cosign's output shape (the simple-signing JSON, or a statement rendered into it). */
  claims: SimpleSigningPayload;
  /** The exact signed payload bytes. */
  payload: Buffer;
  /** The log entries that vouched for it (absent with --insecure-ignore-tlog). */
  tlog?: VerifiedTlogEntry[];
  /** Keyless: the verified certificate identity. */
  identity?: FulcioIdentity;
}

export interface ImageVerification {
  input: string;
  digest: string;
  verified: VerifiedSignature[];
  /** Signatures that were found but did not verify, with the reason. */
  rejected: Array<{ location: string; reason: string }>;
}

interface Candidate {
  source: 'referrer' | 'legacy';
  location: string;
  check: () => VerifiedSignature;
}

export interface ImageOutcome {
  input: string;
  result?: ImageVerification;
  error?: SignetError;
}

/** Verify many images concurrently (at most `maxWorkers` at once), sharing one registry client. */
export async function verifyImages(opts: VerifyImagesOptions): Promise<ImageOutcome[]> {
  checkMode(opts);
  const workers = opts.maxWorkers ?? 10;
  if (!Number.isInteger(workers) || workers < 1) throw new SignetError('USAGE', '--max-workers must be at least 1');
  const outcomes: ImageOutcome[] = new Array(opts.images.length);
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < opts.images.length) {
      const i = next++;
      const input = opts.images[i]!;
      try {
        outcomes[i] = { input, result: await verifyOne(opts, input) };
      } catch (e) {
        if (!(e instanceof SignetError)) throw e;
        outcomes[i] = { input, error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, opts.images.length) }, run));
  return outcomes;
}

/** A key, or (keyless) an identity policy and trust material: usage errors before any network work. */
function checkMode(opts: VerifyImagesOptions): void {
  if (opts.witnessPolicy && opts.ignoreTlog) throw new SignetError('USAGE', '--witness-policy is about the log\'s checkpoints: it cannot be used with --insecure-ignore-tlog');
  if (opts.key) {
    if (opts.identity) throw new SignetError('USAGE', '--key and --certificate-identity/--certificate-oidc-issuer cannot be used together');
    return;
  }
  if (!opts.identity) throw new SignetError('USAGE', 'keyless verification needs --certificate-identity (or --certificate-identity-regexp) and --certificate-oidc-issuer (or --certificate-oidc-issuer-regexp); or pass --key');
  validateIdentityPolicy(opts.identity);
  if (!opts.trust) throw new SignetError('USAGE', 'keyless verification needs a trusted root');
}

/**
 * Verify one image; throws NO_SIGNATURES / NO_MATCHING_SIGNATURES when nothing holds, NO_CERTIFICATE
 * when keyless verification found only signatures without a certificate.
 */
export async function verifyOne(opts: VerifyImagesOptions, input: string): Promise<ImageVerification> {
  checkMode(opts);
  // The manifest is read with a GET, not a HEAD: docker-registry closes the connection after every HEAD.
  // Parsed first: a bad reference must fail here, before a lookup promise exists that nobody would await.
  const ref = parseReference(input);
  const resolving = resolveTargets(opts.client, input, { signatureRepository: opts.signatureRepository, get: true });
  const lookup = async (t: Target): Promise<Candidate[]> => {
    const [fromReferrers, fromLegacy] = await Promise.all([referrerCandidates(opts, t), legacyCandidates(opts, t)]);
    return [...fromReferrers, ...fromLegacy];
  };
  let target: Target | undefined;
  let candidates: Candidate[];
  if (ref.digest) {
    // Named by digest, the signatures' places are known already: they are looked up while the manifest is
    // checked. A missing image is still the error reported first.
    const image = { registry: ref.registry, repository: ref.repository };
    const known: Target = { input, image, signatureRepo: signatureRepository(image, opts.signatureRepository), subject: { mediaType: '', digest: ref.digest, size: 0 }, resolvedFromTag: false };
    const [resolved, found] = await Promise.allSettled([resolving, lookup(known)]);
    if (resolved.status === 'rejected') throw resolved.reason;
    if (found.status === 'rejected') throw found.reason;
    [target] = resolved.value;
    candidates = found.value;
  } else {
    [target] = await resolving;
    candidates = await lookup(target!);
  }
  if (candidates.length === 0) {
    throw new SignetError('NO_SIGNATURES', `no signatures found for ${input} (${target!.subject.digest})`);
  }
  const verified: VerifiedSignature[] = [];
  const rejected: ImageVerification['rejected'] = [];
  const codes = new Set<string>();
  // Keyless: signatures made with a key (NO_CERTIFICATE) are of the other kind, not the reason to report.
  let madeWithKey = 0;
  const reasons = new Set<string>();
  for (const c of candidates) {
    try {
      const v = c.check();
      // Keyless bundles are held to the witness policy inside the engine; the other forms here.
      if (opts.witnessPolicy && v.tlog) checkEntriesWitnessed(v.tlog, opts.witnessPolicy);
      verified.push(v);
    } catch (e) {
      if (!(e instanceof SignetError)) throw e;
      if (e.code === 'USAGE') throw e;
      codes.add(e.code);
      rejected.push({ location: c.location, reason: e.message });
      if (e.code === 'NO_CERTIFICATE') madeWithKey++;
      else reasons.add(e.message);
    }
  }
  if (verified.length === 0) {
    if (codes.size === 1 && codes.has('NO_CERTIFICATE')) {
      throw new SignetError('NO_CERTIFICATE', `no certificate found on the signatures of ${input}: they were made with a key; verify with --key`);
    }
    // What matters first: why the signatures of the kind asked for failed; the others only get counted.
    const why = [...reasons];
    if (madeWithKey > 0) why.push(`${madeWithKey === 1 ? 'one other signature was' : `${madeWithKey} other signatures were`} made with a key (verify with --key)`);
    throw new SignetError('NO_MATCHING_SIGNATURES', `no matching signatures for ${input}: ${why.join('; ')}`);
  }
  return { input, digest: target!.subject.digest, verified, rejected };
}

function requireTlog(opts: VerifyImagesOptions, evidence: TlogEvidence): VerifiedTlogEntry[] | undefined {
  if (opts.ignoreTlog) return undefined;
  if (opts.tlog) return opts.tlog(evidence) ?? undefined;
  if (!opts.trustedRoot) {
    throw new SignetError('TLOG', 'no trusted root to check the transparency log entry against: pass --trusted-root, or --insecure-ignore-tlog to verify without the log');
  }
  return verifyTlogEvidence(opts.trustedRoot, opts.key!, evidence);
}

/**
 * Offline check of a signature's log evidence: a bundle's tlog entries, or a legacy layer's
 * `dev.sigstore.cosign/bundle` annotation (hashedrekord over the payload, SET by a trusted log).
 */
export function verifyTlogEvidence(root: TrustedRoot, key: PublicKeyInfo, evidence: TlogEvidence): VerifiedTlogEntry[] {
  if (evidence.kind === 'bundle') return verifyBundleTlog(evidence.bundle, { publicKeySpki: key.spkiDer }, root);
  if (!evidence.annotation) throw new SignetError('TLOG', 'signature has no transparency log bundle (dev.sigstore.cosign/bundle annotation)');
  return [verifyRekorBundle(evidence.annotation, { signature: evidence.signature, publicKeySpki: key.spkiDer, content: { kind: 'bytes', data: evidence.payload } }, root)];
}

async function referrerCandidates(opts: VerifyImagesOptions, target: Target): Promise<Candidate[]> {
  const { client } = opts;
  const repo = target.signatureRepo;
  const { manifests } = await client.referrers(repo, target.subject.digest);
  // Other artifact types (SBOMs, attestations of other tools) are not signatures; unknown types are looked at.
  // Bundles that say they hold another predicate type are attestations (verify-attestation's), as cosign skips them.
  // cosign's experimental OCI 1.1 signatures (COSIGN_SIG_ARTIFACT) are `.sig` images under another name.
  const relevant = manifests.filter((d: Descriptor) => {
    if (d.artifactType && !isBundleMediaType(d.artifactType) && d.artifactType !== COSIGN_SIG_ARTIFACT) return false;
    const predicateType = d.annotations?.[ANNOTATION.bundlePredicateType];
    return predicateType === undefined || predicateType === COSIGN_SIGN_PREDICATE;
  });
  return Promise.all(
    relevant.map(async (d: Descriptor): Promise<Candidate[]> => {
      const location = `${repositoryName(repo)}@${d.digest}`;
      const m = await client.getManifest(repo, d.digest);
      const manifest = parseImageManifest(m.bytes);
      // The manifest's own word decides (an index entry may lack artifactType): artifactType, else the config's media type.
      const kind = manifest.artifactType || manifest.config?.mediaType;
      if (kind === COSIGN_SIG_ARTIFACT) return signatureLayerCandidates(opts, target, manifest.layers, location, 'referrer');
      if (d.artifactType === COSIGN_SIG_ARTIFACT) return [];
      const layers = manifest.layers.filter((l) => isBundleMediaType(l.mediaType));
      if (layers.length !== 1) return [];
      if (layers[0]!.size > MAX_BUNDLE_BYTES) {
        return [{ source: 'referrer', location, check: () => { throw new SignetError('TOO_LARGE', `bundle of ${layers[0]!.size} bytes exceeds ${MAX_BUNDLE_BYTES}`); } }];
      }
      const bytes = await client.getBlob(repo, layers[0]!.digest, { maxBytes: MAX_BUNDLE_BYTES });
      return [{ source: 'referrer', location, check: () => checkBundle(opts, target, bytes, location) }];
    }),
  ).then((lists) => lists.flat());
}

function checkBundle(opts: VerifyImagesOptions, target: Target, bytes: Buffer, location: string): VerifiedSignature {
  const bundle = parseBundle(bytes);
  if (bundle.content.kind !== 'dsse') {
    throw new SignetError('VERIFICATION', 'bundle holds a message signature, which cannot sign an image');
  }
  const hex = target.subject.digest.replace(/^sha256:/, '');
  const artifact = { digest: Buffer.from(hex, 'hex'), hashAlg: 'sha256' as const };
  let payload: Buffer;
  let identity: FulcioIdentity | undefined;
  if (opts.key) {
    payload = verifyBundleWithKey(bundle, opts.key, artifact).payload!;
    verifySignatureTimestamps(bundle.content.signature, bundle.rfc3161Timestamps, opts.tsas, opts.useSignedTimestamps ? 1 : 0);
  } else {
    if (bundle.verificationMaterial.kind === 'publicKey') throw new SignetError('NO_CERTIFICATE', 'bundle was signed with a key, not a certificate: verify with --key');
    const r = verifyKeylessBundle(bundle, artifact, opts);
    payload = r.payload!;
    identity = r.identity;
  }
  const statement = JSON.parse(payload.toString('utf8')) as { predicateType?: unknown; subject?: Array<{ digest?: Record<string, string>; annotations?: Record<string, string> }> };
  // `verify` is about signatures; attestations of the same image are not signatures (sigstore-rs agrees, cosign does not).
  if (statement.predicateType !== COSIGN_SIGN_PREDICATE) {
    throw new SignetError('VERIFICATION', `bundle is an attestation (${String(statement.predicateType)}), not a signature`);
  }
  const subject = (statement.subject ?? []).find((s) => s?.digest?.sha256 === hex);
  if (opts.checkClaims !== false) {
    if (!subjectMatches(payload, hex, opts.annotations)) {
      checkAnnotations(subject?.annotations ?? {}, opts.annotations);
      throw new SignetError('VERIFICATION', `statement does not name the image ${target.subject.digest}`);
    }
  }
  // Keyless bundles had their log entries checked by the engine, against the same trusted root.
  const tlog = opts.key ? requireTlog(opts, { kind: 'bundle', bundle }) : undefined;
  const optional = identity ? { ...(subject?.annotations ?? {}), ...certificateClaims(identity) } : (subject?.annotations ?? null);
  return {
    source: 'referrer',
    location,
    payload,
    ...(tlog ? { tlog } : {}),
    ...(identity ? { identity } : {}),
    claims: {
      critical: { identity: { 'docker-reference': target.input }, image: { 'docker-manifest-digest': target.subject.digest }, type: COSIGN_SIGN_PREDICATE },
      optional,
    },
  };
}

/** The bundle engine under the command's keyless policy. */
export function verifyKeylessBundle(
  bundle: ReturnType<typeof parseBundle>,
  artifact: Artifact,
  opts: { trust?: TrustMaterial; identity?: IdentityPolicy; ignoreTlog?: boolean; ignoreSct?: boolean; useSignedTimestamps?: boolean; witnessPolicy?: WitnessPolicy },
): VerifiedBundle {
  return verifyBundle(bundle, artifact, opts.trust!, {
    identity: opts.identity!,
    ignoreTlog: opts.ignoreTlog === true,
    ...(opts.ignoreSct !== undefined ? { ignoreSct: opts.ignoreSct } : {}),
    tsaThreshold: opts.useSignedTimestamps ? 1 : 0,
    ...(opts.witnessPolicy ? { witnessPolicy: opts.witnessPolicy } : {}),
  });
}


async function legacyCandidates(opts: VerifyImagesOptions, target: Target): Promise<Candidate[]> {
  const repo = target.signatureRepo;
  const tag = attachmentTag(target.subject.digest, 'sig');
  const layers = await readLayers(opts.client, repo, tag);
  return signatureLayerCandidates(opts, target, layers, `${repositoryName(repo)}:${tag}`, 'legacy');
}

/** The simple-signing layers of a `.sig` image, or of cosign's experimental referrer of the same shape. */
function signatureLayerCandidates(opts: VerifyImagesOptions, target: Target, all: Descriptor[], location: string, source: Candidate['source']): Promise<Candidate[]> {
  const repo = target.signatureRepo;
  const layers = all.filter((l) => l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE);
  return Promise.all(
    layers.map(async (layer): Promise<Candidate> => {
      if (layer.size > MAX_PAYLOAD_BYTES) {
        return { source, location, check: () => { throw new SignetError('TOO_LARGE', `signature payload of ${layer.size} bytes exceeds ${MAX_PAYLOAD_BYTES}`); } };
      }
      const payload = await opts.client.getBlob(repo, layer.digest, { maxBytes: MAX_PAYLOAD_BYTES });
      return { source, location, check: () => ({ ...checkLegacy(opts, target, layer, payload, location), source }) };
    }),
  );
}

function checkLegacy(opts: VerifyImagesOptions, target: Target, layer: Descriptor, payload: Buffer, location: string): VerifiedSignature {
  const b64 = layer.annotations?.[ANNOTATION.signature];
  if (!b64) throw new SignetError('VERIFICATION', 'signature layer has no signature annotation');
  const signature = Buffer.from(b64, 'base64');
  if (!opts.key) {
    const r = checkLegacyKeyless({
      annotations: layer.annotations ?? {},
      payload,
      signature,
      trust: opts.trust!,
      identity: opts.identity!,
      ignoreTlog: opts.ignoreTlog === true,
      ignoreSct: sctIgnored(opts.trust!, opts.ignoreSct),
      useSignedTimestamps: opts.useSignedTimestamps === true,
    });
    const claims = parseSimpleSigningPayload(payload);
    if (opts.checkClaims !== false) checkSimpleSigningClaims(claims, target.subject.digest, opts.annotations);
    claims.optional = { ...(claims.optional ?? {}), ...certificateClaims(r.identity), ...r.optional };
    return { source: 'legacy', location, claims, payload, identity: r.identity, ...(r.tlog ? { tlog: r.tlog } : {}) };
  }
  if (!verifySignature(opts.key, payload, signature)) {
    throw new SignetError('VERIFICATION', 'signature does not verify with the given key');
  }
  const tsAnnotation = layer.annotations?.[ANNOTATION.rfc3161];
  const stamps = tsAnnotation ? [parseTimestampJson(tsAnnotation, `the ${ANNOTATION.rfc3161} annotation`)] : [];
  verifySignatureTimestamps(signature, stamps, opts.tsas, opts.useSignedTimestamps ? 1 : 0);
  const claims = parseSimpleSigningPayload(payload);
  if (opts.checkClaims !== false) checkSimpleSigningClaims(claims, target.subject.digest, opts.annotations);
  const annotation = layer.annotations?.[ANNOTATION.bundle];
  const tlog = requireTlog(opts, { kind: 'legacy', annotation, payload, signature });
  // cosign shows the verified Rekor bundle in the output's `optional.Bundle`.
  if (tlog && annotation) claims.optional = { ...(claims.optional ?? {}), Bundle: JSON.parse(annotation) as unknown };
  return { source: 'legacy', location, claims, payload, ...(tlog ? { tlog } : {}) };
}

