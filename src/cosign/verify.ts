/**
 * `signet verify`: find an image's signatures in both of cosign's formats (bundle referrers and the
 * legacy `.sig` tag), verify each, and report which ones hold. An error while listing referrers is an
 * error, never "no signatures" (cosign's silent fallback is how signatures get lost or re-made).
 */
import { SignetError } from '../errors.js';
import type { PublicKeyInfo } from '../keys/index.js';
import { verifySignature } from '../keys/index.js';
import { repositoryName, type RegistryClient } from '../oci/index.js';
import { parseBundle, verifyBundleWithKey, subjectMatches } from '../sigstore/index.js';
import { checkAnnotations, checkSimpleSigningClaims, parseSimpleSigningPayload, SIMPLE_SIGNING_MEDIA_TYPE, type SimpleSigningPayload } from './payload.js';
import { readLayers } from './sign.js';
import { verifyBundleTlog, verifyRekorBundle, type VerifiedTlogEntry } from '../sigstore/tlog.js';
import type { TrustedRoot } from '../sigstore/trustedroot.js';
import { ANNOTATION, attachmentTag, COSIGN_SIGN_PREDICATE, isBundleMediaType, parseImageManifest, type Descriptor } from './storage.js';
import { resolveTargets, type Target } from './targets.js';

/** Bounds on what we download per signature: cosign's 128 MiB attachment limit is far too generous for one bundle. */
const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;
const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

export interface VerifyImagesOptions {
  client: RegistryClient;
  key: PublicKeyInfo;
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

/** Verify one image; throws NO_SIGNATURES / NO_MATCHING_SIGNATURES when nothing holds. */
export async function verifyOne(opts: VerifyImagesOptions, input: string): Promise<ImageVerification> {
  const [target] = await resolveTargets(opts.client, input, { signatureRepository: opts.signatureRepository });
  const [fromReferrers, fromLegacy] = await Promise.all([referrerCandidates(opts, target!), legacyCandidates(opts, target!)]);
  const candidates = [...fromReferrers, ...fromLegacy];
  if (candidates.length === 0) {
    throw new SignetError('NO_SIGNATURES', `no signatures found for ${input} (${target!.subject.digest})`);
  }
  const verified: VerifiedSignature[] = [];
  const rejected: ImageVerification['rejected'] = [];
  for (const c of candidates) {
    try {
      verified.push(c.check());
    } catch (e) {
      if (!(e instanceof SignetError)) throw e;
      rejected.push({ location: c.location, reason: e.message });
    }
  }
  if (verified.length === 0) {
    const reasons = [...new Set(rejected.map((r) => r.reason))].join('; ');
    throw new SignetError('NO_MATCHING_SIGNATURES', `no matching signatures for ${input}: ${reasons}`);
  }
  return { input, digest: target!.subject.digest, verified, rejected };
}

function requireTlog(opts: VerifyImagesOptions, evidence: TlogEvidence): VerifiedTlogEntry[] | undefined {
  if (opts.ignoreTlog) return undefined;
  if (opts.tlog) return opts.tlog(evidence) ?? undefined;
  if (!opts.trustedRoot) {
    throw new SignetError('TLOG', 'no trusted root to check the transparency log entry against: pass --trusted-root, or --insecure-ignore-tlog to verify without the log');
  }
  return verifyTlogEvidence(opts.trustedRoot, opts.key, evidence);
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
  const relevant = manifests.filter((d: Descriptor) => !d.artifactType || isBundleMediaType(d.artifactType));
  return Promise.all(
    relevant.map(async (d: Descriptor): Promise<Candidate[]> => {
      const location = `${repositoryName(repo)}@${d.digest}`;
      const m = await client.getManifest(repo, d.digest);
      const layers = parseImageManifest(m.bytes).layers.filter((l) => isBundleMediaType(l.mediaType));
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
  const result = verifyBundleWithKey(bundle, opts.key, { digest: Buffer.from(hex, 'hex'), hashAlg: 'sha256' });
  const payload = result.payload!;
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
  const tlog = requireTlog(opts, { kind: 'bundle', bundle });
  return {
    source: 'referrer',
    location,
    payload,
    ...(tlog ? { tlog } : {}),
    claims: {
      critical: { identity: { 'docker-reference': target.input }, image: { 'docker-manifest-digest': target.subject.digest }, type: COSIGN_SIGN_PREDICATE },
      optional: subject?.annotations ?? null,
    },
  };
}

async function legacyCandidates(opts: VerifyImagesOptions, target: Target): Promise<Candidate[]> {
  const { client } = opts;
  const repo = target.signatureRepo;
  const tag = attachmentTag(target.subject.digest, 'sig');
  const location = `${repositoryName(repo)}:${tag}`;
  const layers = (await readLayers(client, repo, tag)).filter((l) => l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE);
  return Promise.all(
    layers.map(async (layer): Promise<Candidate> => {
      if (layer.size > MAX_PAYLOAD_BYTES) {
        return { source: 'legacy', location, check: () => { throw new SignetError('TOO_LARGE', `signature payload of ${layer.size} bytes exceeds ${MAX_PAYLOAD_BYTES}`); } };
      }
      const payload = await client.getBlob(repo, layer.digest, { maxBytes: MAX_PAYLOAD_BYTES });
      return { source: 'legacy', location, check: () => checkLegacy(opts, target, layer, payload, location) };
    }),
  );
}

function checkLegacy(opts: VerifyImagesOptions, target: Target, layer: Descriptor, payload: Buffer, location: string): VerifiedSignature {
  const b64 = layer.annotations?.[ANNOTATION.signature];
  if (!b64) throw new SignetError('VERIFICATION', 'signature layer has no signature annotation');
  const signature = Buffer.from(b64, 'base64');
  if (!verifySignature(opts.key, payload, signature)) {
    throw new SignetError('VERIFICATION', 'signature does not verify with the given key');
  }
  const claims = parseSimpleSigningPayload(payload);
  if (opts.checkClaims !== false) checkSimpleSigningClaims(claims, target.subject.digest, opts.annotations);
  const annotation = layer.annotations?.[ANNOTATION.bundle];
  const tlog = requireTlog(opts, { kind: 'legacy', annotation, payload, signature });
  // cosign shows the verified Rekor bundle in the output's `optional.Bundle`.
  if (tlog && annotation) claims.optional = { ...(claims.optional ?? {}), Bundle: JSON.parse(annotation) as unknown };
  return { source: 'legacy', location, claims, payload, ...(tlog ? { tlog } : {}) };
}

