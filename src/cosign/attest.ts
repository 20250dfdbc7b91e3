/**
 * `signet attest`: in-toto attestations about images. The statement cosign generates (subject: the
 * image repository and its manifest digest, per platform with `recursive`) is signed as a DSSE envelope,
 * logged (a dsse entry) and, keyless, timestamped; then stored
 * - as a Sigstore bundle v0.3 referrer of the image with `dev.sigstore.bundle.predicateType` (default), or
 * - as a layer of the legacy `sha256-<hex>.att` image: the envelope JSON with media type
 *   `application/vnd.dsse.envelope.v1+json` and cosign's annotations (`predicateType`, an empty
 *   signature, certificate, chain, Rekor bundle, RFC 3161 timestamp). `replace` drops the layers of the
 *   same predicate type; concurrent attesters keep each other's layers (appendToList, as `.sig`).
 * Everything is signed and logged before anything is pushed, as `sign` does.
 */
import { SignetError } from '../errors.js';
import type { Signer } from '../keys/index.js';
import { repositoryName, type RegistryClient } from '../oci/index.js';
import { buildDsseBundle, envelopeToJSON, IN_TOTO_PAYLOAD_TYPE, pae, parseEnvelope, parseStatement, signDsse } from '../sigstore/index.js';
import { dsseV001, RekorV1Client, rekorBundleAnnotation, uploadToTlog, type TlogTarget } from '../sigstore/rekor-client.js';
import { timestampAndLog, type KeylessSigner } from '../sigstore/sign-keyless.js';
import { requestTimestamp } from '../sigstore/tsa-client.js';
import { buildAttestationStatement, resolvePredicateType } from './predicate.js';
import { logIndices, mapBounded, pushBundle, PUSHERS_PER_WORKER, readLayers, type PreparedBundle } from './sign.js';
import {
  ANNOTATION,
  attachmentTag,
  buildBundleReferrerManifest,
  buildLegacySignatureManifest,
  DSSE_ENVELOPE,
  layerDescriptor,
  parseImageManifest,
  type Descriptor,
  type LegacySignatureLayer,
} from './storage.js';
import { resolveTargets, type Target } from './targets.js';

/** The layer annotation cosign gives each `.att` envelope. */
export const PREDICATE_TYPE_ANNOTATION = 'predicateType';

export interface AttestImagesOptions {
  client: RegistryClient;
  signer: Signer;
  images: string[];
  /** The predicate file's bytes. */
  predicate: Buffer;
  /** `--type`: an alias or a URI (default custom). */
  type?: string;
  recursive?: boolean;
  /** cosign v3 default: true. False writes the legacy `.att` image. */
  newBundleFormat?: boolean;
  /** Legacy format: replace the layers of the same predicate type instead of adding beside them. */
  replace?: boolean;
  signatureRepository?: string;
  dockerMediaTypes?: boolean;
  maxWorkers?: number;
  onEvent?: (message: string) => void;
  /** Keyed: the log every attestation goes to before anything is pushed. */
  tlog?: TlogTarget;
  /** Keyless: `signer` must be `keyless.signer`; logs and TSAs come from `keyless.services`. */
  keyless?: KeylessSigner;
  /** The custom predicate's Timestamp (default now). */
  now?: Date;
}

export interface AttestedImage {
  input: string;
  digest: string;
  format: 'bundle' | 'legacy';
  predicateType: string;
  /** The referrer manifest (`repo@digest`) or the `.att` tag. */
  location: string;
  /** Legacy with `replace`: how many layers of the same predicate type were dropped. */
  replaced?: number;
  /** The signed statement, byte for byte. */
  statement: Buffer;
}

type Prepared = (PreparedBundle & { statement: Buffer }) | { kind: 'legacy'; target: Target; layer: LegacySignatureLayer; statement: Buffer };

export async function attestImages(opts: AttestImagesOptions): Promise<AttestedImage[]> {
  const say = opts.onEvent ?? (() => {});
  const newFormat = opts.newBundleFormat ?? true;
  const type = opts.type ?? 'custom';
  const predicateType = resolvePredicateType(type);
  if (opts.replace && newFormat) say('--replace applies to the legacy .att format only: new-format attestations are added as referrers');
  if (opts.keyless && opts.keyless.signer !== opts.signer) throw new SignetError('INTERNAL', 'keyless signing must sign with the certified ephemeral key');
  const tlogs = opts.keyless ? opts.keyless.services.tlogs : opts.tlog ? [opts.tlog] : [];
  if (!newFormat && tlogs.some((t) => t.majorApiVersion !== 1)) {
    throw new SignetError('USAGE', 'the legacy .att format records Rekor v1 bundles only: use --new-bundle-format or a Rekor v1 URL');
  }
  if (!newFormat && tlogs.length > 1) throw new SignetError('USAGE', 'the legacy .att format holds one log entry per attestation, but the signing config selects several logs');
  const targets: Target[] = [];
  for (const input of opts.images) {
    const resolved = await resolveTargets(opts.client, input, { recursive: opts.recursive, signatureRepository: opts.signatureRepository });
    if (resolved[0]!.resolvedFromTag) {
      say(`Resolved ${input} to ${repositoryName(resolved[0]!.image)}@${resolved[0]!.subject.digest}: attesting the digest, not the tag.`);
    }
    targets.push(...resolved);
  }
  // Every statement first: a bad predicate fails before anything is signed, logged or pushed.
  const now = opts.now ?? new Date();
  const statements = targets.map((t) => {
    if (!t.subject.digest.startsWith('sha256:')) throw new SignetError('USAGE', `cannot attest ${t.subject.digest}: only sha256 image digests can be attested`);
    return buildAttestationStatement({ type, predicate: opts.predicate, name: repositoryName(t.image), sha256Hex: t.subject.digest.slice(7), now });
  });
  const work = targets.map((target, i) => ({ target, statement: statements[i]! }));
  const prepared: Prepared[] = await mapBounded(work, opts.maxWorkers ?? 8, async ({ target, statement }) => {
    const p = newFormat ? await prepareBundle(opts, target, statement, predicateType) : await prepareLegacy(opts, target, statement, predicateType);
    for (const index of logIndices(p)) say(`tlog entry created with index: ${index}`);
    return p;
  });
  return mapBounded(prepared, (opts.maxWorkers ?? 8) * PUSHERS_PER_WORKER, async (p) => {
    const r: AttestedImage =
      p.kind === 'bundle'
        ? { ...(await pushBundle(opts.client, p)), predicateType, statement: p.statement, format: 'bundle' }
        : await appendLegacy(opts, p, predicateType);
    say(`Pushed attestation for ${p.target.input} to ${r.location}`);
    return r;
  });
}

async function prepareBundle(opts: AttestImagesOptions, target: Target, statement: Buffer, predicateType: string): Promise<Prepared> {
  const envelope = await signDsse(opts.signer, IN_TOTO_PAYLOAD_TYPE, statement);
  const signature = envelope.signatures[0]!.sig;
  const material = { kind: 'dsse' as const, envelopeJson: envelopeToJSON(envelope).toString('utf8'), pae: pae(envelope.payloadType, envelope.payload) };
  let bundle: Buffer;
  if (opts.keyless) {
    const ev = await timestampAndLog(opts.keyless, signature, material);
    bundle = buildDsseBundle({ envelope, certificate: opts.keyless.certificate, tlogEntries: ev.tlogEntries, rfc3161Timestamps: ev.timestamps });
  } else {
    const tlogEntries = opts.tlog ? [await uploadToTlog(opts.tlog, { ...material, signature, key: opts.signer.publicKey })] : [];
    bundle = buildDsseBundle({ envelope, publicKeyHint: opts.signer.publicKey.hint, tlogEntries });
  }
  const { manifest, bundleDescriptor } = buildBundleReferrerManifest({ bundle, subject: target.subject, predicateType, content: 'dsse-envelope' });
  return { kind: 'bundle', target, bundle, manifest, bundleDescriptor, statement };
}

async function prepareLegacy(opts: AttestImagesOptions, target: Target, statement: Buffer, predicateType: string): Promise<Prepared> {
  const envelope = await signDsse(opts.signer, IN_TOTO_PAYLOAD_TYPE, statement);
  const payload = envelopeToJSON(envelope);
  // cosign's static attestation layer: its signature annotation is present and empty (the signature is in the envelope).
  const annotations: Record<string, string> = { [PREDICATE_TYPE_ANNOTATION]: predicateType, [ANNOTATION.signature]: '' };
  let verifierPem = opts.signer.publicKey.pem;
  let log = opts.tlog;
  if (opts.keyless) {
    const ks = opts.keyless;
    annotations[ANNOTATION.certificate] = ks.certificatePem;
    annotations[ANNOTATION.chain] = ks.chainPem;
    verifierPem = ks.certificatePem;
    log = ks.services.tlogs[0];
    // cosign's verifier checks an attestation's timestamp against the stored envelope.
    const tsa = ks.services.tsaUrls[0];
    if (tsa) annotations[ANNOTATION.rfc3161] = JSON.stringify({ SignedRFC3161Timestamp: (await requestTimestamp(tsa, payload)).toString('base64') });
  }
  if (log) {
    const { entry } = await new RekorV1Client({ baseUrl: log.url }).createEntry(dsseV001({ envelopeJson: payload.toString('utf8'), verifierPems: [verifierPem] }));
    annotations[ANNOTATION.bundle] = rekorBundleAnnotation(entry);
  }
  return { kind: 'legacy', target, layer: { payload, mediaType: DSSE_ENVELOPE, annotations }, statement };
}

/** The predicate type of a `.att` layer: its annotation, else read from the envelope (cosign's ReplaceOp reads the payload). */
async function layerPredicateType(client: RegistryClient, repo: Target['signatureRepo'], layer: Descriptor, cache: Map<string, string | null>): Promise<string | null> {
  const annotated = layer.annotations?.[PREDICATE_TYPE_ANNOTATION];
  if (annotated) return annotated;
  if (cache.has(layer.digest)) return cache.get(layer.digest)!;
  let type: string | null = null;
  try {
    const env = parseEnvelope(await client.getBlob(repo, layer.digest, { maxBytes: MAX_ENVELOPE_BYTES }));
    type = parseStatement(env.payload).predicateType;
  } catch (e) {
    if (!(e instanceof SignetError) || e.code === 'TIMEOUT' || e.code === 'NETWORK') throw e;
  }
  cache.set(layer.digest, type);
  return type;
}

/** The most a `.att` layer (one envelope) may weigh when read. */
export const MAX_ENVELOPE_BYTES = 16 * 1024 * 1024;

async function appendLegacy(opts: AttestImagesOptions, p: Extract<Prepared, { kind: 'legacy' }>, predicateType: string): Promise<AttestedImage> {
  const { client } = opts;
  const repo = p.target.signatureRepo;
  const tag = attachmentTag(p.target.subject.digest, 'att');
  const location = `${repositoryName(repo)}:${tag}`;
  const ours = layerDescriptor(p.layer);
  const cache = new Map<string, string | null>();
  let replaced = 0;
  await client.putBlob(repo, p.layer.payload);
  await client.appendToList(repo, tag, [ours], {
    parse: (m) => parseImageManifest(m.bytes).layers,
    same: (a, b) => a.digest === b.digest,
    build: async (layers) => {
      let kept = layers;
      if (opts.replace) {
        const types = await Promise.all(layers.map((l) => (l.digest === ours.digest ? null : layerPredicateType(client, repo, l, cache))));
        kept = layers.filter((_, i) => types[i] !== predicateType);
        replaced = layers.length - kept.length;
      }
      const built = buildLegacySignatureManifest(kept.map((descriptor) => ({ descriptor })), opts.dockerMediaTypes);
      return { bytes: built.manifest, mediaType: built.mediaType, blobs: [built.config, p.layer.payload] };
    },
  });
  return { input: p.target.input, digest: p.target.subject.digest, format: 'legacy', predicateType, location, statement: p.statement, ...(opts.replace ? { replaced } : {}) };
}

/**
 * `attach attestation`: a DSSE envelope made elsewhere, added as a `.att` layer of each image as cosign
 * does (its predicate type annotated when the payload is an in-toto statement). Nothing is verified:
 * `verify-attestation` does that.
 */
export async function attachAttestations(opts: {
  client: RegistryClient;
  images: string[];
  envelopes: Buffer[];
  signatureRepository?: string;
  dockerMediaTypes?: boolean;
}): Promise<Array<{ input: string; digest: string; location: string }>> {
  const layers: LegacySignatureLayer[] = opts.envelopes.map((bytes, i) => {
    const env = parseEnvelope(bytes, `attestation ${i + 1}`);
    const annotations: Record<string, string> = { [ANNOTATION.signature]: '' };
    if (env.payloadType === IN_TOTO_PAYLOAD_TYPE) {
      try {
        annotations[PREDICATE_TYPE_ANNOTATION] = parseStatement(env.payload).predicateType;
      } catch {
        // not a statement: attached as it is, as cosign does
      }
    }
    return { payload: bytes, mediaType: DSSE_ENVELOPE, annotations };
  });
  const out: Array<{ input: string; digest: string; location: string }> = [];
  for (const input of opts.images) {
    const [target] = await resolveTargets(opts.client, input, { signatureRepository: opts.signatureRepository });
    const repo = target!.signatureRepo;
    const tag = attachmentTag(target!.subject.digest, 'att');
    for (const l of layers) await opts.client.putBlob(repo, l.payload);
    const descriptors = layers.map(layerDescriptor);
    await opts.client.appendToList(repo, tag, descriptors, {
      parse: (m) => parseImageManifest(m.bytes).layers,
      same: (a, b) => a.digest === b.digest,
      build: (all) => {
        const built = buildLegacySignatureManifest(all.map((descriptor) => ({ descriptor })), opts.dockerMediaTypes);
        return { bytes: built.manifest, mediaType: built.mediaType, blobs: [built.config, ...layers.map((l) => l.payload)] };
      },
    });
    out.push({ input, digest: target!.subject.digest, location: `${repositoryName(repo)}:${tag}` });
  }
  return out;
}

export { readLayers };
