/**
 * `signet upload blob` / `upload wasm`, as cosign's: files pushed as single-layer OCI images (the file is
 * the layer, as is), so they can be signed and verified like any image. Several files, each with its
 * platform, become an image index. Every file is read and every manifest built before anything is
 * pushed; the tag is written last.
 */
import { SignetError } from '../errors.js';
import { MEDIA_TYPE, parseReference, repositoryName, type RegistryClient, type Repo } from '../oci/index.js';
import { sha256Digest } from './storage.js';

export const WASM_LAYER_MEDIA_TYPE = 'application/vnd.wasm.content.layer.v1+wasm';
export const WASM_CONFIG_MEDIA_TYPE = 'application/vnd.wasm.config.v1+json';

export interface Platform {
  os: string;
  architecture?: string;
  variant?: string;
}

export interface UploadFile {
  /** Shown in errors. */
  name: string;
  bytes: Buffer;
  platform?: Platform;
}

export interface UploadFilesOptions {
  client: RegistryClient;
  /** Where to push: a tag (default `latest`) or no tag. */
  image: string;
  files: UploadFile[];
  /** The layer media type (cosign's `--ct`); default: sniffed from the content, as Go's http.DetectContentType. */
  contentType?: string;
  /** The config media type (default OCI image config; wasm: cosign's wasm config type). */
  configMediaType?: string;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
}

/** cosign's `-f FILE[:os[/arch[/variant]]]`. A Windows drive letter is not a platform. */
export function parseFileFlag(value: string): { path: string; platform?: Platform } {
  const i = value.lastIndexOf(':');
  if (i <= 1) return { path: value };
  const [os, architecture, variant, ...rest] = value.slice(i + 1).split('/');
  if (!os || rest.length > 0 || [architecture, variant].some((p) => p === '')) throw new SignetError('USAGE', `-f ${value}: the platform is os[/arch[/variant]]`);
  return { path: value.slice(0, i), platform: { os, ...(architecture ? { architecture } : {}), ...(variant ? { variant } : {}) } };
}

/** The media type Go's http.DetectContentType gives the common kinds of file, without its parameters. */
export function sniffMediaType(b: Buffer): string {
  const starts = (sig: string | number[]): boolean => b.subarray(0, typeof sig === 'string' ? sig.length : sig.length).equals(typeof sig === 'string' ? Buffer.from(sig, 'latin1') : Buffer.from(sig));
  if (starts([0x00, 0x61, 0x73, 0x6d])) return 'application/wasm';
  if (starts([0x1f, 0x8b, 0x08])) return 'application/x-gzip';
  if (starts('PK\x03\x04')) return 'application/zip';
  if (starts('%PDF-')) return 'application/pdf';
  if (starts('\x89PNG\r\n\x1a\n')) return 'image/png';
  if (b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return 'application/x-tar';
  const head = b.subarray(0, 512);
  // Go: text when no byte of the first 512 is a control byte other than tab, LF, FF, CR and ESC.
  if (head.every((c) => c >= 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d || c === 0x1b)) {
    const text = head.toString('utf8').trimStart();
    if (/^<(!DOCTYPE HTML|html|head|body)/i.test(text)) return 'text/html';
    if (/^<\?xml/.test(text)) return 'text/xml';
    return 'text/plain';
  }
  return 'application/octet-stream';
}

function imageOf(file: UploadFile, layerMediaType: string, configMediaType: string, annotations?: Record<string, string>): { config: Buffer; manifest: Buffer } {
  const digest = sha256Digest(file.bytes);
  const config = Buffer.from(
    JSON.stringify({
      architecture: file.platform?.architecture ?? '',
      os: file.platform?.os ?? '',
      ...(file.platform?.variant ? { variant: file.platform.variant } : {}),
      config: {},
      rootfs: { type: 'layers', diff_ids: [digest] },
    }),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociManifest,
    config: { mediaType: configMediaType, size: config.length, digest: sha256Digest(config) },
    layers: [{ mediaType: layerMediaType, size: file.bytes.length, digest }],
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  return { config, manifest: Buffer.from(JSON.stringify(manifest)) };
}

/** Push the files; returns `repo@digest` of the image (one file) or the index (several). */
export async function uploadFiles(o: UploadFilesOptions): Promise<{ reference: string; digest: string; index: boolean }> {
  if (o.files.length === 0) throw new SignetError('USAGE', 'nothing to upload: pass -f FILE');
  if (o.files.length > 1) {
    const seen = new Set<string>();
    for (const f of o.files) {
      if (!f.platform) throw new SignetError('USAGE', `each file must include a unique platform, ${f.name} had no platform`);
      const key = `${f.platform.os}/${f.platform.architecture ?? ''}/${f.platform.variant ?? ''}`;
      if (seen.has(key)) throw new SignetError('USAGE', `each file must include a unique platform: ${f.name} repeats ${key.replace(/\/+$/, '')}`);
      seen.add(key);
    }
  }
  for (const f of o.files) if (f.bytes.length === 0) throw new SignetError('USAGE', `${f.name} is empty`);
  const ref = parseReference(o.image);
  if (ref.digest) throw new SignetError('USAGE', `${o.image}: upload to a tag, not a digest`);
  const repo: Repo = { registry: ref.registry, repository: ref.repository };
  const tag = ref.tag ?? 'latest';
  const configMediaType = o.configMediaType ?? MEDIA_TYPE.ociConfig;
  const images = o.files.map((f) => ({ file: f, ...imageOf(f, o.contentType ?? sniffMediaType(f.bytes), configMediaType, o.files.length === 1 ? o.annotations : undefined) }));
  const index =
    images.length > 1
      ? Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA_TYPE.ociIndex,
            manifests: images.map((i) => ({ mediaType: MEDIA_TYPE.ociManifest, size: i.manifest.length, digest: sha256Digest(i.manifest), platform: i.file.platform })),
            ...(o.annotations && Object.keys(o.annotations).length > 0 ? { annotations: o.annotations } : {}),
          }),
        )
      : undefined;
  for (const i of images) {
    await o.client.putBlob(repo, i.file.bytes);
    await o.client.putBlob(repo, i.config);
    if (index) await o.client.putManifest(repo, sha256Digest(i.manifest), i.manifest, MEDIA_TYPE.ociManifest);
  }
  const top = index ?? images[0]!.manifest;
  const digest = await o.client.putManifest(repo, tag, top, index ? MEDIA_TYPE.ociIndex : MEDIA_TYPE.ociManifest);
  return { reference: `${repositoryName(repo)}@${digest}`, digest, index: !!index };
}
