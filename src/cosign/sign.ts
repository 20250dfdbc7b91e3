/**
 * `signet sign`: sign image manifests with a key, in cosign v3's bundle format (an OCI 1.1 referrer)
 * or cosign's legacy `.sig` format. Every signature is made before anything is pushed, so a failing
 * command leaves the registry as it was; legacy appends re-read after writing so that concurrent
 * signers do not drop each other's signatures (cosign issue #2432).
 */
import { isSignetError, SignetError } from '../errors.js';
import type { Signer } from '../keys/index.js';
import { repositoryName, type RegistryClient } from '../oci/index.js';
import { buildDsseBundle, buildImageStatement, IN_TOTO_PAYLOAD_TYPE, signDsse } from '../sigstore/index.js';
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
import { verifySignature } from '../keys/index.js';

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

type Prepared =
  | { kind: 'bundle'; target: Target; bundle: Buffer; manifest: Buffer; bundleDescriptor: Descriptor }
  | { kind: 'legacy'; target: Target; layer: LegacySignatureLayer };

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
  // Sign everything first: a failure here must not leave some images signed and others not.
  const prepared: Prepared[] = targets.map((target) => (newFormat ? prepareBundle(opts, target) : prepareLegacy(opts, target)));
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
  await Promise.all(Array.from({ length: Math.min(opts.maxWorkers ?? 8, prepared.length) }, worker));
  return results;
}

function prepareBundle(opts: SignImagesOptions, target: Target): Prepared {
  const hex = target.subject.digest.replace(/^sha256:/, '');
  if (!target.subject.digest.startsWith('sha256:')) {
    throw new SignetError('USAGE', `cannot sign ${target.subject.digest}: only sha256 image digests can be signed`);
  }
  const statement = buildImageStatement(hex, opts.annotations ?? {});
  const envelope = signDsse(opts.signer, IN_TOTO_PAYLOAD_TYPE, statement);
  const bundle = buildDsseBundle({ envelope, publicKeyHint: opts.signer.publicKey.hint });
  const { manifest, bundleDescriptor } = buildBundleReferrerManifest({ bundle, subject: target.subject, predicateType: COSIGN_SIGN_PREDICATE, content: 'dsse-envelope' });
  return { kind: 'bundle', target, bundle, manifest, bundleDescriptor };
}

async function pushBundle(client: RegistryClient, p: Extract<Prepared, { kind: 'bundle' }>): Promise<SignedImage> {
  const repo = p.target.signatureRepo;
  await client.putBlob(repo, EMPTY_JSON);
  await client.putBlob(repo, p.bundle);
  const digest = await client.pushReferrer(repo, p.manifest, OCI_MANIFEST, p.target.subject);
  return { input: p.target.input, digest: p.target.subject.digest, format: 'bundle', location: `${repositoryName(repo)}@${digest}` };
}

function prepareLegacy(opts: SignImagesOptions, target: Target): Prepared {
  const payload = simpleSigningPayload(repositoryName(target.image), target.subject.digest, opts.annotations);
  const signature = opts.signer.sign(payload);
  return {
    kind: 'legacy',
    target,
    layer: { payload, mediaType: SIMPLE_SIGNING_MEDIA_TYPE, annotations: { [ANNOTATION.signature]: signature.toString('base64') } },
  };
}

/**
 * cosign's DupeDetector: an existing layer with the same payload, media type and (apart from the
 * signature) annotations, whose signature verifies with our key, already says what we would add.
 */
function isDuplicate(existing: Descriptor, layer: LegacySignatureLayer, signer: Signer, payloadDigest: string): boolean {
  if (existing.digest !== payloadDigest || existing.mediaType !== layer.mediaType) return false;
  const a = existing.annotations ?? {};
  for (const [k, v] of Object.entries(layer.annotations)) {
    if (k !== ANNOTATION.signature && a[k] !== v) return false;
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
    build: async (layers) => {
      const built = buildLegacySignatureManifest(layers.map((descriptor) => ({ descriptor })), opts.dockerMediaTypes);
      await client.putBlob(repo, built.config);
      return { bytes: built.manifest, mediaType: built.mediaType };
    },
  });
  return result;
}

/** The layers of a `.sig`/`.att` image, or none when the tag does not exist. */
export async function readLayers(client: RegistryClient, repo: { registry: string; repository: string }, tag: string): Promise<Descriptor[]> {
  try {
    const m = await client.getManifest(repo, tag);
    return parseImageManifest(m.bytes).layers;
  } catch (e) {
    if (isSignetError(e, 'NOT_FOUND')) return [];
    throw e;
  }
}
