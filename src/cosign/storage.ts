/**
 * cosign's storage conventions in a registry, as pure functions over bytes:
 * - legacy: an OCI image manifest at tag `sha256-<hex>.sig`, one layer per signature, the signature
 *   and its proofs in layer annotations;
 * - v3: a Sigstore bundle as the single layer of an OCI 1.1 referrer manifest whose subject is the image.
 * Manifests are serialized in the field order go-containerregistry uses, so they look like cosign's.
 */
import { createHash } from 'node:crypto';
import { SignetError } from '../errors.js';
import { goEscape, sortedKeys } from './gojson.js';
import type { Descriptor } from '../oci/types.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const DSSE_ENVELOPE = 'application/vnd.dsse.envelope.v1+json';
/**
 * cosign's experimental OCI 1.1 signature referrer (`sign --registry-referrers-mode=oci-1-1` in the
 * legacy format): the `.sig` image's manifest with this as config media type and artifactType.
 */
export const COSIGN_SIG_ARTIFACT = 'application/vnd.dev.cosign.artifact.sig.v1+json';
/** The `{}` config blob every OCI artifact manifest points at. */
export const EMPTY_JSON = Buffer.from('{}');

export const ANNOTATION = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
  rfc3161: 'dev.sigstore.cosign/rfc3161timestamp',
  bundleContent: 'dev.sigstore.bundle.content',
  bundlePredicateType: 'dev.sigstore.bundle.predicateType',
  created: 'org.opencontainers.image.created',
} as const;

export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/** cosign refuses to read more than this many signature layers; we refuse to write past it. */
export const MAX_SIGNATURE_LAYERS = 1000;

/** OCI descriptors are the registry client's; re-exported for cosign's modules. */
export type { Descriptor } from '../oci/types.js';

export function sha256Digest(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

export function checkDigest(digest: string): { algorithm: string; hex: string } {
  const m = /^(sha256|sha384|sha512):([a-f0-9]+)$/.exec(digest);
  if (!m || m[2]!.length !== { sha256: 64, sha384: 96, sha512: 128 }[m[1] as 'sha256']) {
    throw new SignetError('MALFORMED', `"${digest}" is not a valid digest`);
  }
  return { algorithm: m[1]!, hex: m[2]! };
}

/** `sha256:abc…` → `sha256-abc….sig` (or `.att`, `.sbom`); no suffix gives the referrers fallback tag. */
export function attachmentTag(digest: string, suffix?: 'sig' | 'att' | 'sbom'): string {
  const { algorithm, hex } = checkDigest(digest);
  return `${algorithm}-${hex}` + (suffix ? `.${suffix}` : '');
}

function descriptorJson(d: Descriptor): Record<string, unknown> {
  // go-containerregistry's Descriptor field order.
  const o: Record<string, unknown> = { mediaType: d.mediaType, size: d.size, digest: d.digest };
  if (d.annotations && Object.keys(d.annotations).length > 0) o.annotations = sortedKeys(d.annotations);
  if (d.platform) o.platform = d.platform;
  if (d.artifactType) o.artifactType = d.artifactType;
  return o;
}

function serialize(doc: unknown): Buffer {
  return Buffer.from(goEscape(JSON.stringify(doc)), 'utf8');
}

/** One signature in a legacy `.sig` image: its payload blob and annotations. */
export interface LegacySignatureLayer {
  payload: Buffer;
  mediaType: string;
  annotations: Record<string, string>;
}

export interface BuiltManifest {
  manifest: Buffer;
  mediaType: string;
  config: Buffer;
  configDescriptor: Descriptor;
  layers: Descriptor[];
}

/**
 * The `.sig` image for these layers: ggcr's empty image with the layers appended (that is where the
 * config's zero times and one history entry per layer come from). `docker` switches to Docker media
 * types as COSIGN_DOCKER_MEDIA_TYPES does.
 */
export function buildLegacySignatureManifest(layers: Array<{ descriptor: Descriptor }>, docker = false): BuiltManifest {
  if (layers.length > MAX_SIGNATURE_LAYERS) {
    throw new SignetError('TOO_LARGE', `a signature image may hold at most ${MAX_SIGNATURE_LAYERS} signatures`);
  }
  const zero = '0001-01-01T00:00:00Z';
  const config = serialize({
    architecture: '',
    created: zero,
    history: layers.map(() => ({ created: zero })),
    os: '',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.descriptor.digest) },
    config: {},
  });
  const configDescriptor: Descriptor = { mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG, size: config.length, digest: sha256Digest(config) };
  const mediaType = docker ? DOCKER_MANIFEST : OCI_MANIFEST;
  const manifest = serialize({
    schemaVersion: 2,
    mediaType,
    config: descriptorJson(configDescriptor),
    layers: layers.map((l) => descriptorJson(l.descriptor)),
  });
  return { manifest, mediaType, config, configDescriptor, layers: layers.map((l) => l.descriptor) };
}

/**
 * The referrer cosign's `WriteSignaturesExperimentalOCI` pushes: the `.sig` image of these layers (the
 * same config blob), its config media type replaced by COSIGN_SIG_ARTIFACT, then the subject and the
 * top-level artifactType, in that field order (Go's v1.Manifest, then cosign's referrerManifest field).
 */
export function buildExperimentalSignatureReferrer(layers: Array<{ descriptor: Descriptor }>, subject: Descriptor): BuiltManifest {
  const legacy = buildLegacySignatureManifest(layers);
  const configDescriptor: Descriptor = { ...legacy.configDescriptor, mediaType: COSIGN_SIG_ARTIFACT };
  const manifest = serialize({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptorJson(configDescriptor),
    layers: layers.map((l) => descriptorJson(l.descriptor)),
    subject: descriptorJson({ mediaType: subject.mediaType, size: subject.size, digest: subject.digest }),
    artifactType: COSIGN_SIG_ARTIFACT,
  });
  return { manifest, mediaType: OCI_MANIFEST, config: legacy.config, configDescriptor, layers: legacy.layers };
}

export function layerDescriptor(layer: LegacySignatureLayer): Descriptor {
  return { mediaType: layer.mediaType, size: layer.payload.length, digest: sha256Digest(layer.payload), annotations: layer.annotations };
}

/** Parse a `.sig`/`.att` manifest into its layer descriptors, refusing anything that is not one. */
export function parseImageManifest(bytes: Buffer): { mediaType?: string; layers: Descriptor[]; config?: Descriptor; annotations?: Record<string, string>; subject?: Descriptor; artifactType?: string } {
  let doc: any;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', 'manifest is not JSON');
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.layers)) {
    throw new SignetError('MALFORMED', 'manifest has no layers list');
  }
  for (const l of doc.layers) {
    if (!l || typeof l.digest !== 'string' || typeof l.mediaType !== 'string' || typeof l.size !== 'number') {
      throw new SignetError('MALFORMED', 'manifest has a layer without mediaType, digest or size');
    }
    checkDigest(l.digest);
  }
  return doc;
}

/**
 * The OCI 1.1 referrer manifest that carries a Sigstore bundle, as cosign v3 writes it (the config
 * descriptor repeats the artifactType; `created` is RFC 3339 seconds in UTC).
 */
export function buildBundleReferrerManifest(args: {
  bundle: Buffer;
  subject: Descriptor;
  predicateType: string;
  content: 'dsse-envelope' | 'message-signature';
  created?: Date;
}): { manifest: Buffer; bundleDescriptor: Descriptor; configDescriptor: Descriptor; annotations: Record<string, string> } {
  const created = (args.created ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const configDescriptor: Descriptor = { mediaType: OCI_EMPTY, size: EMPTY_JSON.length, digest: sha256Digest(EMPTY_JSON), artifactType: BUNDLE_V03 };
  const bundleDescriptor: Descriptor = { mediaType: BUNDLE_V03, size: args.bundle.length, digest: sha256Digest(args.bundle) };
  const annotations = {
    [ANNOTATION.bundleContent]: args.content,
    [ANNOTATION.bundlePredicateType]: args.predicateType,
    [ANNOTATION.created]: created,
  };
  const subject: Descriptor = { mediaType: args.subject.mediaType, size: args.subject.size, digest: args.subject.digest };
  const manifest = serialize({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptorJson(configDescriptor),
    layers: [descriptorJson(bundleDescriptor)],
    annotations: sortedKeys(annotations),
    subject: descriptorJson(subject),
    artifactType: BUNDLE_V03,
  });
  return { manifest, bundleDescriptor, configDescriptor, annotations };
}

export function isBundleMediaType(mt: string | undefined): boolean {
  return typeof mt === 'string' && mt.startsWith('application/vnd.dev.sigstore.bundle');
}
