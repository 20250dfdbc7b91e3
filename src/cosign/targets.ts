/**
 * Turning what the user typed into what gets signed or verified: tags resolve to digests (and the
 * user is told), `--recursive` expands an index into its platform images, and COSIGN_REPOSITORY
 * moves where signatures live.
 */
import { SignetError, isSignetError } from '../errors.js';
import { parseReference, repositoryName, type ImageReader, type Reference } from '../oci/index.js';
import { DOCKER_MANIFEST_LIST, OCI_INDEX, type Descriptor } from './storage.js';

export interface Target {
  /** What the user typed. */
  input: string;
  /** The image repository the signature is about. */
  image: Reference;
  /** Where signatures are stored (the image's repository unless COSIGN_REPOSITORY says otherwise). */
  signatureRepo: Reference;
  /** The manifest that is signed: its digest, media type and size (the referrer subject). */
  subject: Descriptor;
  /** True when the user gave a tag that we resolved. */
  resolvedFromTag: boolean;
}

export function signatureRepository(image: Reference, override?: string): Reference {
  if (!override) return { registry: image.registry, repository: image.repository };
  const r = parseReference(override.includes(':') || override.includes('@') ? override : override + ':latest');
  return { registry: r.registry, repository: r.repository };
}

/** Resolve one image argument to the manifest(s) it names. */
export async function resolveTargets(
  client: ImageReader,
  input: string,
  opts: { recursive?: boolean; signatureRepository?: string; get?: boolean },
): Promise<Target[]> {
  const ref = parseReference(input);
  const image: Reference = { registry: ref.registry, repository: ref.repository };
  const head = opts.get ? await getDescriptor(client, ref, ref.digest ?? ref.tag ?? 'latest') : await client.headManifest(ref, ref.digest ?? ref.tag ?? 'latest');
  if (!head) {
    throw new SignetError('NOT_FOUND', `image ${input} not found in ${repositoryName(ref)}`);
  }
  if (ref.digest && head.digest !== ref.digest) {
    throw new SignetError('VERIFICATION', `registry returned ${head.digest} for ${input}`);
  }
  const sigRepo = signatureRepository(image, opts.signatureRepository);
  const top: Target = { input, image, signatureRepo: sigRepo, subject: { mediaType: head.mediaType, digest: head.digest, size: head.size }, resolvedFromTag: !ref.digest };
  const targets = [top];
  if (opts.recursive && (head.mediaType === OCI_INDEX || head.mediaType === DOCKER_MANIFEST_LIST)) {
    const index = await client.getManifest(ref, head.digest);
    const manifests: unknown = index.json?.manifests;
    if (!Array.isArray(manifests)) throw new SignetError('MALFORMED', `index ${head.digest} has no manifests list`);
    for (const m of manifests as Descriptor[]) {
      if (typeof m?.digest !== 'string' || typeof m.mediaType !== 'string' || typeof m.size !== 'number') {
        throw new SignetError('MALFORMED', `index ${head.digest} has an entry without digest, mediaType or size`);
      }
      targets.push({ input: `${repositoryName(ref)}@${m.digest}`, image, signatureRepo: sigRepo, subject: { mediaType: m.mediaType, digest: m.digest, size: m.size }, resolvedFromTag: false });
    }
  }
  return targets;
}

/**
 * The manifest's descriptor from a GET rather than a HEAD (`get` above): docker-registry (distribution
 * 2.x) answers every HEAD with `Connection: close`, so a run over many images that HEADs each one
 * opens a TCP connection per image, while a GET of the small manifest keeps the connection. The
 * digest is then computed from the bytes (and checked against a digest reference).
 */
async function getDescriptor(client: ImageReader, repo: Reference, ref: string): Promise<{ mediaType: string; digest: string; size: number } | null> {
  try {
    const m = await client.getManifest(repo, ref);
    return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
  } catch (e) {
    if (isSignetError(e, 'NOT_FOUND')) return null;
    throw e;
  }
}
