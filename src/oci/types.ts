/** OCI descriptors, media types and digests shared by the registry client and its callers. */
import { createHash } from 'node:crypto';
import { SignetError } from '../errors.js';

export const MEDIA_TYPE = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

/** What a manifest GET accepts unless told otherwise: images and indexes, OCI and Docker. */
export const DEFAULT_MANIFEST_ACCEPT: readonly string[] = [
  MEDIA_TYPE.ociManifest,
  MEDIA_TYPE.ociIndex,
  MEDIA_TYPE.dockerManifest,
  MEDIA_TYPE.dockerManifestList,
];

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: Platform;
}

export function sha256Digest(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

/** Hash `bytes` with the algorithm named by `digest` (sha256/sha384/sha512). */
export function digestWithAlgorithmOf(digest: string, bytes: Uint8Array): string {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  if (!['sha256', 'sha384', 'sha512'].includes(algorithm)) throw new SignetError('MALFORMED', `unsupported digest algorithm in "${digest}"`);
  return `${algorithm}:` + createHash(algorithm).update(bytes).digest('hex');
}

/** Check a descriptor from a registry document; `where` names the document for the error line. */
export function parseDescriptor(v: unknown, where: string): Descriptor {
  const o = v as Record<string, unknown> | null;
  if (
    !o ||
    typeof o !== 'object' ||
    typeof o.mediaType !== 'string' ||
    typeof o.digest !== 'string' ||
    !/^(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/.test(o.digest) ||
    typeof o.size !== 'number' ||
    !Number.isSafeInteger(o.size) ||
    o.size < 0
  ) {
    throw new SignetError('MALFORMED', `${where}: invalid descriptor ${JSON.stringify(v)?.slice(0, 200)}`);
  }
  const d: Descriptor = { mediaType: o.mediaType, digest: o.digest, size: o.size };
  if (o.annotations !== undefined) {
    if (typeof o.annotations !== 'object' || o.annotations === null || Object.values(o.annotations).some((x) => typeof x !== 'string')) {
      throw new SignetError('MALFORMED', `${where}: annotations of ${o.digest} are not a string map`);
    }
    d.annotations = o.annotations as Record<string, string>;
  }
  if (typeof o.artifactType === 'string') d.artifactType = o.artifactType;
  if (o.platform && typeof o.platform === 'object') d.platform = o.platform as Platform;
  return d;
}
