/**
 * `signet sign`: sign image manifests with a key, in cosign v3's bundle format (an OCI 1.1 referrer)
 * or cosign's legacy `.sig` format. Every signature is made before anything is pushed, so a failing
 * command leaves the registry as it was; legacy appends re-read after writing so that concurrent
 * signers do not drop each other's signatures (cosign issue #2432).
 */
import { isSignetError, SignetError } from '../errors.js';
import type { Signer } from '../keys/index.js';
import { repositoryName, type RegistryClient } from '../oci/index.js';
import { buildDsseBundle, buildImageStatement, envelopeToJSON, IN_TOTO_PAYLOAD_TYPE, pae, signDsse } from '../sigstore/index.js';
import { hashedrekordV001, RekorV1Client, rekorBundleAnnotation, uploadToTlog, type TlogTarget } from '../sigstore/rekor-client.js';
import { createHash } from 'node:crypto';
import { simpleSigningPayload, SIMPLE_SIGNING_MEDIA_TYPE } from './payload.js';
import {
  ANNOTATION,
  attachmentTag,
  buildBundleReferrerManifest,
  buildLegacySignatureManifest,
  COSIGN_SIGN_PREDICATE,
  EMPTY_JSON,
  layerDescriptor,
  OCI_MANIFEST,
  parseImageManifest,
  type Descriptor,
  type LegacySignatureLayer,
} from './storage.js';
import { resolveTargets, type Target } from './targets.js';
import { requestTimestamp } from '../sigstore/tsa-client.js';
import { verifySignature } from '../keys/index.js';
import { timestampAndLog, type KeylessSigner } from '../sigstore/sign-keyless.js';

export interface SignImagesOptions {
  client: RegistryClient;
  signer: Signer;
  images: string[];
  annotations?: Record<string, string>;
  recursive?: boolean;
  /** cosign v3 default: true. False writes the legacy `.sig` format. */
  newBundleFormat?: boolean;
  /** COSIGN_REPOSITORY: store signatures in this repository instead of the image's. */
  signatureRepository?: string;
  /** COSIGN_DOCKER_MEDIA_TYPES: legacy signature images with Docker media types. */
  dockerMediaTypes?: boolean;
  /** How many signatures to push at once (default 8). */
  maxWorkers?: number;
  /** Progress and notices for people ("resolved tag …", "pushed …"). */
  onEvent?: (message: string) => void;
  /**
   * Log every signature here before anything is pushed (a failed upload pushes nothing). New format:
   * the entry goes into the bundle; legacy: a `dev.sigstore.cosign/bundle` annotation (Rekor v1 only).
   */
  tlog?: TlogTarget;
  /**
   * Keyless: `signer` must be `keyless.signer`; every signature carries its certificate, is timestamped
   * and logged per `keyless.services` (`tlog` is then ignored).
   */
  keyless?: KeylessSigner;
}

export interface SignedImage {
  input: string;
  digest: string;
  format: 'bundle' | 'legacy';
  /** Where the signature now lives: the referrer manifest digest or the `.sig` tag. */
  location: string;
  /** True when an identical legacy signature was already present. */
  unchanged?: boolean;
}

/** A bundle ready to push as a referrer of its target (signatures and attestations alike). */
export interface PreparedBundle {
  kind: 'bundle';
  target: Target;
  bundle: Buffer;
  manifest: Buffer;
  bundleDescriptor: Descriptor;
}

type Prepared = PreparedBundle | { kind: 'legacy'; target: Target; layer: LegacySignatureLayer };

export async function signImages(opts: SignImagesOptions): Promise<SignedImage[]> {
  const say = opts.onEvent ?? (() => {});
  const newFormat = opts.newBundleFormat ?? true;
  const targets: Target[] = [];
  for (const input of opts.images) {
    const resolved = await resolveTargets(opts.client, input, { recursive: opts.recursive, signatureRepository: opts.signatureRepository });
    if (resolved[0]!.resolvedFromTag) {
      say(`Resolved ${input} to ${repositoryName(resolved[0]!.image)}@${resolved[0]!.subject.digest}: signing the digest, not the tag.`);
    }
    targets.push(...resolved);
  }
  if (opts.keyless && opts.keyless.signer !== opts.signer) throw new SignetError('INTERNAL', 'keyless signing must sign with the certified ephemeral key');
  const tlogs = opts.keyless ? opts.keyless.services.tlogs : opts.tlog ? [opts.tlog] : [];
  if (!newFormat && tlogs.some((t) => t.majorApiVersion !== 1)) {
    throw new SignetError('USAGE', 'the legacy .sig format records Rekor v1 bundles only: use --new-bundle-format or a Rekor v1 URL');
  }
  if (!newFormat && tlogs.length > 1) throw new SignetError('USAGE', 'the legacy .sig format holds one log entry per signature, but the signing config selects several logs');
  // Sign and log everything first: a failure here must not leave some images signed and others not.
  const prepared: Prepared[] = await mapBounded(targets, opts.maxWorkers ?? 8, async (target) => {
    const p = newFormat ? await prepareBundle(opts, target) : await prepareLegacy(opts, target);
    if (tlogs.length > 0) for (const index of logIndices(p)) say(`tlog entry created with index: ${index}`);
    return p;
  });
  // Push with bounded concurrency: many images in one call share connections and tokens.
  const results: SignedImage[] = new Array(prepared.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < prepared.length) {
      const i = next++;
      const p = prepared[i]!;
      results[i] = p.kind === 'bundle' ? await pushBundle(opts.client, p) : await appendLegacy(opts, p);
      say(`Pushed signature for ${p.target.input} to ${results[i]!.location}`);
    }
  };
  // Most of a push is the re-check pause of appendToList (≥ 250 ms), which holds no connection: four
  // pushers per worker keep the registry as busy as before the pause existed.
  await Promise.all(Array.from({ length: Math.min((opts.maxWorkers ?? 8) * PUSHERS_PER_WORKER, prepared.length) }, worker));
  return results;
}

/** Concurrent pushes per `maxWorkers`: a push mostly waits out appendToList's re-check pause. */
export const PUSHERS_PER_WORKER = 4;

/** The log indices of a prepared signature's entries (bundle tlogEntries, or the legacy Rekor bundle annotation), as cosign prints them. */
function logIndices(p: Prepared): string[] {
  try {
    if (p.kind === 'bundle') {
      const doc = JSON.parse(p.bundle.toString('utf8')) as { verificationMaterial?: { tlogEntries?: Array<{ logIndex?: unknown }> } };
      return (doc.verificationMaterial?.tlogEntries ?? []).map((e) => String(e.logIndex));
    }
    const annotation = p.layer.annotations[ANNOTATION.bundle];
    return annotation ? [String((JSON.parse(annotation) as { Payload?: { logIndex?: unknown } }).Payload?.logIndex)] : [];
  } catch {
    return [];
  }
}

/** `fn` over `items` with at most `limit` running at once; results in input order. */
export async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(limit, 1), items.length) }, worker));
  return out;
}

async function prepareBundle(opts: SignImagesOptions, target: Target): Promise<Prepared> {
  const hex = target.subject.digest.replace(/^sha256:/, '');
  if (!target.subject.digest.startsWith('sha256:')) {
    throw new SignetError('USAGE', `cannot sign ${target.subject.digest}: only sha256 image digests can be signed`);
  }
  const statement = buildImageStatement(hex, opts.annotations ?? {});
  const envelope = await signDsse(opts.signer, IN_TOTO_PAYLOAD_TYPE, statement);
  if (opts.keyless) {
    const signature = envelope.signatures[0]!.sig;
    const ev = await timestampAndLog(opts.keyless, signature, { kind: 'dsse', envelopeJson: envelopeToJSON(envelope).toString('utf8'), pae: pae(envelope.payloadType, envelope.payload) });
    const bundle = buildDsseBundle({ envelope, certificate: opts.keyless.certificate, tlogEntries: ev.tlogEntries, rfc3161Timestamps: ev.timestamps });
    const { manifest, bundleDescriptor } = buildBundleReferrerManifest({ bundle, subject: target.subject, predicateType: COSIGN_SIGN_PREDICATE, content: 'dsse-envelope' });
    return { kind: 'bundle', target, bundle, manifest, bundleDescriptor };
  }
  const tlogEntries = opts.tlog
    ? [
        await uploadToTlog(opts.tlog, {
          kind: 'dsse',
          envelopeJson: envelopeToJSON(envelope).toString('utf8'),
          pae: pae(envelope.payloadType, envelope.payload),
          signature: envelope.signatures[0]!.sig,
          key: opts.signer.publicKey,
        }),
      ]
    : [];
  const bundle = buildDsseBundle({ envelope, publicKeyHint: opts.signer.publicKey.hint, tlogEntries });
  const { manifest, bundleDescriptor } = buildBundleReferrerManifest({ bundle, subject: target.subject, predicateType: COSIGN_SIGN_PREDICATE, content: 'dsse-envelope' });
  return { kind: 'bundle', target, bundle, manifest, bundleDescriptor };
}

/** Push a prepared bundle and its referrer manifest (the referrers fallback index when the registry has no API). */
export async function pushBundle(client: RegistryClient, p: PreparedBundle): Promise<SignedImage> {
  const repo = p.target.signatureRepo;
  await client.putBlob(repo, EMPTY_JSON);
  await client.putBlob(repo, p.bundle);
  // Every signer uploads the same `{}` config: the registry may briefly fail to read it (see putManifest).
  const digest = await client.pushReferrer(repo, p.manifest, OCI_MANIFEST, p.target.subject, { blobs: [EMPTY_JSON, p.bundle] });
  return { input: p.target.input, digest: p.target.subject.digest, format: 'bundle', location: `${repositoryName(repo)}@${digest}` };
}

async function prepareLegacy(opts: SignImagesOptions, target: Target): Promise<Prepared> {
  const payload = simpleSigningPayload(repositoryName(target.image), target.subject.digest, opts.annotations);
  const signature = await opts.signer.sign(payload);
  const annotations: Record<string, string> = { [ANNOTATION.signature]: signature.toString('base64') };
  if (opts.keyless) {
    const ks = opts.keyless;
    annotations[ANNOTATION.certificate] = ks.certificatePem;
    annotations[ANNOTATION.chain] = ks.chainPem;
    // The TSA countersigns the raw signature bytes; cosign's annotation holds one timestamp.
    const tsa = ks.services.tsaUrls[0];
    if (tsa) annotations[ANNOTATION.rfc3161] = JSON.stringify({ SignedRFC3161Timestamp: (await requestTimestamp(tsa, signature)).toString('base64') });
    const log = ks.services.tlogs[0];
    if (log) {
      const hashAlg = ks.signer.publicKey.hash ?? 'sha256';
      const proposed = hashedrekordV001({ hashAlg, digest: createHash(hashAlg).update(payload).digest(), signature, verifierPem: ks.certificatePem });
      const { entry } = await new RekorV1Client({ baseUrl: log.url }).createEntry(proposed);
      annotations[ANNOTATION.bundle] = rekorBundleAnnotation(entry);
    }
    return { kind: 'legacy', target, layer: { payload, mediaType: SIMPLE_SIGNING_MEDIA_TYPE, annotations } };
  }
  if (opts.tlog) {
    // cosign logs a hashedrekord over the payload digest; the key's own hash keeps non-P-256 keys verifiable.
    const hashAlg = opts.signer.publicKey.hash ?? 'sha256';
    const proposed = hashedrekordV001({ hashAlg, digest: createHash(hashAlg).update(payload).digest(), signature, verifierPem: opts.signer.publicKey.pem });
    const { entry } = await new RekorV1Client({ baseUrl: opts.tlog.url }).createEntry(proposed);
    annotations[ANNOTATION.bundle] = rekorBundleAnnotation(entry);
  }
  return { kind: 'legacy', target, layer: { payload, mediaType: SIMPLE_SIGNING_MEDIA_TYPE, annotations } };
}

/**
 * cosign's DupeDetector: an existing layer with the same payload, media type and (apart from the
 * signature) annotations, whose signature verifies with our key, already says what we would add.
 */
function isDuplicate(existing: Descriptor, layer: LegacySignatureLayer, signer: Signer, payloadDigest: string): boolean {
  if (existing.digest !== payloadDigest || existing.mediaType !== layer.mediaType) return false;
  const a = existing.annotations ?? {};
  for (const [k, v] of Object.entries(layer.annotations)) {
    // The log bundle differs per upload (a re-signed SET) while vouching for the same signature.
    if (k !== ANNOTATION.signature && k !== ANNOTATION.bundle && a[k] !== v) return false;
  }
  const sig = a[ANNOTATION.signature];
  return typeof sig === 'string' && verifySignature(signer.publicKey, layer.payload, Buffer.from(sig, 'base64'));
}

async function appendLegacy(opts: SignImagesOptions, p: Extract<Prepared, { kind: 'legacy' }>): Promise<SignedImage> {
  const { client } = opts;
  const repo = p.target.signatureRepo;
  const tag = attachmentTag(p.target.subject.digest, 'sig');
  const location = `${repositoryName(repo)}:${tag}`;
  const ours = layerDescriptor(p.layer);
  const result: SignedImage = { input: p.target.input, digest: p.target.subject.digest, format: 'legacy', location };
  if ((await readLayers(client, repo, tag)).some((d) => isDuplicate(d, p.layer, opts.signer, ours.digest))) {
    return { ...result, unchanged: true };
  }
  await client.putBlob(repo, p.layer.payload);
  await client.appendToList(repo, tag, [ours], {
    parse: (m) => parseImageManifest(m.bytes).layers,
    // Ours survives when a layer with our payload and our signature is there, or an equivalent one.
    same: (a, b) => (a.digest === b.digest && a.annotations?.[ANNOTATION.signature] === b.annotations?.[ANNOTATION.signature]) || (b === ours && isDuplicate(a, p.layer, opts.signer, ours.digest)),
    // Concurrent signers upload identical blobs: the config depends only on the layer digests, and
    // the payload is the same for every key signing with the same annotations. The client uploads
    // them again if the registry cannot read one while another signer's upload of it commits.
    build: (layers) => {
      const built = buildLegacySignatureManifest(layers.map((descriptor) => ({ descriptor })), opts.dockerMediaTypes);
      return { bytes: built.manifest, mediaType: built.mediaType, blobs: [built.config, p.layer.payload] };
    },
  });
  return result;
}

/** The layers of a `.sig`/`.att` image, or none when the tag does not exist. */
export async function readLayers(client: Pick<RegistryClient, 'getManifest'>, repo: { registry: string; repository: string }, tag: string): Promise<Descriptor[]> {
  try {
    const m = await client.getManifest(repo, tag);
    return parseImageManifest(m.bytes).layers;
  } catch (e) {
    if (isSignetError(e, 'NOT_FOUND')) return [];
    throw e;
  }
}
