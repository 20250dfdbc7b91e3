/**
 * OCI image layouts on disk (image-spec's `oci-layout`, `index.json`, `blobs/<alg>/<hex>`): a reader that
 * checks every blob against its digest as it is read, and a writer that builds the layout in a temporary
 * directory beside the target and renames it into place only when complete, so a crash or a refused
 * blob never leaves a layout that looks whole. What the entries of `index.json` mean (cosign's `kind`
 * annotations) is the caller's business.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs, constants as fsc } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SignetError } from '../errors.js';
import { ioError } from '../fsutil.js';
import { MEDIA_TYPE, digestWithAlgorithmOf, parseDescriptor, type Descriptor } from './types.js';

export const LAYOUT_FILE = 'oci-layout';
export const INDEX_FILE = 'index.json';
const LAYOUT_VERSION = '1.0.0';
/** index.json and manifests are small documents; a larger one is refused before it is parsed. */
const MAX_DOCUMENT = 4 * 1024 * 1024;

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/;

function blobRelPath(digest: string): string {
  if (!DIGEST_RE.test(digest)) throw new SignetError('MALFORMED', `"${digest}" is not a digest`);
  const i = digest.indexOf(':');
  return join('blobs', digest.slice(0, i), digest.slice(i + 1));
}

/** A manifest read from a layout, checked against its digest. */
export interface LayoutManifest {
  bytes: Buffer;
  digest: string;
  mediaType: string;
  json: any;
}

export class LayoutReader {
  readonly dir: string;
  /** The descriptors of index.json, in order. */
  readonly entries: Descriptor[];
  private readonly manifests = new Map<string, Promise<LayoutManifest>>();

  private constructor(dir: string, entries: Descriptor[]) {
    this.dir = dir;
    this.entries = entries;
  }

  /** Open a layout: `oci-layout` must name version 1.x, `index.json` must be an image index. */
  static async open(dir: string): Promise<LayoutReader> {
    let st;
    try {
      st = await fs.stat(dir);
    } catch (e) {
      throw ioError(`OCI layout ${dir}`, e);
    }
    if (!st.isDirectory()) throw new SignetError('IO', `OCI layout ${dir}: not a directory`);
    const layoutText = await readDocument(join(dir, LAYOUT_FILE), `${dir}: ${LAYOUT_FILE}`);
    const layout = parseJson(layoutText, `${dir}/${LAYOUT_FILE}`);
    if (typeof layout?.imageLayoutVersion !== 'string' || !/^1\./.test(layout.imageLayoutVersion)) {
      throw new SignetError('MALFORMED', `${dir}/${LAYOUT_FILE}: not an OCI image layout of version 1.x`);
    }
    const where = `${dir}/${INDEX_FILE}`;
    const index = parseJson(await readDocument(join(dir, INDEX_FILE), `${dir}: ${INDEX_FILE}`), where);
    if (!index || typeof index !== 'object' || Array.isArray(index) || !Array.isArray(index.manifests)) {
      throw new SignetError('MALFORMED', `${where} is not an image index (no "manifests" list)`);
    }
    const entries = (index.manifests as unknown[]).map((d) => parseDescriptor(d, where));
    return new LayoutReader(dir, entries);
  }

  blobPath(digest: string): string {
    return join(this.dir, blobRelPath(digest));
  }

  async hasBlob(digest: string): Promise<boolean> {
    try {
      return (await fs.stat(this.blobPath(digest))).isFile();
    } catch {
      return false;
    }
  }

  /** A whole blob (at most `max` bytes), refused unless it hashes to `digest`. */
  async readBlob(digest: string, max: number): Promise<Buffer> {
    const path = this.blobPath(digest);
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new SignetError('NOT_FOUND', `blob ${digest} is not in the OCI layout ${this.dir}`);
      throw ioError(`OCI layout ${this.dir}: blob ${digest}`, e);
    }
    let bytes: Buffer;
    try {
      const { size } = await fh.stat();
      if (size > max) throw new SignetError('TOO_LARGE', `blob ${digest} in ${this.dir} is ${size} bytes, more than the limit of ${max}`);
      bytes = await fh.readFile();
    } catch (e) {
      if (e instanceof SignetError) throw e;
      throw ioError(`OCI layout ${this.dir}: blob ${digest}`, e);
    } finally {
      await fh.close().catch(() => undefined);
    }
    const actual = digestWithAlgorithmOf(digest, bytes);
    if (actual !== digest) throw new SignetError('MALFORMED', `blob ${digest} in the OCI layout ${this.dir} has digest ${actual}: the layout is corrupt`);
    return bytes;
  }

  /**
   * A blob as a stream of chunks, unchecked: whoever consumes it hashes the bytes (the registry
   * client's putBlobStream and LayoutWriter.writeBlob both refuse a mismatch before committing).
   */
  async openBlob(digest: string): Promise<AsyncIterable<Uint8Array>> {
    const path = this.blobPath(digest);
    try {
      await fs.access(path, fsc.R_OK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new SignetError('NOT_FOUND', `blob ${digest} is not in the OCI layout ${this.dir}`);
      throw ioError(`OCI layout ${this.dir}: blob ${digest}`, e);
    }
    return createReadStream(path, { highWaterMark: 1024 * 1024 });
  }

  /** A manifest or index stored as a blob, checked against its digest (read once, then cached). */
  manifest(digest: string, mediaTypeHint?: string): Promise<LayoutManifest> {
    let p = this.manifests.get(digest);
    if (!p) {
      p = this.readBlob(digest, MAX_DOCUMENT).then((bytes) => {
        const json = parseJson(bytes, `manifest ${digest} in ${this.dir}`);
        if (!json || typeof json !== 'object' || Array.isArray(json)) throw new SignetError('MALFORMED', `manifest ${digest} in ${this.dir} is not a JSON object`);
        const mediaType = typeof json.mediaType === 'string' && json.mediaType ? json.mediaType : (mediaTypeHint ?? (Array.isArray(json.manifests) ? MEDIA_TYPE.ociIndex : MEDIA_TYPE.ociManifest));
        return { bytes, digest, mediaType, json };
      });
      this.manifests.set(digest, p);
      p.catch(() => this.manifests.delete(digest));
    }
    return p;
  }

  /**
   * The referrers of `subject` among the index.json entries: manifests whose `subject` names it,
   * described as the referrers API would (artifactType, annotations).
   */
  async referrers(subject: string): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    const seen = new Set<string>();
    for (const e of this.entries) {
      if (seen.has(e.digest) || (e.mediaType !== MEDIA_TYPE.ociManifest && e.mediaType !== MEDIA_TYPE.dockerManifest)) continue;
      seen.add(e.digest);
      const m = await this.manifest(e.digest, e.mediaType);
      if (m.json.subject?.digest !== subject) continue;
      const d: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
      const artifactType = typeof m.json.artifactType === 'string' && m.json.artifactType ? m.json.artifactType : m.json.config?.mediaType;
      if (typeof artifactType === 'string' && artifactType) d.artifactType = artifactType;
      if (m.json.annotations && typeof m.json.annotations === 'object' && Object.keys(m.json.annotations).length) d.annotations = m.json.annotations;
      out.push(d);
    }
    return out;
  }
}

/**
 * Builds a layout in `<parent>/.<name>.partial-<random>` and renames it to the target on `commit()`:
 * until then the target does not exist (or is the empty directory it was), so an interrupted save
 * leaves nothing that a reader would take for a layout. `abort()` removes the partial directory.
 */
export class LayoutWriter {
  readonly target: string;
  readonly tmp: string;
  private readonly written = new Set<string>();
  private readonly entries: Descriptor[] = [];

  private constructor(target: string, tmp: string) {
    this.target = target;
    this.tmp = tmp;
  }

  /** Refuses a target that exists unless it is an empty directory. */
  static async create(target: string): Promise<LayoutWriter> {
    const abs = resolve(target);
    await checkTarget(abs);
    const tmp = join(dirname(abs), `.${basename(abs)}.partial-${randomBytes(6).toString('hex')}`);
    try {
      await fs.mkdir(join(tmp, 'blobs', 'sha256'), { recursive: true });
    } catch (e) {
      throw ioError(`cannot create ${target}`, e);
    }
    return new LayoutWriter(abs, tmp);
  }

  hasBlob(digest: string): boolean {
    return this.written.has(digest);
  }

  /** Stream a blob into place: written to a temp file, checked against `digest`, synced, renamed. */
  async writeBlob(digest: string, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, from = 'the source'): Promise<void> {
    if (this.written.has(digest)) return;
    const rel = blobRelPath(digest);
    const path = join(this.tmp, rel);
    const part = `${path}.part`;
    const algorithm = digest.slice(0, digest.indexOf(':'));
    // Not recursive: a partial directory removed by abort() must not come back.
    await fs.mkdir(dirname(path)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw ioError(`cannot write ${join(this.target, rel)}`, e);
    });
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(part, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o644);
    } catch (e) {
      throw ioError(`cannot write ${join(this.target, rel)}`, e);
    }
    const hash = createHash(algorithm);
    try {
      for await (const chunk of source) {
        hash.update(chunk);
        await fh.write(chunk);
      }
      const actual = `${algorithm}:${hash.digest('hex')}`;
      if (actual !== digest) throw new SignetError('MALFORMED', `blob ${digest} from ${from} has digest ${actual}: refusing to save it`);
      await fh.sync();
      await fh.close();
      await fs.rename(part, path);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await fs.rm(part, { force: true });
      if (e instanceof SignetError) throw e;
      throw ioError(`cannot write ${join(this.target, rel)}`, e);
    }
    this.written.add(digest);
  }

  async writeBytes(bytes: Buffer, digest: string): Promise<void> {
    await this.writeBlob(digest, [bytes]);
  }

  /** Add a descriptor to index.json (written on commit, in the order added). */
  addEntry(d: Descriptor): void {
    if (!this.entries.some((e) => e.digest === d.digest && JSON.stringify(e.annotations ?? {}) === JSON.stringify(d.annotations ?? {}))) this.entries.push(d);
  }

  /** Write oci-layout and index.json last, sync, and rename the directory into place. */
  async commit(): Promise<void> {
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: this.entries.map((d) => {
        const o: Record<string, unknown> = { mediaType: d.mediaType, size: d.size, digest: d.digest };
        if (d.annotations && Object.keys(d.annotations).length) o.annotations = d.annotations;
        if (d.platform) o.platform = d.platform;
        if (d.artifactType) o.artifactType = d.artifactType;
        return o;
      }),
    };
    try {
      await writeSynced(join(this.tmp, LAYOUT_FILE), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
      await writeSynced(join(this.tmp, INDEX_FILE), JSON.stringify(index));
      for (const d of [join(this.tmp, 'blobs', 'sha256'), this.tmp]) await syncDir(d);
      await checkTarget(this.target);
      // rename(2) replaces an empty directory atomically; anything else was refused above.
      await fs.rename(this.tmp, this.target);
      await syncDir(dirname(this.target));
    } catch (e) {
      if (e instanceof SignetError) throw e;
      throw ioError(`cannot write ${this.target}`, e);
    }
  }

  async abort(): Promise<void> {
    await fs.rm(this.tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function checkTarget(abs: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new SignetError('USAGE', `${abs} exists and is not a directory`);
    throw ioError(`cannot use ${abs}`, e);
  }
  if (names.length > 0) throw new SignetError('USAGE', `${abs} already exists and is not empty: save into a new directory`);
}

async function writeSynced(path: string, text: string): Promise<void> {
  const fh = await fs.open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(path: string): Promise<void> {
  const fh = await fs.open(path, 'r');
  try {
    await fh.sync();
  } catch {
    // some filesystems refuse fsync on directories; the rename is still atomic
  } finally {
    await fh.close();
  }
}

async function readDocument(path: string, what: string): Promise<Buffer> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new SignetError('MALFORMED', `${what} is missing: not an OCI image layout`);
    throw ioError(what, e);
  }
  try {
    const { size } = await fh.stat();
    if (size > MAX_DOCUMENT) throw new SignetError('TOO_LARGE', `${what} is ${size} bytes, more than the limit of ${MAX_DOCUMENT}`);
    return await fh.readFile();
  } catch (e) {
    if (e instanceof SignetError) throw e;
    throw ioError(what, e);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

function parseJson(bytes: Buffer, what: string): any {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', `${what} is not valid JSON`);
  }
}
