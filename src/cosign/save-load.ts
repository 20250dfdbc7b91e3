/**
 * `save` and `load`: an image with everything attached, in an OCI image layout. The layout is cosign's:
 * `index.json` lists the image (`kind: dev.cosignproject.cosign/image`, or `…/imageIndex` for an index)
 * and its `.sig`/`.att` images (`…/sigs`, `…/atts`), so cosign loads what Signet saves and the other way
 * round. What cosign's layout cannot say is added in entries cosign skips: the attachments of each
 * platform image and the `.sbom` image (`kind: dev.signet/attachment`, with the subject digest and the
 * attachment kind in annotations) and every OCI referrer (`kind: dev.signet/referrer`; a referrer names
 * its subject itself). The image entry also carries `org.opencontainers.image.ref.name` (the tag), by
 * which other OCI tools (skopeo's `oci:DIR:TAG`) pick it.
 *
 * `LayoutImageReader` serves a layout through the registry reader interface, so `verify --local-image`
 * runs the registry verifier unchanged.
 */
import { SignetError } from '../errors.js';
import { LayoutReader, LayoutWriter, parseReference, type ImageReader, type Manifest, type ReferrersResult, type Repo, type RegistryClient } from '../oci/index.js';
import { WIRE_MIN_BYTES, executeTransfer, planTransfer, registrySink, registrySource, repoOf, type AttachmentSuffix, type ExecuteOptions, type PlannedManifest, type SourceManifest, type TransferSink, type TransferSource, type TransferStats } from './copy.js';
import { attachmentTag, type Descriptor } from './storage.js';

export const KIND_ANNOTATION = 'kind';
export const KIND = {
  image: 'dev.cosignproject.cosign/image',
  imageIndex: 'dev.cosignproject.cosign/imageIndex',
  sigs: 'dev.cosignproject.cosign/sigs',
  atts: 'dev.cosignproject.cosign/atts',
  attachment: 'dev.signet/attachment',
  referrer: 'dev.signet/referrer',
} as const;
/** On `dev.signet/attachment` entries (and on cosign-kind ones, which cosign ignores): what and whose. */
export const SUBJECT_ANNOTATION = 'dev.signet.subject';
export const ATTACHMENT_ANNOTATION = 'dev.signet.attachment';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** An OCI layout read as a cosign-style signed image: its root, attachments by tag, and referrers. */
export class LayoutSource implements TransferSource {
  readonly name: string;
  readonly layout: LayoutReader;
  /** The image or index the layout holds. */
  readonly root: Descriptor;
  private readonly attachments = new Map<string, Descriptor>();

  private constructor(layout: LayoutReader, root: Descriptor) {
    this.layout = layout;
    this.name = `OCI layout ${layout.dir}`;
    this.root = root;
    for (const e of layout.entries) {
      const a = e.annotations ?? {};
      const kind = a[KIND_ANNOTATION];
      let suffix: string | undefined;
      let subject = a[SUBJECT_ANNOTATION];
      if (kind === KIND.sigs || kind === KIND.atts) {
        suffix = kind === KIND.sigs ? 'sig' : 'att';
        // cosign's own layouts say nothing more: its sigs and atts belong to the image.
        subject ??= root.digest;
      } else if (kind === KIND.attachment) {
        suffix = a[ATTACHMENT_ANNOTATION];
      }
      if (!suffix || !subject || !['sig', 'att', 'sbom'].includes(suffix) || !DIGEST_RE.test(subject)) continue;
      const tag = attachmentTag(subject, suffix as AttachmentSuffix);
      if (!this.attachments.has(tag)) this.attachments.set(tag, e);
    }
  }

  /** Open a layout and find its image: the entry cosign's kind marks, the one named `refName`, or the only one. */
  static async open(dir: string, refName?: string): Promise<LayoutSource> {
    const layout = await LayoutReader.open(dir);
    const kindOf = (e: Descriptor): string | undefined => e.annotations?.[KIND_ANNOTATION];
    let root: Descriptor | undefined;
    if (refName) root = layout.entries.find((e) => e.annotations?.[REF_NAME_ANNOTATION] === refName);
    root ??= layout.entries.find((e) => kindOf(e) === KIND.image || kindOf(e) === KIND.imageIndex);
    if (!root) {
      const plain = layout.entries.filter((e) => kindOf(e) === undefined);
      if (plain.length === 1) root = plain[0];
      else if (plain.length === 0) throw new SignetError('NOT_FOUND', `OCI layout ${dir} holds no image`);
      else throw new SignetError('USAGE', `OCI layout ${dir} holds ${plain.length} images and none is marked as the signed one`);
    }
    return new LayoutSource(layout, root);
  }

  private async entryFor(ref: string): Promise<Descriptor | undefined> {
    if (DIGEST_RE.test(ref) || /^sha(384|512):/.test(ref)) {
      if (!(await this.layout.hasBlob(ref))) return undefined;
      const listed = this.layout.entries.find((e) => e.digest === ref);
      return listed ?? { mediaType: '', digest: ref, size: 0 };
    }
    const attached = this.attachments.get(ref);
    if (attached) return attached;
    return this.layout.entries.find((e) => e.annotations?.[REF_NAME_ANNOTATION] === ref);
  }

  async manifest(ref: string): Promise<SourceManifest | null> {
    const e = await this.entryFor(ref);
    if (!e) return null;
    const m = await this.layout.manifest(e.digest, e.mediaType || undefined);
    return { bytes: m.bytes, digest: m.digest, mediaType: m.mediaType, json: m.json };
  }

  openBlob(digest: string): Promise<AsyncIterable<Uint8Array>> {
    return this.layout.openBlob(digest);
  }

  blobFile(digest: string): string {
    return this.layout.blobPath(digest);
  }

  hasBlob(digest: string): Promise<boolean> {
    return this.layout.hasBlob(digest);
  }

  referrers(subject: string): Promise<Descriptor[]> {
    return this.layout.referrers(subject);
  }
}

/**
 * A layout served through the registry reader interface (repositories are ignored: the layout holds
 * one image), for verifying with no registry.
 */
export class LayoutImageReader implements ImageReader {
  constructor(readonly source: LayoutSource) {}

  /** A reference the verifier can resolve back to the layout's image. */
  get reference(): string {
    return `oci-layout.local/image@${this.source.root.digest}`;
  }

  async headManifest(_repo: Repo, ref: string): Promise<{ mediaType: string; digest: string; size: number } | null> {
    const m = await this.source.manifest(ref);
    return m ? { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length } : null;
  }

  async getManifest(_repo: Repo, ref: string): Promise<Manifest> {
    const m = await this.source.manifest(ref);
    if (!m) throw new SignetError('NOT_FOUND', `${ref} is not in the ${this.source.name}`);
    return m;
  }

  getBlob(_repo: Repo, digest: string, opts: { maxBytes?: number } = {}): Promise<Buffer> {
    return this.source.layout.readBlob(digest, opts.maxBytes ?? 128 * 1024 * 1024);
  }

  async referrers(_repo: Repo, subject: string, opts: { artifactType?: string } = {}): Promise<ReferrersResult> {
    const all = await this.source.referrers(subject);
    return { manifests: opts.artifactType ? all.filter((d) => d.artifactType === opts.artifactType) : all, source: 'api' };
  }
}

/** A layout being written, as a transfer destination. */
function layoutSink(writer: LayoutWriter, root: Descriptor): TransferSink {
  const entry = (p: PlannedManifest, annotations: Record<string, string>): Descriptor => {
    const d: Descriptor = { mediaType: p.manifest.mediaType, digest: p.manifest.digest, size: p.manifest.bytes.length, annotations };
    if (typeof p.manifest.json.artifactType === 'string' && p.manifest.json.artifactType) d.artifactType = p.manifest.json.artifactType;
    return d;
  };
  return {
    name: writer.target,
    hasBlob: async (digest) => writer.hasBlob(digest),
    async putBlob(digest, source, size) {
      // Large blobs from a registry are read on the raw data path, into a few reused buffers.
      const wire = source.registry && (size ?? Infinity) > WIRE_MIN_BYTES ? await source.registry.client.openBlobWire(source.registry.repo, digest) : undefined;
      await writer.writeBlob(digest, wire ? wire.chunks() : await source.openBlob(digest), source.name);
      return 'uploaded';
    },
    tagDigest: async () => null,
    hasManifest: async (digest) => writer.hasBlob(digest),
    async putManifest(p) {
      await writer.writeBytes(p.manifest.bytes, p.manifest.digest);
      if (p.role === 'image') {
        const kind = p.manifest.json && Array.isArray(p.manifest.json.manifests) ? KIND.imageIndex : KIND.image;
        writer.addEntry(entry(p, { [KIND_ANNOTATION]: kind, ...(p.tag ? { [REF_NAME_ANNOTATION]: p.tag } : {}) }));
      } else if (p.role === 'sig' || p.role === 'att' || p.role === 'sbom') {
        const ofRoot = p.subject!.digest === root.digest && p.role !== 'sbom';
        const kind = ofRoot ? (p.role === 'sig' ? KIND.sigs : KIND.atts) : KIND.attachment;
        writer.addEntry(entry(p, { [KIND_ANNOTATION]: kind, [SUBJECT_ANNOTATION]: p.subject!.digest, [ATTACHMENT_ANNOTATION]: p.role }));
      }
    },
    referrerDigests: async () => new Set<string>(),
    async putReferrer(p) {
      await writer.writeBytes(p.manifest.bytes, p.manifest.digest);
      writer.addEntry(entry(p, { [KIND_ANNOTATION]: KIND.referrer, [SUBJECT_ANNOTATION]: p.subject!.digest }));
    },
  };
}

export interface SaveOptions extends ExecuteOptions {
  client: RegistryClient;
  image: string;
  dir: string;
}

/** `signet save --dir DIR IMAGE`: the layout appears whole at DIR, or not at all. */
export async function saveImage(opts: SaveOptions): Promise<TransferStats> {
  const ref = parseReference(opts.image);
  const source = registrySource(opts.client, ref);
  const plan = await planTransfer(source, ref.digest ?? ref.tag ?? 'latest', ref.tag ? { rootTag: ref.tag } : ref.digest ? {} : { rootTag: 'latest' });
  const writer = await LayoutWriter.create(opts.dir);
  try {
    const stats = await executeTransfer(plan, source, layoutSink(writer, plan.root), opts);
    await writer.commit();
    return stats;
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

export interface LoadOptions extends ExecuteOptions {
  client: RegistryClient;
  dir: string;
  /** Where the image goes: its tag (default `latest`), or a digest that must be the layout's. */
  image: string;
}

/** `signet load --dir DIR IMAGE`: every blob is checked against its digest before the registry commits it. */
export async function loadImage(opts: LoadOptions): Promise<TransferStats> {
  const dst = parseReference(opts.image);
  const source = await LayoutSource.open(opts.dir);
  if (dst.digest && dst.digest !== source.root.digest) throw new SignetError('USAGE', `${opts.image}: the layout's image is ${source.root.digest}`);
  const rootTag = dst.tag ?? (dst.digest ? undefined : 'latest');
  const plan = await planTransfer(source, source.root.digest, rootTag ? { rootTag } : {});
  return executeTransfer(plan, source, registrySink(opts.client, repoOf(dst)), opts);
}
