/**
 * Looking at and removing what is attached to an image: `triangulate`, `tree`, `download signature`,
 * `clean`. Both of cosign's storage formats are always considered.
 */
import { isSignetError, SignetError } from '../errors.js';
import { repositoryName, type Reference, type RegistryClient } from '../oci/index.js';
import { SIMPLE_SIGNING_MEDIA_TYPE } from './payload.js';
import { readLayers } from './sign.js';
import { ANNOTATION, attachmentTag, COSIGN_SIGN_PREDICATE, DOCKER_MANIFEST_LIST, OCI_INDEX, isBundleMediaType, parseImageManifest, type Descriptor } from './storage.js';
import { envelopeToJSON, parseEnvelope, parseStatement } from '../sigstore/index.js';
import { resolvePredicateType } from './predicate.js';
import { resolveTargets } from './targets.js';

export type AttachmentKind = 'signature' | 'attestation' | 'sbom';
const SUFFIX = { signature: 'sig', attestation: 'att', sbom: 'sbom' } as const;

/** `repo:sha256-<hex>.sig` (or `.att`, `.sbom`), or the digest reference itself with `digest`. */
export async function triangulate(client: RegistryClient, image: string, kind: AttachmentKind | 'digest', signatureRepository?: string): Promise<string> {
  const [t] = await resolveTargets(client, image, { signatureRepository });
  if (kind === 'digest') return `${repositoryName(t!.image)}@${t!.subject.digest}`;
  return `${repositoryName(t!.signatureRepo)}:${attachmentTag(t!.subject.digest, SUFFIX[kind])}`;
}

export interface AttachmentTree {
  image: string;
  digest: string;
  tags: Array<{ kind: AttachmentKind; tag: string; layers: Descriptor[] }>;
  referrers: Descriptor[];
  referrersSource: 'api' | 'tag';
}

export async function tree(client: RegistryClient, image: string, signatureRepository?: string): Promise<AttachmentTree> {
  const [t] = await resolveTargets(client, image, { signatureRepository });
  const repo = t!.signatureRepo;
  const kinds: AttachmentKind[] = ['signature', 'attestation', 'sbom'];
  const [tagLayers, referrers] = await Promise.all([
    Promise.all(kinds.map((k) => readLayers(client, repo, attachmentTag(t!.subject.digest, SUFFIX[k])))),
    client.referrers(repo, t!.subject.digest),
  ]);
  return {
    image: `${repositoryName(t!.image)}@${t!.subject.digest}`,
    digest: t!.subject.digest,
    tags: kinds
      .map((kind, i) => ({ kind, tag: `${repositoryName(repo)}:${attachmentTag(t!.subject.digest, SUFFIX[kind])}`, layers: tagLayers[i]! }))
      .filter((e) => e.layers.length > 0),
    referrers: referrers.manifests,
    referrersSource: referrers.source,
  };
}

/**
 * `download signature`: one JSON document per line. Bundles from referrers first (as stored), then
 * legacy signatures in cosign's SignedPayload shape.
 */
export async function downloadSignatures(client: RegistryClient, image: string, signatureRepository?: string): Promise<string[]> {
  const [t] = await resolveTargets(client, image, { signatureRepository });
  const repo = t!.signatureRepo;
  const lines: string[] = [];
  const { manifests } = await client.referrers(repo, t!.subject.digest);
  for (const d of manifests) {
    if (d.artifactType && !isBundleMediaType(d.artifactType)) continue;
    const m = parseImageManifest((await client.getManifest(repo, d.digest)).bytes);
    const layer = m.layers.find((l) => isBundleMediaType(l.mediaType));
    if (!layer) continue;
    const bytes = await client.getBlob(repo, layer.digest, { maxBytes: 16 * 1024 * 1024 });
    lines.push(bytes.toString('utf8').trim());
  }
  for (const layer of await readLayers(client, repo, attachmentTag(t!.subject.digest, 'sig'))) {
    if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    const payload = await client.getBlob(repo, layer.digest, { maxBytes: 4 * 1024 * 1024 });
    const a = layer.annotations ?? {};
    const bundle = a[ANNOTATION.bundle];
    lines.push(
      JSON.stringify({
        Base64Signature: a[ANNOTATION.signature] ?? '',
        Payload: payload.toString('base64'),
        Cert: a[ANNOTATION.certificate] || null,
        Chain: a[ANNOTATION.chain] || null,
        Bundle: bundle ? JSON.parse(bundle) : null,
        RFC3161Timestamp: a[ANNOTATION.rfc3161] ? JSON.parse(a[ANNOTATION.rfc3161]!) : null,
      }),
    );
  }
  return lines;
}

export type CleanType = AttachmentKind | 'referrer' | 'all';

/** Delete attached signatures/attestations/SBOMs and bundle referrers; returns what was removed. */
export async function clean(client: RegistryClient, image: string, type: CleanType, signatureRepository?: string): Promise<string[]> {
  const [t] = await resolveTargets(client, image, { signatureRepository });
  const repo: Reference = t!.signatureRepo;
  const removed: string[] = [];
  const kinds: AttachmentKind[] = type === 'all' ? ['signature', 'attestation', 'sbom'] : type === 'referrer' ? [] : [type];
  for (const kind of kinds) {
    const tag = attachmentTag(t!.subject.digest, SUFFIX[kind]);
    const head = await client.headManifest(repo, tag);
    if (!head) continue;
    await client.deleteManifest(repo, head.digest);
    removed.push(`${repositoryName(repo)}:${tag}`);
  }
  if (type === 'all' || type === 'referrer') {
    const { manifests, source } = await client.referrers(repo, t!.subject.digest);
    for (const d of manifests) {
      await deleteIgnoringMissing(client, repo, d.digest);
      removed.push(`${repositoryName(repo)}@${d.digest}`);
    }
    if (source === 'tag') {
      const fallback = await client.headManifest(repo, attachmentTag(t!.subject.digest));
      if (fallback) {
        await deleteIgnoringMissing(client, repo, fallback.digest);
        removed.push(`${repositoryName(repo)}:${attachmentTag(t!.subject.digest)}`);
      }
    }
  }
  return removed;
}

async function deleteIgnoringMissing(client: RegistryClient, repo: Reference, digest: string): Promise<void> {
  try {
    await client.deleteManifest(repo, digest);
  } catch (e) {
    if (!isSignetError(e, 'NOT_FOUND')) throw e;
  }
}

export function assertCleanType(v: string): CleanType {
  if (!['signature', 'attestation', 'sbom', 'referrer', 'all'].includes(v)) {
    throw new SignetError('USAGE', `unknown --type "${v}" (signature, attestation, sbom, referrer or all)`);
  }
  return v as CleanType;
}



/** `--platform os/arch[/variant]`: the image of that platform in an index (the reference itself when it is not an index). */
export async function platformImage(client: RegistryClient, image: string, platform: string): Promise<string> {
  const [os, arch, variant, ...rest] = platform.split('/');
  if (!os || !arch || rest.length > 0) throw new SignetError('USAGE', `--platform "${platform}" is not os/arch[/variant]`);
  const [top] = await resolveTargets(client, image, {});
  const pinned = `${repositoryName(top!.image)}@${top!.subject.digest}`;
  if (top!.subject.mediaType !== OCI_INDEX && top!.subject.mediaType !== DOCKER_MANIFEST_LIST) return pinned;
  const index = await client.getManifest(top!.image, top!.subject.digest);
  const entries = Array.isArray(index.json?.manifests) ? (index.json!.manifests as Descriptor[]) : [];
  const match = entries.find((d) => d?.platform?.os === os && d.platform.architecture === arch && (variant === undefined || d.platform.variant === variant));
  if (!match) throw new SignetError('NOT_FOUND', `no image for platform ${platform} in ${image}`);
  return `${repositoryName(top!.image)}@${match.digest}`;
}

/**
 * `download attestation`: one JSON document per line — bundles from referrers (as stored, signatures
 * left out), then each `.att` envelope in cosign's shape ({payloadType, payload, signatures}) —
 * only those of `predicateType` when given.
 */
export async function downloadAttestations(client: RegistryClient, image: string, opts: { predicateType?: string; signatureRepository?: string } = {}): Promise<string[]> {
  const wanted = opts.predicateType ? resolvePredicateType(opts.predicateType) : undefined;
  const [t] = await resolveTargets(client, image, { signatureRepository: opts.signatureRepository });
  const repo = t!.signatureRepo;
  const lines: string[] = [];
  const { manifests } = await client.referrers(repo, t!.subject.digest);
  for (const d of manifests) {
    if (d.artifactType && !isBundleMediaType(d.artifactType)) continue;
    const m = parseImageManifest((await client.getManifest(repo, d.digest)).bytes);
    const type = m.annotations?.[ANNOTATION.bundlePredicateType] ?? d.annotations?.[ANNOTATION.bundlePredicateType];
    if (type === COSIGN_SIGN_PREDICATE || (wanted && type !== wanted)) continue;
    const layer = m.layers.find((l) => isBundleMediaType(l.mediaType));
    if (!layer) continue;
    lines.push((await client.getBlob(repo, layer.digest, { maxBytes: 16 * 1024 * 1024 })).toString('utf8').trim());
  }
  for (const layer of await readLayers(client, repo, attachmentTag(t!.subject.digest, 'att'))) {
    const bytes = await client.getBlob(repo, layer.digest, { maxBytes: 16 * 1024 * 1024 });
    let env;
    try {
      env = parseEnvelope(bytes, `attestation layer ${layer.digest}`);
    } catch (e) {
      throw new SignetError('MALFORMED', `${repositoryName(repo)}:${attachmentTag(t!.subject.digest, 'att')}: ${(e as Error).message}`, { cause: e });
    }
    if (wanted) {
      let type: string | undefined;
      try {
        type = parseStatement(env.payload).predicateType;
      } catch {
        type = undefined;
      }
      if (type !== wanted) continue;
    }
    lines.push(envelopeToJSON(env).toString('utf8'));
  }
  return lines;
}
