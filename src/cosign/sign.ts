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
import { parseSimpleSigningPayload, simpleSigningPayload, SIMPLE_SIGNING_MEDIA_TYPE } from './payload.js';
import {
  ANNOTATION,
  attachmentTag,
  buildBundleReferrerManifest,
  buildExperimentalSignatureReferrer,
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
import { requestTimestamp, type TsaTlsOptions } from '../sigstore/tsa-client.js';
import { encodePem } from '../keys/index.js';
import { certificatesPem, timestampJson } from './pki.js';
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
  /**
   * --registry-referrers-mode. With `oci-1-1` the legacy format is pushed as cosign's experimental
   * OCI 1.1 referrer (`application/vnd.dev.cosign.artifact.sig.v1+json`, one per signature) instead
   * of a layer of the `.sig` tag; bundles are referrers in either mode.
   */
  referrersMode?: 'legacy' | 'oci-1-1';
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
  /** Keyed: RFC 3161 timestamp authorities (full URLs) to timestamp every signature with. */
  timestampUrls?: string[];
  /** TLS settings for https timestamp authorities. */
  timestampTls?: TsaTlsOptions;
  /**
   * Keyed: the key's certificate from the organisation's CA (DER; the caller checks it certifies the
   * key) and its chain, issuer first (DER). Bundles carry the certificate, log entries name it, and the
   * legacy format stores both in cosign's certificate and chain annotations.
   */
  certificate?: Buffer;
  chain?: Buffer[];
  /**
   * false (`--upload=false`): sign (and log and timestamp) as usual but push nothing; the results
   * carry what would have been pushed (`SignedImage.material`). Default true.
   */
  upload?: boolean;
  /**
   * cosign's `sign --payload`: sign these bytes instead of the generated simple-signing payload
   * (legacy format only, one image; a simple-signing payload must name the image's digest).
   */
  payload?: Buffer;
}

/** What a signature consists of, for `--output-payload`/`--output-signature`/`--output-certificate`/`--bundle`. */
export interface SignatureMaterial {
  /** The signed payload: the in-toto statement (bundle format) or the simple-signing payload (legacy). */
  payload: Buffer;
  /** Raw signature bytes: over the DSSE PAE of the payload (bundle format) or over the payload (legacy). */
  signature: Buffer;
  /** The Sigstore bundle (bundle format), or cosign's LocalSignedPayload JSON (legacy). */
  bundle: Buffer;
  /** The signing certificate (keyless, or `--certificate`), PEM. */
  certificatePem?: string;
}

export interface SignedImage {
  input: string;
  digest: string;
  format: 'bundle' | 'legacy';
  /** Where the signature now lives: the referrer manifest digest or the `.sig` tag. */
  location: string;
  /** True when an identical legacy signature was already present. */
  unchanged?: boolean;
  /** The signature's parts (always set by signImages). */
  material?: SignatureMaterial;
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
  if (opts.payload && newFormat) throw new SignetError('USAGE', '--payload signs a payload of your own in the legacy .sig format: add --new-bundle-format=false');
  if (opts.payload && targets.length !== 1) throw new SignetError('USAGE', `--payload signs one image, but ${targets.length} were given (or found with --recursive)`);
  if (!newFormat && tlogs.length > 1) throw new SignetError('USAGE', 'the legacy .sig format holds one log entry per signature, but the signing config selects several logs');
  // Sign and log everything first: a failure here must not leave some images signed and others not.
  const prepared: Prepared[] = await mapBounded(targets, opts.maxWorkers ?? 8, async (target) => {
    const p = newFormat ? await prepareBundle(opts, target) : await prepareLegacy(opts, target);
    if (tlogs.length > 0) for (const index of logIndices(p)) say(`tlog entry created with index: ${index}`);
    return p;
  });
  if (opts.upload === false) {
    return prepared.map((p) => ({
      input: p.target.input,
      digest: p.target.subject.digest,
      format: p.kind,
      location: '(not uploaded)',
      material: materialOf(opts, p),
    }));
  }
  // Push with bounded concurrency: many images in one call share connections and tokens.
  const results: SignedImage[] = new Array(prepared.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < prepared.length) {
      const i = next++;
      const p = prepared[i]!;
      const pushed = p.kind === 'bundle' ? await pushBundle(opts.client, p) : opts.referrersMode === 'oci-1-1' ? await pushExperimentalReferrer(opts.client, p) : await appendLegacy(opts, p);
      results[i] = { ...pushed, material: materialOf(opts, p) };
      say(`Pushed signature for ${p.target.input} to ${results[i]!.location}`);
    }
  };
  // Most of a push is the re-check pause of appendToList (≥ 250 ms), which holds no connection: four
  // pushers per worker keep the registry as busy as before the pause existed.
  await Promise.all(Array.from({ length: Math.min((opts.maxWorkers ?? 8) * PUSHERS_PER_WORKER, prepared.length) }, worker));
  return results;
}

/** The parts of a prepared signature, as `--output-*` and `--bundle` write them. */
function materialOf(opts: SignImagesOptions, p: Prepared): SignatureMaterial {
  const certificatePem = opts.keyless ? opts.keyless.certificatePem : opts.certificate ? encodePem('CERTIFICATE', opts.certificate) : undefined;
  const cert = certificatePem ? { certificatePem } : {};
  if (p.kind === 'bundle') {
    const doc = JSON.parse(p.bundle.toString('utf8')) as { dsseEnvelope: { payload: string; signatures: Array<{ sig: string }> } };
    return { payload: Buffer.from(doc.dsseEnvelope.payload, 'base64'), signature: Buffer.from(doc.dsseEnvelope.signatures[0]!.sig, 'base64'), bundle: p.bundle, ...cert };
  }
  const a = p.layer.annotations;
  const signature = Buffer.from(a[ANNOTATION.signature]!, 'base64');
  // cosign's LocalSignedPayload (what `sign-blob --new-bundle-format=false --bundle` writes): `cert` is
  // base64 of the certificate PEM, or of the public key PEM.
  const rekorBundle = a[ANNOTATION.bundle] ? (JSON.parse(a[ANNOTATION.bundle]) as unknown) : undefined;
  const local = { base64Signature: a[ANNOTATION.signature], cert: Buffer.from(certificatePem ?? opts.signer.publicKey.pem).toString('base64'), ...(rekorBundle ? { rekorBundle } : {}) };
  return { payload: p.layer.payload, signature, bundle: Buffer.from(JSON.stringify(local)), ...cert };
}

/** Concurrent pushes per `maxWorkers`: a push mostly waits out appendToList's re-check pause. */
export const PUSHERS_PER_WORKER = 4;

/** The log indices of a prepared signature's entries (bundle tlogEntries, or the legacy Rekor bundle annotation), as cosign prints them. */
export function logIndices(p: Pick<PreparedBundle, 'kind' | 'bundle'> | { kind: 'legacy'; layer: Pick<LegacySignatureLayer, 'annotations'> }): string[] {
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
  const signature = envelope.signatures[0]!.sig;
  const [tlogEntries, rfc3161Timestamps] = await Promise.all([
    opts.tlog
      ? uploadToTlog(opts.tlog, {
          kind: 'dsse',
          envelopeJson: envelopeToJSON(envelope).toString('utf8'),
          pae: pae(envelope.payloadType, envelope.payload),
          signature,
          key: opts.signer.publicKey,
          ...(opts.certificate ? { certificate: opts.certificate } : {}),
        }).then((e) => [e])
      : Promise.resolve([]),
    keyedTimestamps(opts, signature),
  ]);
  const material = opts.certificate ? { certificate: opts.certificate } : { publicKeyHint: opts.signer.publicKey.hint };
  const bundle = buildDsseBundle({ envelope, ...material, tlogEntries, rfc3161Timestamps });
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

/**
 * cosign's `WriteSignaturesExperimentalOCI`: the payload and the config blob, then the `.sig`-shaped
 * manifest with the image as its subject (the referrers API, or the fallback index where allowed).
 */
async function pushExperimentalReferrer(client: RegistryClient, p: Extract<Prepared, { kind: 'legacy' }>): Promise<SignedImage> {
  const repo = p.target.signatureRepo;
  const built = buildExperimentalSignatureReferrer([{ descriptor: layerDescriptor(p.layer) }], p.target.subject);
  await client.putBlob(repo, p.layer.payload);
  await client.putBlob(repo, built.config);
  const digest = await client.pushReferrer(repo, built.manifest, OCI_MANIFEST, p.target.subject, { blobs: [built.config, p.layer.payload] });
  return { input: p.target.input, digest: p.target.subject.digest, format: 'legacy', location: `${repositoryName(repo)}@${digest}` };
}

async function prepareLegacy(opts: SignImagesOptions, target: Target): Promise<Prepared> {
  const payload = opts.payload ?? simpleSigningPayload(repositoryName(target.image), target.subject.digest, opts.annotations);
  if (opts.payload) checkPayloadNames(opts.payload, target);
  const signature = await opts.signer.sign(payload);
  const annotations: Record<string, string> = { [ANNOTATION.signature]: signature.toString('base64') };
  if (opts.keyless) {
    const ks = opts.keyless;
    annotations[ANNOTATION.certificate] = ks.certificatePem;
    annotations[ANNOTATION.chain] = ks.chainPem;
    // The TSA countersigns the raw signature bytes; cosign's annotation holds one timestamp.
    const tsa = ks.services.tsaUrls[0];
    const tls = ks.services.tsaTls;
    if (tsa) annotations[ANNOTATION.rfc3161] = timestampJson(await requestTimestamp(tsa, signature, tls ? { tls } : {}));
    const log = ks.services.tlogs[0];
    if (log) {
      const hashAlg = ks.signer.publicKey.hash ?? 'sha256';
      const proposed = hashedrekordV001({ hashAlg, digest: createHash(hashAlg).update(payload).digest(), signature, verifierPem: ks.certificatePem });
      const { entry } = await new RekorV1Client({ baseUrl: log.url }).createEntry(proposed);
      annotations[ANNOTATION.bundle] = rekorBundleAnnotation(entry);
    }
    return { kind: 'legacy', target, layer: { payload, mediaType: SIMPLE_SIGNING_MEDIA_TYPE, annotations } };
  }
  if (opts.certificate) {
    annotations[ANNOTATION.certificate] = encodePem('CERTIFICATE', opts.certificate);
    annotations[ANNOTATION.chain] = certificatesPem(opts.chain ?? []);
  }
  const [stamp] = await keyedTimestamps(opts, signature);
  if (stamp) annotations[ANNOTATION.rfc3161] = timestampJson(stamp);
  if (opts.tlog) {
    // cosign logs a hashedrekord over the payload digest; the key's own hash keeps non-P-256 keys verifiable.
    const hashAlg = opts.signer.publicKey.hash ?? 'sha256';
    const verifierPem = opts.certificate ? encodePem('CERTIFICATE', opts.certificate) : opts.signer.publicKey.pem;
    const proposed = hashedrekordV001({ hashAlg, digest: createHash(hashAlg).update(payload).digest(), signature, verifierPem });
    const { entry } = await new RekorV1Client({ baseUrl: opts.tlog.url }).createEntry(proposed);
    annotations[ANNOTATION.bundle] = rekorBundleAnnotation(entry);
  }
  return { kind: 'legacy', target, layer: { payload, mediaType: SIMPLE_SIGNING_MEDIA_TYPE, annotations } };
}

/** A simple-signing payload of one's own must be about the image being signed (other formats are signed as given, as cosign does). */
function checkPayloadNames(payload: Buffer, target: Target): void {
  let claimed: string | undefined;
  try {
    claimed = parseSimpleSigningPayload(payload).critical.image['docker-manifest-digest'];
  } catch {
    return;
  }
  if (claimed !== target.subject.digest) throw new SignetError('USAGE', `the payload is for ${claimed}, not for ${target.input} (${target.subject.digest})`);
}

/** Keyed: the signature timestamped by every configured TSA (none configured: none). */
function keyedTimestamps(opts: SignImagesOptions, signature: Buffer): Promise<Buffer[]> {
  return Promise.all((opts.timestampUrls ?? []).map((url) => requestTimestamp(url, signature, opts.timestampTls ? { tls: opts.timestampTls } : {})));
}

/**
 * cosign's DupeDetector: an existing layer with the same payload, media type and (apart from the
 * signature) annotations, whose signature verifies with our key, already says what we would add.
 */
function isDuplicate(existing: Descriptor, layer: LegacySignatureLayer, signer: Signer, payloadDigest: string): boolean {
  if (existing.digest !== payloadDigest || existing.mediaType !== layer.mediaType) return false;
  const a = existing.annotations ?? {};
  for (const [k, v] of Object.entries(layer.annotations)) {
    // The log bundle and the timestamp differ per request (a re-signed SET, a new time) while vouching for the same signature.
    if (k !== ANNOTATION.signature && k !== ANNOTATION.bundle && k !== ANNOTATION.rfc3161 && a[k] !== v) return false;
  }
  // An existing signature without the timestamp this one carries is not the same proof.
  if (layer.annotations[ANNOTATION.rfc3161] !== undefined && a[ANNOTATION.rfc3161] === undefined) return false;
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
