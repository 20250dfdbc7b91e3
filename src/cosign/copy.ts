/**
 * Moving a signed image with everything attached to it: the image (or index, every platform), cosign's
 * `.sig`/`.att`/`.sbom` images of it and of each platform image, and every OCI referrer (Sigstore
 * bundles, SBOMs, referrers of those) — cosign's copy drops the referrers. One engine serves `copy`
 * (registry to registry), `save` (registry to OCI layout) and `load` (layout to registry): a plan is read
 * from the source first, conflicts at the destination are refused before anything is written, then
 * blobs move (mounted across repositories of one registry, otherwise streamed in bounded chunks, never
 * held whole; skipped when the destination has them), then manifests, children before parents and
 * subjects before what refers to them.
 */
import { SignetError, isSignetError } from '../errors.js';
import { FilePieces, parseReference, RegistryHttpError, repositoryName, type Reference, type RegistryClient, type Repo } from '../oci/index.js';
import { DOCKER_MANIFEST_LIST, OCI_INDEX, attachmentTag, type Descriptor } from './storage.js';

/** A manifest as read from a source: bytes kept as received, digest checked. */
export interface SourceManifest {
  bytes: Buffer;
  digest: string;
  mediaType: string;
  json: any;
}

export type Role = 'image' | 'child' | 'sig' | 'att' | 'sbom' | 'referrer';
export type AttachmentSuffix = 'sig' | 'att' | 'sbom';

export interface PlannedManifest {
  manifest: SourceManifest;
  role: Role;
  /** The tag it goes under at the destination (the image's tag, or an attachment tag). */
  tag?: string;
  /** Attachments and referrers: the manifest they belong to. */
  subject?: Descriptor;
}

export interface TransferPlan {
  /** The image (or index) that was asked for. */
  root: Descriptor;
  manifests: PlannedManifest[];
  blobs: Map<string, number>;
}

/** Where a plan is read from: a registry repository or an OCI layout. */
export interface TransferSource {
  readonly name: string;
  /** A manifest by tag or digest; null when there is none. */
  manifest(ref: string): Promise<SourceManifest | null>;
  /** A blob's bytes as a stream (checked by the sink while it writes). */
  openBlob(digest: string): Promise<AsyncIterable<Uint8Array>>;
  referrers(subject: string): Promise<Descriptor[]>;
  /** Sources that can say cheaply whether they hold a blob (layouts) are checked before any write. */
  hasBlob?(digest: string): Promise<boolean>;
  /** A registry source, for cross-repository mounts and the raw data path. */
  readonly registry?: { client: RegistryClient; repo: Repo };
  /** A source holding blobs as files (a layout): the file of a blob it has, for uploads straight from it. */
  blobFile?(digest: string): string;
}

/** Where a plan is written: a registry repository or an OCI layout being built. */
export interface TransferSink {
  readonly name: string;
  hasBlob(digest: string): Promise<boolean>;
  /** `size`: the blob's size as its manifest gives it, when known. */
  putBlob(digest: string, source: TransferSource, size?: number): Promise<'mounted' | 'uploaded'>;
  /** The digest under `tag`, or null. */
  tagDigest(tag: string): Promise<string | null>;
  hasManifest(digest: string): Promise<boolean>;
  putManifest(p: PlannedManifest): Promise<void>;
  referrerDigests(subject: string): Promise<Set<string>>;
  putReferrer(p: PlannedManifest): Promise<void>;
  /** Many referrers at once (a registry folds each subject's index update into one); else one by one. */
  putReferrers?(ps: PlannedManifest[]): Promise<void>;
}

export interface TransferStats {
  root: Descriptor;
  blobsUploaded: number;
  blobsMounted: number;
  blobsSkipped: number;
  manifestsPushed: number;
  manifestsSkipped: number;
  signatures: number;
  attestations: number;
  sboms: number;
  referrers: number;
}

export interface PlanOptions {
  /** Only these attachments (cosign's --only); the image itself is then not moved. */
  only?: Array<AttachmentSuffix | 'referrer'>;
  /** `os/arch[/variant]`: from an index, move only this platform's image. */
  platform?: string;
  /** The tag the image gets at the destination. */
  rootTag?: string;
}

const FOREIGN_LAYERS = new Set(['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip']);
const SUFFIXES: AttachmentSuffix[] = ['sig', 'att', 'sbom'];
/** Referrers of referrers (a signed SBOM) are followed this deep. */
const REFERRER_DEPTH = 3;

export function isIndex(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

export function parseOnly(values: string[] | string | undefined): Array<AttachmentSuffix | 'referrer'> | undefined {
  if (values === undefined) return undefined;
  const list = (Array.isArray(values) ? values : [values]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  if (list.length === 0) return undefined;
  for (const v of list) {
    if (!['sig', 'att', 'sbom', 'referrer'].includes(v)) throw new SignetError('USAGE', `invalid value for --only: ${v} (sig, att, sbom or referrer)`);
  }
  return [...new Set(list)] as Array<AttachmentSuffix | 'referrer'>;
}

function parsePlatform(p: string): { os: string; architecture: string; variant?: string } {
  const parts = p.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => !x)) throw new SignetError('USAGE', `invalid --platform "${p}" (os/arch or os/arch/variant)`);
  return { os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) };
}

function descriptorOf(m: SourceManifest): Descriptor {
  return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
}

function checkDescriptors(list: unknown, where: string): Descriptor[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new SignetError('MALFORMED', `${where}: not a list of descriptors`);
  for (const d of list as Descriptor[]) {
    if (!d || typeof d.digest !== 'string' || !/^sha(256|384|512):[a-f0-9]+$/.test(d.digest) || typeof d.size !== 'number' || typeof d.mediaType !== 'string') {
      throw new SignetError('MALFORMED', `${where}: invalid descriptor ${JSON.stringify(d)?.slice(0, 200)}`);
    }
  }
  return list as Descriptor[];
}

/** Read everything to move from the source, without writing anything. */
export async function planTransfer(source: TransferSource, rootRef: string, opts: PlanOptions = {}): Promise<TransferPlan> {
  let root = await source.manifest(rootRef);
  if (!root) throw new SignetError('NOT_FOUND', `image ${rootRef} not found in ${source.name}`);
  if (opts.platform) {
    if (!isIndex(root.mediaType)) throw new SignetError('USAGE', `--platform: ${rootRef} is a single image, not an index`);
    const want = parsePlatform(opts.platform);
    const children = checkDescriptors(root.json.manifests, `index ${root.digest}`);
    const match = children.find((d) => d.platform?.os === want.os && d.platform?.architecture === want.architecture && (!want.variant || d.platform?.variant === want.variant));
    if (!match) throw new SignetError('NOT_FOUND', `${rootRef} has no image for platform ${opts.platform}`);
    root = await source.manifest(match.digest);
    if (!root) throw new SignetError('NOT_FOUND', `${source.name}: the image ${match.digest} for ${opts.platform} is missing`);
  }
  const wanted = new Set(opts.only ?? [...SUFFIXES, 'referrer']);
  const moveImage = opts.only === undefined;
  const manifests: PlannedManifest[] = [];
  const blobs = new Map<string, number>();
  const planned = new Set<string>();
  const add = (p: PlannedManifest): void => {
    const key = `${p.manifest.digest} ${p.tag ?? ''} ${p.role}`;
    if (planned.has(key)) return;
    planned.add(key);
    manifests.push(p);
  };

  /** A manifest's blobs, and for an index its child manifests (added before it). */
  const collect = async (m: SourceManifest, depth = 0): Promise<void> => {
    if (depth > 4) throw new SignetError('MALFORMED', `${source.name}: indexes nested too deep at ${m.digest}`);
    if (isIndex(m.mediaType) || Array.isArray(m.json.manifests)) {
      for (const d of checkDescriptors(m.json.manifests, `index ${m.digest}`)) {
        const child = await source.manifest(d.digest);
        if (!child) throw new SignetError('NOT_FOUND', `${source.name}: manifest ${d.digest} listed by ${m.digest} is missing`);
        await collect(child, depth + 1);
        add({ manifest: child, role: 'child' });
      }
      return;
    }
    const where = `manifest ${m.digest}`;
    const parts = [...(m.json.config ? checkDescriptors([m.json.config], where) : []), ...checkDescriptors(m.json.layers, where)];
    // Foreign (non-distributable) layers live elsewhere and are not pushed, as with docker and skopeo.
    for (const d of parts) if (!FOREIGN_LAYERS.has(d.mediaType)) blobs.set(d.digest, d.size);
  };

  const rootDesc = descriptorOf(root);
  if (moveImage) {
    await collect(root);
    add({ manifest: root, role: 'image', ...(opts.rootTag ? { tag: opts.rootTag } : {}) });
  }
  // Attachments hang off the image and, for an index, off each platform image (sign -r).
  const subjects: Descriptor[] = [rootDesc];
  if (isIndex(root.mediaType)) subjects.push(...checkDescriptors(root.json.manifests, `index ${root.digest}`).map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size })));
  for (const subject of subjects) {
    for (const suffix of SUFFIXES) {
      if (!wanted.has(suffix)) continue;
      const tag = attachmentTag(subject.digest, suffix);
      const m = await source.manifest(tag);
      if (!m) continue;
      await collect(m);
      add({ manifest: m, role: suffix, tag, subject });
    }
  }
  if (wanted.has('referrer')) {
    let level = subjects;
    for (let depth = 0; depth < REFERRER_DEPTH && level.length > 0; depth++) {
      const next: Descriptor[] = [];
      for (const subject of level) {
        for (const d of await source.referrers(subject.digest)) {
          const m = await source.manifest(d.digest);
          if (!m) throw new SignetError('NOT_FOUND', `${source.name}: referrer ${d.digest} of ${subject.digest} is missing`);
          if (m.json.subject?.digest !== subject.digest) continue;
          await collect(m);
          const p: PlannedManifest = { manifest: m, role: 'referrer', subject: { mediaType: String(m.json.subject.mediaType ?? subject.mediaType), digest: subject.digest, size: Number(m.json.subject.size ?? subject.size) } };
          if (planned.has(`${m.digest}  referrer`)) continue;
          add(p);
          next.push(descriptorOf(m));
        }
      }
      level = next;
    }
  }
  return { root: rootDesc, manifests, blobs };
}

/**
 * `fn` over `items`, at most `limit` at once. After a failure no new item starts, and the first error
 * is thrown only once every running call has settled (so a caller's clean-up never races a write).
 */
async function eachBounded<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed) {
      try {
        await fn(items[next++]!);
      } catch (e) {
        failed ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  if (failed) throw failed.error;
}

export interface ExecuteOptions {
  /** Overwrite destination tags that name something else (cosign's -f). */
  force?: boolean;
  /** Blobs moved at once (default 2: on loopback 2 moved 1 GiB as fast as 4, with ~55 MiB less peak RSS, bench:copy 2026-12-05). */
  concurrency?: number;
  onEvent?: (message: string) => void;
}

/**
 * Write a plan to a sink. Destination tags that already name other content are refused (all of them
 * checked before the first write) unless `force`; what the destination already has is skipped.
 */
export async function executeTransfer(plan: TransferPlan, source: TransferSource, sink: TransferSink, opts: ExecuteOptions = {}): Promise<TransferStats> {
  const say = opts.onEvent ?? (() => {});
  const stats: TransferStats = {
    root: plan.root,
    blobsUploaded: 0,
    blobsMounted: 0,
    blobsSkipped: 0,
    manifestsPushed: 0,
    manifestsSkipped: 0,
    signatures: 0,
    attestations: 0,
    sboms: 0,
    referrers: 0,
  };
  if (source.hasBlob) {
    for (const digest of plan.blobs.keys()) {
      if (!(await source.hasBlob(digest))) throw new SignetError('NOT_FOUND', `blob ${digest} is missing from the ${source.name}`);
    }
  }
  const tagState = new Map<string, string | null>();
  for (const p of plan.manifests) {
    if (!p.tag) continue;
    const current = await sink.tagDigest(p.tag);
    tagState.set(p.tag, current);
    if (current && current !== p.manifest.digest && !opts.force) {
      throw new SignetError('CONFLICT', `${sink.name}:${p.tag} already exists and is ${current}, not ${p.manifest.digest}: use -f to overwrite`);
    }
  }
  await eachBounded([...plan.blobs.keys()], opts.concurrency ?? 2, async (digest) => {
    if (await sink.hasBlob(digest)) {
      stats.blobsSkipped++;
      return;
    }
    const how = await sink.putBlob(digest, source, plan.blobs.get(digest));
    if (how === 'mounted') stats.blobsMounted++;
    else stats.blobsUploaded++;
  });
  for (const p of plan.manifests) {
    if (p.role === 'sig') stats.signatures++;
    else if (p.role === 'att') stats.attestations++;
    else if (p.role === 'sbom') stats.sboms++;
    else if (p.role === 'referrer') stats.referrers++;
    if (p.role === 'referrer') continue;
    const present = p.tag ? tagState.get(p.tag) === p.manifest.digest : await sink.hasManifest(p.manifest.digest);
    if (present) {
      stats.manifestsSkipped++;
      continue;
    }
    await sink.putManifest(p);
    stats.manifestsPushed++;
    if (p.tag) say(`Copied ${p.manifest.digest} to ${sink.name}:${p.tag}`);
  }
  // Referrers go in waves, each after the wave holding its subject. A wave goes to the sink in one
  // call: on a registry without the referrers API, each subject's fallback index then takes all of the
  // wave's additions in one read-modify-write (one re-check pause) instead of one per referrer.
  const referrersAt = new Map<string, Set<string>>();
  let pending = plan.manifests.filter((p) => p.role === 'referrer');
  while (pending.length > 0) {
    const waiting = new Set(pending.map((p) => p.manifest.digest));
    const wave = pending.filter((p) => !waiting.has(p.subject!.digest));
    if (wave.length === 0) throw new SignetError('MALFORMED', `${source.name}: referrers form a cycle`);
    pending = pending.filter((p) => !wave.includes(p));
    const subjects = [...new Set(wave.map((p) => p.subject!.digest))].filter((s) => !referrersAt.has(s));
    await eachBounded(subjects, 8, async (s) => void referrersAt.set(s, await sink.referrerDigests(s)));
    const todo: PlannedManifest[] = [];
    for (const p of wave) {
      const present = referrersAt.get(p.subject!.digest)!;
      if (present.has(p.manifest.digest)) {
        stats.manifestsSkipped++;
        continue;
      }
      present.add(p.manifest.digest);
      todo.push(p);
    }
    if (todo.length === 0) continue;
    if (sink.putReferrers) await sink.putReferrers(todo);
    else await eachBounded(todo, 16, (p) => sink.putReferrer(p));
    stats.manifestsPushed += todo.length;
  }
  return stats;
}

/** A registry repository as a source. */
export function registrySource(client: RegistryClient, repo: Repo): TransferSource {
  const name = repositoryName(repo);
  return {
    name,
    registry: { client, repo },
    async manifest(ref) {
      try {
        const m = await client.getManifest(repo, ref);
        return { bytes: m.bytes, digest: m.digest, mediaType: m.mediaType, json: m.json };
      } catch (e) {
        if (isSignetError(e, 'NOT_FOUND')) return null;
        throw e;
      }
    },
    async openBlob(digest) {
      return (await client.openBlob(repo, digest)).stream;
    },
    async referrers(subject) {
      return (await client.referrers(repo, subject)).manifests;
    },
  };
}

/** Blobs larger than this go on the raw data path (smaller: one monolithic PUT through fetch). */
export const WIRE_MIN_BYTES = 1024 * 1024;

/** Extra attempts at a streamed blob upload (a streamed PATCH is sent once; the blob starts over from a fresh source). */
const BLOB_ATTEMPTS = 3;

/** A dropped or refused connection, or a 429/5xx answer: worth starting the blob over. Not timeouts, digest mismatches or refusals. */
function blobRetryable(e: unknown): boolean {
  if (e instanceof RegistryHttpError) return e.status === 429 || e.status >= 500;
  return isSignetError(e, 'NETWORK');
}

/** A registry repository as a destination: mounts from the same registry, streams otherwise. */
export function registrySink(client: RegistryClient, repo: Repo): TransferSink {
  const name = repositoryName(repo);
  return {
    name,
    hasBlob: (digest) => client.blobExists(repo, digest),
    async putBlob(digest, source, size) {
      const from = source.registry;
      if (from && from.repo.registry === repo.registry && from.repo.repository !== repo.repository) {
        // A mount needs the destination client to pull from the source repository: the same client.
        if (from.client === client && (await client.mountBlob(repo, digest, from.repo))) return 'mounted';
      }
      // The transport retries buffered requests itself; a streamed one cannot be replayed, so the
      // whole blob starts over, read again from the source.
      for (let attempt = 1; ; attempt++) {
        try {
          // Blobs above a chunk go on the raw data path (fixed buffers, no garbage per chunk); small
          // ones, and sources it hands back (a token to renew, an error to report), through fetch.
          if ((size ?? Infinity) > WIRE_MIN_BYTES) {
            if (from && (await client.copyBlob(from, repo, digest, source.name))) return 'uploaded';
            if (source.blobFile && (await client.putBlobPieces(repo, digest, new FilePieces(source.blobFile(digest), `blob ${digest} of the ${source.name}`), source.name))) return 'uploaded';
          }
          await client.putBlobStream(repo, digest, await source.openBlob(digest), source.name);
          return 'uploaded';
        } catch (e) {
          if (attempt >= BLOB_ATTEMPTS || !blobRetryable(e)) throw e;
          await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
        }
      }
    },
    async tagDigest(tag) {
      return (await client.headManifest(repo, tag))?.digest ?? null;
    },
    async hasManifest(digest) {
      return (await client.headManifest(repo, digest)) !== null;
    },
    async putManifest(p) {
      await client.putManifest(repo, p.tag ?? p.manifest.digest, p.manifest.bytes, p.manifest.mediaType);
    },
    async referrerDigests(subject) {
      return new Set((await client.referrers(repo, subject)).manifests.map((d) => d.digest));
    },
    async putReferrer(p) {
      await client.pushReferrer(repo, p.manifest.bytes, p.manifest.mediaType, p.subject!);
    },
    async putReferrers(ps) {
      await client.pushReferrers(
        repo,
        ps.map((p) => ({ bytes: p.manifest.bytes, mediaType: p.manifest.mediaType, subject: p.subject! })),
      );
    },
  };
}

export interface CopyOptions extends PlanOptions, ExecuteOptions {
  client: RegistryClient;
  source: string;
  destination: string;
}

/**
 * `signet copy SRC DST`: the image and everything attached. DST's tag (or SRC's, or none when SRC is a
 * digest and DST names no tag) is where the image goes; a DST digest must be SRC's.
 */
export async function copyImage(opts: CopyOptions): Promise<TransferStats> {
  const src = parseReference(opts.source);
  const dst = parseReference(opts.destination);
  const srcRef = src.digest ?? src.tag ?? 'latest';
  if (src.registry === dst.registry && src.repository === dst.repository && (dst.tag ?? src.tag) === src.tag && (!dst.digest || dst.digest === src.digest)) {
    throw new SignetError('USAGE', `source and destination are the same: ${opts.source}`);
  }
  const rootTag = dst.tag ?? (dst.digest ? undefined : src.tag);
  const source = registrySource(opts.client, src);
  const plan = await planTransfer(source, srcRef, { ...opts, ...(rootTag ? { rootTag } : {}) });
  if (dst.digest && dst.digest !== plan.root.digest) throw new SignetError('USAGE', `destination digest ${dst.digest} is not the source's ${plan.root.digest}`);
  return executeTransfer(plan, source, registrySink(opts.client, repoOf(dst)), opts);
}

export function repoOf(r: Reference): Repo {
  return { registry: r.registry, repository: r.repository };
}
