/**
 * Signing in two steps and SBOMs, as cosign does them: `generate` prints the simple-signing payload for
 * an image, `attach signature` adds a signature made elsewhere (an HSM, openssl) to the image's `.sig`
 * image — appended with the same read-modify-write as `sign`, so concurrent writers keep each other's
 * signatures —, `attach sbom` stores an SBOM as the `.sbom` image (cosign's media types), and `download
 * sbom` reads it back.
 */
import { SignetError } from '../errors.js';
import { repositoryName, type RegistryClient } from '../oci/index.js';
import { parseSimpleSigningPayload, simpleSigningPayload, SIMPLE_SIGNING_MEDIA_TYPE } from './payload.js';
import { readLayers } from './sign.js';
import { ANNOTATION, attachmentTag, buildLegacySignatureManifest, layerDescriptor, parseImageManifest, sha256Digest, type Descriptor } from './storage.js';
import { resolveTargets } from './targets.js';

/** cosign's SBOM media types (pkg/types): by --type and the input's format. */
export const SBOM_MEDIA_TYPE = {
  spdx: 'text/spdx',
  spdxJson: 'spdx+json',
  cyclonedxJson: 'application/vnd.cyclonedx+json',
  cyclonedxXml: 'application/vnd.cyclonedx+xml',
  syft: 'application/vnd.syft+json',
} as const;

const MAX_SBOM_BYTES = 128 * 1024 * 1024;

/** `signet generate`: the exact payload `sign` would sign for this image (resolved to its digest). */
export async function generatePayload(client: RegistryClient, image: string, annotations?: Record<string, string>): Promise<{ digest: string; payload: Buffer }> {
  const [t] = await resolveTargets(client, image, {});
  return { digest: t!.subject.digest, payload: simpleSigningPayload(repositoryName(t!.image), t!.subject.digest, annotations) };
}

export interface AttachSignatureOptions {
  client: RegistryClient;
  image: string;
  /** The signed payload; default: the simple-signing payload `generate` prints for the image. */
  payload?: Buffer;
  /** Raw signature bytes. */
  signature: Buffer;
  certificate?: string;
  certificateChain?: string;
  signatureRepository?: string;
}

/** Decode a signature file: base64 text (cosign's form) or the raw bytes (what `openssl dgst -sign` writes). */
export function decodeSignatureFile(bytes: Buffer): Buffer {
  const text = bytes.toString('latin1').trim();
  if (text.length > 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(text.replace(/\s+/g, '')) && text.replace(/\s+/g, '').length % 4 === 0) {
    return Buffer.from(text.replace(/\s+/g, ''), 'base64');
  }
  if (bytes.length === 0) throw new SignetError('USAGE', 'the signature file is empty');
  return bytes;
}

/** `signet attach signature`: returns where the signature now lives (`repo:sha256-….sig`). */
export async function attachSignature(opts: AttachSignatureOptions): Promise<{ digest: string; location: string; unchanged: boolean }> {
  const { client } = opts;
  if (opts.signature.length === 0) throw new SignetError('USAGE', 'the signature is empty');
  if (opts.certificateChain && !opts.certificate) throw new SignetError('USAGE', '--certificate-chain needs --certificate');
  const [t] = await resolveTargets(client, opts.image, { signatureRepository: opts.signatureRepository });
  const target = t!;
  const payload = opts.payload ?? simpleSigningPayload(repositoryName(target.image), target.subject.digest);
  let claimed: string | undefined;
  try {
    claimed = parseSimpleSigningPayload(payload).critical.image['docker-manifest-digest'];
  } catch {
    claimed = undefined; // another payload format: attached as given, as cosign does
  }
  if (claimed !== undefined && claimed !== target.subject.digest) {
    throw new SignetError('USAGE', `the payload is for ${claimed}, not for ${opts.image} (${target.subject.digest})`);
  }
  const annotations: Record<string, string> = { [ANNOTATION.signature]: opts.signature.toString('base64') };
  if (opts.certificate) annotations[ANNOTATION.certificate] = opts.certificate;
  if (opts.certificateChain) annotations[ANNOTATION.chain] = opts.certificateChain;
  const ours = layerDescriptor({ payload, mediaType: SIMPLE_SIGNING_MEDIA_TYPE, annotations });
  const repo = target.signatureRepo;
  const tag = attachmentTag(target.subject.digest, 'sig');
  const location = `${repositoryName(repo)}:${tag}`;
  const same = (a: Descriptor, b: Descriptor): boolean => a.digest === b.digest && a.annotations?.[ANNOTATION.signature] === b.annotations?.[ANNOTATION.signature];
  if ((await readLayers(client, repo, tag)).some((d) => same(d, ours))) return { digest: target.subject.digest, location, unchanged: true };
  await client.putBlob(repo, payload);
  await client.appendToList(repo, tag, [ours], {
    parse: (m) => parseImageManifest(m.bytes).layers,
    same,
    build: (layers) => {
      const built = buildLegacySignatureManifest(layers.map((descriptor) => ({ descriptor })));
      return { bytes: built.manifest, mediaType: built.mediaType, blobs: [built.config, payload] };
    },
  });
  return { digest: target.subject.digest, location, unchanged: false };
}

/** cosign's choice of SBOM media type: `--type` and `--input-format`, or a sniff for JSON. */
export function sbomMediaType(bytes: Buffer, type = 'spdx', inputFormat?: string): string {
  const looksLikeJson = /^\s*[{[]/.test(bytes.subarray(0, 64).toString('utf8'));
  const format = inputFormat || undefined;
  switch (type) {
    case 'spdx':
      if (format && format !== 'json' && format !== 'text') throw new SignetError('USAGE', `invalid --input-format "${format}" for spdx (json or text)`);
      return format === 'json' || (!format && looksLikeJson) ? SBOM_MEDIA_TYPE.spdxJson : SBOM_MEDIA_TYPE.spdx;
    case 'cyclonedx':
      if (format && format !== 'json' && format !== 'xml') throw new SignetError('USAGE', `invalid --input-format "${format}" for cyclonedx (json or xml)`);
      return format === 'json' || (!format && looksLikeJson) ? SBOM_MEDIA_TYPE.cyclonedxJson : SBOM_MEDIA_TYPE.cyclonedxXml;
    case 'syft':
      if (format && format !== 'json') throw new SignetError('USAGE', `invalid --input-format "${format}" for syft (json)`);
      return SBOM_MEDIA_TYPE.syft;
    default:
      throw new SignetError('USAGE', `unknown SBOM --type "${type}" (spdx, cyclonedx or syft)`);
  }
}

export interface AttachSbomOptions {
  client: RegistryClient;
  image: string;
  sbom: Buffer;
  type?: string;
  inputFormat?: string;
  signatureRepository?: string;
}

/** `signet attach sbom`: the `.sbom` image (one layer, the SBOM), replacing an earlier one as cosign does. */
export async function attachSbom(opts: AttachSbomOptions): Promise<{ digest: string; location: string; mediaType: string }> {
  if (opts.sbom.length === 0) throw new SignetError('USAGE', 'the SBOM file is empty');
  const mediaType = sbomMediaType(opts.sbom, opts.type, opts.inputFormat);
  const [t] = await resolveTargets(opts.client, opts.image, { signatureRepository: opts.signatureRepository });
  const repo = t!.signatureRepo;
  const layer: Descriptor = { mediaType, size: opts.sbom.length, digest: sha256Digest(opts.sbom) };
  const built = buildLegacySignatureManifest([{ descriptor: layer }]);
  await opts.client.putBlob(repo, opts.sbom);
  await opts.client.putBlob(repo, built.config);
  const tag = attachmentTag(t!.subject.digest, 'sbom');
  await opts.client.putManifest(repo, tag, built.manifest, built.mediaType, { blobs: [built.config, opts.sbom] });
  return { digest: t!.subject.digest, location: `${repositoryName(repo)}:${tag}`, mediaType };
}

/** `signet download sbom`: each SBOM layer of the `.sbom` image with its media type. */
export async function downloadSboms(client: RegistryClient, image: string, signatureRepository?: string): Promise<Array<{ mediaType: string; bytes: Buffer }>> {
  const [t] = await resolveTargets(client, image, { signatureRepository });
  const repo = t!.signatureRepo;
  const layers = await readLayers(client, repo, attachmentTag(t!.subject.digest, 'sbom'));
  if (layers.length === 0) throw new SignetError('NOT_FOUND', `no SBOM attached to ${image} (${t!.subject.digest})`);
  const out: Array<{ mediaType: string; bytes: Buffer }> = [];
  for (const l of layers) out.push({ mediaType: l.mediaType, bytes: await client.getBlob(repo, l.digest, { maxBytes: MAX_SBOM_BYTES }) });
  return out;
}
