/**
 * A registry client speaking the OCI distribution API: manifests, blobs (monolithic, chunked, mounted),
 * tags, and OCI 1.1 referrers with the `sha256-<hex>` fallback tag. One instance is meant to be shared
 * by many concurrent operations, so connections and tokens are reused.
 */
import { createHash, type Hash } from 'node:crypto';
import { SignetError, isSignetError } from '../errors.js';
import { readLimited, type HttpTimeouts } from '../net.js';
import { isValidDigest, isValidTag, repositoryName } from './reference.js';
import { RegistryHttpError, Transport, type RetryOptions } from './transport.js';
import { WireGet, wirePatch, type PieceSource } from './wire.js';
import { DEFAULT_MANIFEST_ACCEPT, MEDIA_TYPE, digestWithAlgorithmOf, parseDescriptor, sha256Digest, type Descriptor } from './types.js';

export interface RegistryClientOptions {
  insecure?: boolean;
  allowHttp?: boolean;
  username?: string;
  password?: string;
  token?: string;
  caCertFile?: string;
  /**
   * cosign's --registry-referrers-mode: `legacy` (default) uses the referrers API when the registry has
   * it and the `sha256-<hex>` fallback tag otherwise; `oci-1-1` uses the API only, and a registry
   * without it is an error before anything is written.
   */
  referrersMode?: 'legacy' | 'oci-1-1';
  /** Mutual TLS (transport.ts): client certificate, its key, and the TLS server name. */
  clientCertFile?: string;
  clientKeyFile?: string;
  serverName?: string;
  retry?: Partial<RetryOptions>;
  /** Aborts every request (a deadline); default: the one set by withNetOptions, if any. */
  signal?: AbortSignal;
  /** Per-request bounds on waiting for headers and on body silence (default 30 s each). */
  timeouts?: Partial<HttpTimeouts>;
  /** Upper bound for any manifest or index we read (default 2 MiB). */
  maxManifestBytes?: number;
  /** Blobs larger than this are uploaded in PATCH chunks of this size (default 16 MiB). */
  chunkSize?: number;
  /**
   * Streamed uploads (`putBlobStream`): a source that ends within this many bytes is uploaded in one
   * monolithic PUT; a longer one streams in one PATCH, with at most this much read ahead (default 1 MiB).
   */
  streamChunkSize?: number;
  /** Attempts for the read-modify-write of a referrers fallback index (default 10). */
  referrerAttempts?: number;
  /**
   * Attempts for a manifest PUT the registry refuses because a blob it references is unknown or
   * unreadable (MANIFEST_BLOB_UNKNOWN, BLOB_UNKNOWN, DIGEST_INVALID), re-uploading the blobs between
   * attempts (default 5).
   */
  manifestPutAttempts?: number;
}

/** What a manifest PUT needs in place: the blobs it references that the caller holds. */
export interface ManifestPutOptions {
  blobs?: Buffer[];
}

/** One referrer for pushReferrers: its manifest (naming `subject`) and the blobs it references that the caller holds. */
export interface ReferrerPush {
  bytes: Buffer;
  mediaType: string;
  subject: Descriptor;
  blobs?: Buffer[];
}

/** A repository on a registry; a full Reference fits too. */
export interface Repo {
  registry: string;
  repository: string;
}

export interface Manifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  json: any;
}

export interface ReferrersResult {
  manifests: Descriptor[];
  source: 'api' | 'tag';
}

/**
 * What reading an image and its signatures needs: a registry client, or an OCI image layout on disk
 * (`layout.ts`), so the verifier reads either without a fork.
 */
export interface ImageReader {
  headManifest(repo: Repo, ref: string, opts?: { accept?: string[] }): Promise<{ mediaType: string; digest: string; size: number } | null>;
  getManifest(repo: Repo, refOrDigest: string, opts?: { accept?: string[] }): Promise<Manifest>;
  getBlob(repo: Repo, digest: string, opts?: { maxBytes?: number }): Promise<Buffer>;
  referrers(repo: Repo, subjectDigest: string, opts?: { artifactType?: string }): Promise<ReferrersResult>;
}

const DEFAULT_MAX_MANIFEST = 4 * 1024 * 1024;
const DEFAULT_MAX_BLOB = 128 * 1024 * 1024;
const DEFAULT_CHUNK = 16 * 1024 * 1024;
const DEFAULT_STREAM_CHUNK = 1024 * 1024;
const MAX_PAGES = 10_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * MALFORMED naming `from` when the bytes hashed into `hash` (with `digest`'s algorithm) are not `digest`:
 * an upload is committed only without one, so a corrupt source never lands in the registry.
 */
function digestMismatch(digest: string, hash: Hash, from: string): SignetError | undefined {
  const actual = `${digest.slice(0, digest.indexOf(':'))}:${hash.digest('hex')}`;
  return actual === digest ? undefined : new SignetError('MALFORMED', `blob ${digest} from ${from} has digest ${actual}: refusing to copy it`);
}

/**
 * Registry answers to a manifest PUT that say a referenced blob cannot be found or read. Besides a
 * blob that is really missing, distribution 2.x gives them while another upload of the same blob
 * commits: its filesystem driver rewrites the repository's link file for the blob in place (truncate,
 * then write), and the manifest check that reads the empty file answers `DIGEST_INVALID;
 * MANIFEST_BLOB_UNKNOWN` (fixed upstream by distribution#4624, after 2.8). Concurrent signers upload
 * identical blobs all the time: the `{}` config of OCI artifacts, a `.sig` image's config (it depends
 * only on the layer digests) and the simple-signing payload (one per image and annotations, not per key).
 */
const BLOB_RACE_CODES = new Set(['MANIFEST_BLOB_UNKNOWN', 'BLOB_UNKNOWN', 'DIGEST_INVALID']);

function isBlobRace(e: unknown): e is RegistryHttpError {
  return e instanceof RegistryHttpError && e.status >= 400 && e.status < 500 && e.registryCodes.some((c) => BLOB_RACE_CODES.has(c));
}

/** Jittered exponential pause before the next attempt after a blob race (50–100 ms, then doubling, capped at 2 s). */
function blobRaceDelay(failures: number): number {
  const ceiling = Math.min(2000, 100 * 2 ** (failures - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function gaveUp(e: RegistryHttpError, attempts: number): RegistryHttpError {
  return new RegistryHttpError(e.code, `${e.message} (gave up after ${attempts} attempts)`, e.status, e.registryCodes);
}

function contentType(res: Response): string {
  return (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The `sha256-<hex>` tag under which the referrers of `digest` are listed when the registry has no API. */
export function referrersFallbackTag(digest: string): string {
  if (!isValidDigest(digest)) throw new SignetError('REFERENCE', `invalid digest "${digest}"`);
  return digest.replace(':', '-');
}

function checkRef(repo: Repo, ref: string): void {
  if (!isValidDigest(ref) && !isValidTag(ref)) throw new SignetError('REFERENCE', `"${ref}" is neither a tag nor a digest (for ${repositoryName(repo)})`);
}

function checkDigest(repo: Repo, digest: string): void {
  if (!isValidDigest(digest)) throw new SignetError('REFERENCE', `"${digest}" is not a digest (for ${repositoryName(repo)})`);
}

/** The next page from an RFC 5988 `Link: </v2/…?last=x&n=y>; rel="next"` header. */
function nextLink(res: Response): string | undefined {
  const link = res.headers.get('link');
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return m[1];
  }
  return undefined;
}

function parseJson(bytes: Buffer, what: string): any {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', `${what} is not valid JSON`);
  }
}

const NO_API_BODY_LIMIT = 64 * 1024;

/**
 * Registry error codes in a 404/400 that speak of this repository or subject rather than of a missing
 * endpoint (OCI says a registry with the API never answers 404, but one that misbehaves could for an
 * unknown name or manifest): such an answer is not cached as "no referrers API".
 */
const NAME_OR_SUBJECT_CODES = new Set(['NAME_UNKNOWN', 'NAME_INVALID', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'DIGEST_INVALID', 'DENIED', 'UNAUTHORIZED']);

function namesRepositoryOrSubject(body: Buffer): boolean {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return false;
  }
  const errors = (doc as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) && errors.some((e) => NAME_OR_SUBJECT_CODES.has(String((e as { code?: unknown } | null)?.code)));
}

function indexManifests(doc: any, what: string): Descriptor[] {
  if (!doc || typeof doc !== 'object' || (doc.manifests !== undefined && !Array.isArray(doc.manifests))) {
    throw new SignetError('MALFORMED', `${what} is not an image index`);
  }
  return ((doc.manifests ?? []) as unknown[]).map((d) => parseDescriptor(d, what));
}

/** Serialize an OCI index the way go-containerregistry does (field order schemaVersion, mediaType, manifests). */
function serializeIndex(manifests: Descriptor[]): Buffer {
  const ordered = manifests.map((d) => {
    const o: Record<string, unknown> = { mediaType: d.mediaType, size: d.size, digest: d.digest };
    if (d.annotations && Object.keys(d.annotations).length) o.annotations = d.annotations;
    if (d.platform) o.platform = d.platform;
    if (d.artifactType) o.artifactType = d.artifactType;
    return o;
  });
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: ordered }));
}

export class RegistryClient implements ImageReader {
  readonly transport: Transport;
  private readonly maxManifestBytes: number;
  private readonly chunkSize: number;
  private readonly streamChunkSize: number;
  private readonly referrerAttempts: number;
  private readonly manifestPutAttempts: number;
  private readonly referrersMode: 'legacy' | 'oci-1-1';
  /**
   * Pending fallback-index additions per repository+subject: in this process one writer drains the
   * queue, adding every waiting entry in a single read-modify-write.
   */
  private readonly listQueues = new Map<string, ListQueue<unknown>>();
  /**
   * Repositories (`registry/repository`) whose registry answered a referrers request with a 404/400
   * that is not a registry error about the repository or the subject: it has no referrers API, so
   * later reads go straight to the fallback tag (one request less per image for a run over many).
   */
  private readonly reposWithoutReferrersApi = new Set<string>();

  constructor(options: RegistryClientOptions = {}) {
    this.transport = new Transport(options);
    this.maxManifestBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST;
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
    this.streamChunkSize = options.streamChunkSize ?? DEFAULT_STREAM_CHUNK;
    if (!(this.streamChunkSize > 0)) throw new SignetError('USAGE', 'streamChunkSize must be positive');
    this.referrerAttempts = options.referrerAttempts ?? 10;
    this.manifestPutAttempts = options.manifestPutAttempts ?? 5;
    this.referrersMode = options.referrersMode ?? 'legacy';
    if (!(this.manifestPutAttempts >= 1)) throw new SignetError('USAGE', 'manifestPutAttempts must be at least 1');
    if (!(this.chunkSize > 0)) throw new SignetError('USAGE', 'chunkSize must be positive');
  }

  /** Close idle connections (the process also exits without it). */
  close(): Promise<void> {
    return this.transport.close();
  }

  private pull(repo: Repo): string[] {
    return [`repository:${repo.repository}:pull`];
  }

  private push(repo: Repo): string[] {
    return [`repository:${repo.repository}:pull,push`];
  }

  private path(repo: Repo, kind: 'manifests' | 'blobs' | 'tags' | 'referrers', rest: string): string {
    return `/v2/${repo.repository}/${kind}/${rest}`;
  }

  async getManifest(repo: Repo, refOrDigest: string, opts: { accept?: string[] } = {}): Promise<Manifest> {
    checkRef(repo, refOrDigest);
    const res = await this.transport.request({
      registry: repo.registry,
      method: 'GET',
      path: this.path(repo, 'manifests', refOrDigest),
      headers: { accept: (opts.accept ?? DEFAULT_MANIFEST_ACCEPT).join(', ') },
      scopes: this.pull(repo),
    });
    const where = `manifest ${repositoryName(repo)}${isValidDigest(refOrDigest) ? '@' : ':'}${refOrDigest}`;
    const bytes = await readLimited(res, this.maxManifestBytes, where);
    const digest = this.manifestDigest(res, bytes, refOrDigest, where);
    const json = parseJson(bytes, where);
    if (!json || typeof json !== 'object' || Array.isArray(json)) throw new SignetError('MALFORMED', `${where} is not a JSON object`);
    const mediaType = typeof json.mediaType === 'string' && json.mediaType ? json.mediaType : contentType(res);
    return { bytes, mediaType, digest, json };
  }

  /** The digest of fetched manifest bytes: checked against what we asked for and what the registry claims. */
  private manifestDigest(res: Response, bytes: Buffer, refOrDigest: string, where: string): string {
    if (isValidDigest(refOrDigest)) {
      const actual = digestWithAlgorithmOf(refOrDigest, bytes);
      if (actual !== refOrDigest) throw new SignetError('MALFORMED', `${where}: the registry sent content with digest ${actual}`);
      return refOrDigest;
    }
    const computed = sha256Digest(bytes);
    const claimed = res.headers.get('docker-content-digest');
    if (claimed && isValidDigest(claimed)) {
      if (digestWithAlgorithmOf(claimed, bytes) !== claimed) throw new SignetError('MALFORMED', `${where}: Docker-Content-Digest ${claimed} does not match the content`);
      return claimed.startsWith('sha256:') ? computed : claimed;
    }
    return computed;
  }

  async headManifest(repo: Repo, ref: string, opts: { accept?: string[] } = {}): Promise<{ mediaType: string; digest: string; size: number } | null> {
    checkRef(repo, ref);
    const res = await this.transport.request({
      registry: repo.registry,
      method: 'HEAD',
      path: this.path(repo, 'manifests', ref),
      headers: { accept: (opts.accept ?? DEFAULT_MANIFEST_ACCEPT).join(', ') },
      scopes: this.pull(repo),
      accept: (s) => (s >= 200 && s < 300) || s === 404,
    });
    await res.body?.cancel().catch(() => {});
    if (res.status === 404) return null;
    const digest = res.headers.get('docker-content-digest');
    const mediaType = contentType(res);
    const size = Number(res.headers.get('content-length'));
    if (digest && isValidDigest(digest) && mediaType && Number.isSafeInteger(size) && size > 0) {
      if (isValidDigest(ref) && digest !== ref) throw new SignetError('MALFORMED', `HEAD ${repositoryName(repo)}@${ref}: the registry answered with digest ${digest}`);
      return { mediaType, digest, size };
    }
    // Some registries omit the headers on HEAD; the body tells us everything.
    try {
      const m = await this.getManifest(repo, ref, opts);
      return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
    } catch (e) {
      if (isSignetError(e, 'NOT_FOUND')) return null;
      throw e;
    }
  }

  /**
   * PUT a manifest. `blobs` are the blobs it references that the caller holds: when the registry
   * answers that a referenced blob is unknown or unreadable, they are uploaded again (unconditionally:
   * a HEAD may see the blob while the manifest check does not) and the PUT is retried, a bounded
   * number of times with jittered backoff. Any other answer throws at once, unchanged.
   */
  async putManifest(repo: Repo, tagOrDigest: string, bytes: Buffer, mediaType: string, opts: ManifestPutOptions = {}): Promise<string> {
    return (await this.putManifestRaw(repo, tagOrDigest, bytes, mediaType, opts.blobs ?? [])).digest;
  }

  private async putManifestRaw(repo: Repo, tagOrDigest: string, bytes: Buffer, mediaType: string, blobs: Buffer[]): Promise<{ digest: string; subjectHeader: boolean }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.putManifestOnce(repo, tagOrDigest, bytes, mediaType);
      } catch (e) {
        if (!isBlobRace(e)) throw e;
        if (attempt >= this.manifestPutAttempts) throw gaveUp(e, attempt);
      }
      await sleep(blobRaceDelay(attempt));
      await this.uploadBlobs(repo, blobs, true);
    }
  }

  private async putManifestOnce(repo: Repo, tagOrDigest: string, bytes: Buffer, mediaType: string): Promise<{ digest: string; subjectHeader: boolean }> {
    checkRef(repo, tagOrDigest);
    const computed = isValidDigest(tagOrDigest) ? digestWithAlgorithmOf(tagOrDigest, bytes) : sha256Digest(bytes);
    if (isValidDigest(tagOrDigest) && computed !== tagOrDigest) {
      throw new SignetError('INTERNAL', `refusing to put manifest with digest ${computed} under ${tagOrDigest}`);
    }
    if (bytes.length > this.maxManifestBytes) throw new SignetError('TOO_LARGE', `manifest of ${bytes.length} bytes exceeds the limit of ${this.maxManifestBytes}`);
    const res = await this.transport.request({
      registry: repo.registry,
      method: 'PUT',
      path: this.path(repo, 'manifests', tagOrDigest),
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: this.push(repo),
    });
    await res.body?.cancel().catch(() => {});
    const claimed = res.headers.get('docker-content-digest');
    if (claimed && claimed.startsWith('sha256:') && claimed !== sha256Digest(bytes)) {
      throw new SignetError('MALFORMED', `PUT manifest ${repositoryName(repo)}:${tagOrDigest}: the registry reports digest ${claimed} for content with ${sha256Digest(bytes)}`);
    }
    return { digest: computed, subjectHeader: res.headers.has('oci-subject') };
  }

  /** Upload each distinct blob: skipping those a HEAD finds, or all of them when `force`. */
  private async uploadBlobs(repo: Repo, blobs: Buffer[], force: boolean): Promise<void> {
    const byDigest = new Map<string, Buffer>();
    for (const b of blobs) byDigest.set(sha256Digest(b), b);
    await Promise.all([...byDigest].map(([digest, b]) => (force ? this.uploadBlob(repo, b, digest) : this.putBlob(repo, b))));
  }

  async deleteManifest(repo: Repo, digest: string): Promise<void> {
    checkDigest(repo, digest);
    const res = await this.transport.request({
      registry: repo.registry,
      method: 'DELETE',
      path: this.path(repo, 'manifests', digest),
      scopes: [`repository:${repo.repository}:delete`, ...this.push(repo)],
    });
    await res.body?.cancel().catch(() => {});
  }

  async getBlob(repo: Repo, digest: string, opts: { maxBytes?: number } = {}): Promise<Buffer> {
    checkDigest(repo, digest);
    const res = await this.transport.request({ registry: repo.registry, method: 'GET', path: this.path(repo, 'blobs', digest), scopes: this.pull(repo) });
    const where = `blob ${repositoryName(repo)}@${digest}`;
    const bytes = await readLimited(res, opts.maxBytes ?? DEFAULT_MAX_BLOB, where);
    const actual = digestWithAlgorithmOf(digest, bytes);
    if (actual !== digest) throw new SignetError('MALFORMED', `${where}: the registry sent content with digest ${actual}`);
    return bytes;
  }

  /**
   * A blob's bytes as a stream, unread: for copies that must not hold a blob whole. The caller checks
   * the digest while reading (`putBlobStream` does) and cancels the stream when it stops early.
   */
  async openBlob(repo: Repo, digest: string): Promise<{ stream: ReadableStream<Uint8Array>; size: number | undefined }> {
    checkDigest(repo, digest);
    const res = await this.transport.request({ registry: repo.registry, method: 'GET', path: this.path(repo, 'blobs', digest), scopes: this.pull(repo) });
    const declared = res.headers.get('content-length');
    const size = declared !== null && /^\d+$/.test(declared) ? Number(declared) : undefined;
    return { stream: res.body ?? new ReadableStream({ start: (c) => c.close() }), size };
  }

  /**
   * Upload a blob from a stream of chunks without holding it whole, as skopeo does: the bytes go to the
   * registry as they are read, in one streamed PATCH (no Content-Range, chunked), the digest computed on
   * the way. A source that ends within streamChunkSize bytes goes up as one monolithic PUT instead (two
   * requests, not three, for configs and signatures). The upload is committed (the final PUT with the
   * digest) only when the bytes hash to `digest`; otherwise it is cancelled and MALFORMED is thrown
   * naming `from`, so a corrupt source never lands in the registry. An error of the source (a source
   * registry timing out) is thrown as it is. A streamed PATCH is sent once: on failure the upload is
   * cancelled and the error thrown, for the caller to start over from a fresh source if it wants to.
   * Does not check whether the registry already has the blob (see blobExists).
   */
  async putBlobStream(repo: Repo, digest: string, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, from = 'the source'): Promise<void> {
    checkDigest(repo, digest);
    const hash = createHash(digest.slice(0, digest.indexOf(':')));
    const iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array> =
      Symbol.asyncIterator in source ? (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]() : (source as Iterable<Uint8Array>)[Symbol.iterator]();
    let ended = false;
    let sourceError: { error: unknown } | undefined;
    const next = async (): Promise<Uint8Array | undefined> => {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await iterator.next();
      } catch (e) {
        sourceError = { error: e };
        throw e;
      }
      if (r.done) {
        ended = true;
        return undefined;
      }
      hash.update(r.value);
      return r.value;
    };
    const stop = async (): Promise<void> => {
      if (!ended) await Promise.resolve(iterator.return?.()).catch(() => undefined);
    };
    const mismatch = (): SignetError | undefined => digestMismatch(digest, hash, from);
    // Read ahead up to streamChunkSize: a source that ends there is one monolithic PUT.
    const head: Uint8Array[] = [];
    let headLength = 0;
    try {
      while (headLength < this.streamChunkSize) {
        const part = await next();
        if (part === undefined) break;
        head.push(part);
        headLength += part.byteLength;
      }
    } catch (e) {
      await stop();
      throw e;
    }
    if (ended) {
      const bad = mismatch();
      if (bad) throw bad;
      await this.finishUpload(repo, await this.startUpload(repo), digest, Buffer.concat(head, headLength));
      return;
    }
    let location: string | undefined;
    try {
      location = await this.startUpload(repo);
      const body = new ReadableStream<Uint8Array>(
        {
          async pull(controller): Promise<void> {
            const part = head.shift() ?? (await next());
            if (part === undefined) controller.close();
            else controller.enqueue(part);
          },
          cancel: () => stop(),
        },
        { highWaterMark: 0 },
      );
      let res: Response;
      try {
        res = await this.transport.request({
          registry: repo.registry,
          method: 'PATCH',
          path: location,
          headers: { 'content-type': 'application/octet-stream' },
          body,
          scopes: this.push(repo),
        });
      } catch (e) {
        if (sourceError) throw sourceError.error;
        throw e;
      }
      await res.body?.cancel().catch(() => {});
      if (sourceError) throw sourceError.error;
      if (!ended) throw new SignetError('REGISTRY', `PATCH ${repositoryName(repo)} upload of ${digest}: the registry answered ${res.status} before the whole blob was sent`);
      location = this.location(res, location, repo);
      const bad = mismatch();
      if (bad) throw bad;
      await this.finishUpload(repo, location, digest, Buffer.alloc(0));
    } catch (e) {
      await stop();
      if (location !== undefined) await this.cancelUpload(repo, location);
      throw e;
    }
  }

  /**
   * A blob's body on the raw data path (`wire.ts`), read into a few fixed buffers: `chunks()` for a
   * consumer that is done with each chunk before the next (a file write), or the source of
   * `putBlobPieces`. Undefined when the registry does not answer with a plain 200 (a 401 to renew a
   * token, a registry error) or requests must go through fetch: `openBlob` then deals with those.
   * Unchecked: the consumer hashes the bytes.
   */
  async openBlobWire(repo: Repo, digest: string): Promise<WireGet | undefined> {
    checkDigest(repo, digest);
    const target = await this.transport.wireTarget({ registry: repo.registry, method: 'GET', path: this.path(repo, 'blobs', digest), scopes: this.pull(repo) });
    if (!target) return undefined;
    const get = await WireGet.send(target);
    if (get.answer!.status === 200) return get;
    get.close();
    return undefined;
  }

  /**
   * Copy a blob from a repository of `from` (another registry, or one a mount did not serve) on the raw
   * data path: the source's body read into a few fixed buffers and sent on from them (`putBlobPieces`).
   * Returns false, having written nothing, when `openBlobWire` hands the source back: the caller then
   * takes the `openBlob` + `putBlobStream` path.
   */
  async copyBlob(from: { client: RegistryClient; repo: Repo }, repo: Repo, digest: string, fromName = 'the source'): Promise<boolean> {
    checkDigest(repo, digest);
    const get = await from.client.openBlobWire(from.repo, digest);
    if (!get) return false;
    if (!(await this.putBlobPieces(repo, digest, get, fromName))) {
      get.close();
      return false;
    }
    return true;
  }

  /**
   * Upload a blob from a PieceSource in one streamed PATCH (chunked) on a raw connection, hashed on the
   * way, committed only when it hashes to `digest` (else cancelled, MALFORMED naming `fromName`). Sent
   * once, as `putBlobStream`: on a failure the upload is cancelled, the source closed and the error
   * thrown. False (nothing sent) when requests must go through fetch.
   */
  async putBlobPieces(repo: Repo, digest: string, source: PieceSource, fromName = 'the source'): Promise<boolean> {
    checkDigest(repo, digest);
    let location: string | undefined;
    try {
      location = await this.startUpload(repo);
      const dst = await this.transport.wireTarget({ registry: repo.registry, method: 'PATCH', path: location, headers: { 'content-type': 'application/octet-stream' }, scopes: this.push(repo) });
      if (!dst) {
        await this.cancelUpload(repo, location);
        return false;
      }
      const hash = createHash(digest.slice(0, digest.indexOf(':')));
      const answer = await wirePatch(dst, source, (piece) => hash.update(piece));
      const res = new Response([204, 205, 304].includes(answer.status) ? null : answer.body, { status: answer.status, headers: answer.headers });
      if (answer.status < 200 || answer.status >= 300) throw await this.transport.errorFor('PATCH', location, res, repo.registry);
      if (answer.early) throw new SignetError('REGISTRY', `PATCH ${repositoryName(repo)} upload of ${digest}: the registry answered ${answer.status} before the whole blob was sent`);
      location = this.location(res, location, repo);
      const bad = digestMismatch(digest, hash, fromName);
      if (bad) throw bad;
      source.close();
      await this.finishUpload(repo, location, digest, Buffer.alloc(0));
      return true;
    } catch (e) {
      source.close();
      if (location !== undefined) await this.cancelUpload(repo, location);
      throw e;
    }
  }

  /** Cancel an upload session (best effort). */
  private async cancelUpload(repo: Repo, location: string): Promise<void> {
    const cancel = await this.transport.request({ registry: repo.registry, method: 'DELETE', path: location, scopes: this.push(repo), accept: () => true }).catch(() => undefined);
    await cancel?.body?.cancel().catch(() => {});
  }

  async blobExists(repo: Repo, digest: string): Promise<boolean> {
    checkDigest(repo, digest);
    const res = await this.transport.request({
      registry: repo.registry,
      method: 'HEAD',
      path: this.path(repo, 'blobs', digest),
      scopes: this.pull(repo),
      accept: (s) => (s >= 200 && s < 300) || s === 404,
    });
    await res.body?.cancel().catch(() => {});
    return res.status !== 404;
  }

  /** Upload a blob unless the registry has it: monolithic POST+PUT, or PATCH chunks above chunkSize. */
  async putBlob(repo: Repo, bytes: Buffer, _opts: { mediaType?: string } = {}): Promise<{ digest: string; size: number }> {
    const digest = sha256Digest(bytes);
    if (!(await this.blobExists(repo, digest))) await this.uploadBlob(repo, bytes, digest);
    return { digest, size: bytes.length };
  }

  private async uploadBlob(repo: Repo, bytes: Buffer, digest: string): Promise<void> {
    let location = await this.startUpload(repo);
    if (bytes.length > this.chunkSize) {
      for (let offset = 0; offset < bytes.length; offset += this.chunkSize) {
        const chunk = bytes.subarray(offset, Math.min(offset + this.chunkSize, bytes.length));
        const res = await this.transport.request({
          registry: repo.registry,
          method: 'PATCH',
          path: location,
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
          body: Buffer.from(chunk),
          scopes: this.push(repo),
        });
        await res.body?.cancel().catch(() => {});
        location = this.location(res, location, repo);
      }
      await this.finishUpload(repo, location, digest, Buffer.alloc(0));
    } else {
      await this.finishUpload(repo, location, digest, bytes);
    }
  }

  private async startUpload(repo: Repo, query = ''): Promise<string> {
    const res = await this.transport.request({
      registry: repo.registry,
      method: 'POST',
      path: this.path(repo, 'blobs', 'uploads/') + query,
      scopes: this.push(repo),
    });
    await res.body?.cancel().catch(() => {});
    return this.location(res, res.url, repo);
  }

  /** Resolve a Location header (relative or absolute) against the URL it answered. */
  private location(res: Response, base: string, repo: Repo): string {
    const loc = res.headers.get('location');
    if (!loc) throw new SignetError('MALFORMED', `${repositoryName(repo)}: the registry started an upload without a Location header`);
    try {
      return new URL(loc, res.url || base).toString();
    } catch {
      throw new SignetError('MALFORMED', `${repositoryName(repo)}: unusable upload Location "${loc.slice(0, 100)}"`);
    }
  }

  private async finishUpload(repo: Repo, location: string, digest: string, body: Buffer): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const res = await this.transport.request({
      registry: repo.registry,
      method: 'PUT',
      path: url.toString(),
      headers: { 'content-type': 'application/octet-stream' },
      body,
      scopes: this.push(repo),
    });
    await res.body?.cancel().catch(() => {});
  }

  /** Cross-repository mount: true when mounted (201), false when the registry wants an upload (202). */
  async mountBlob(repo: Repo, digest: string, fromRepository: string | Repo): Promise<boolean> {
    checkDigest(repo, digest);
    const from = typeof fromRepository === 'string' ? fromRepository : fromRepository.repository;
    if (typeof fromRepository !== 'string' && fromRepository.registry !== repo.registry) {
      throw new SignetError('USAGE', `cannot mount from ${repositoryName(fromRepository)} into ${repositoryName(repo)}: different registries`);
    }
    const res = await this.transport.request({
      registry: repo.registry,
      method: 'POST',
      path: this.path(repo, 'blobs', 'uploads/') + `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      scopes: [...this.push(repo), `repository:${from}:pull`],
    });
    await res.body?.cancel().catch(() => {});
    if (res.status === 201) return true;
    // The registry opened an upload session instead; cancel it so it does not linger.
    const loc = res.headers.get('location');
    if (loc) {
      const cancel = await this.transport
        .request({ registry: repo.registry, method: 'DELETE', path: this.location(res, res.url, repo), scopes: this.push(repo), accept: () => true })
        .catch(() => undefined);
      await cancel?.body?.cancel().catch(() => {});
    }
    return false;
  }

  async listTags(repo: Repo, opts: { pageSize?: number } = {}): Promise<string[]> {
    const tags: string[] = [];
    let path: string | undefined = this.path(repo, 'tags', 'list') + (opts.pageSize ? `?n=${opts.pageSize}` : '');
    const seen = new Set<string>();
    for (let page = 0; path; page++) {
      if (page >= MAX_PAGES || seen.has(path)) throw new SignetError('MALFORMED', `tag list of ${repositoryName(repo)}: pagination does not end`);
      seen.add(path);
      const res = await this.transport.request({ registry: repo.registry, method: 'GET', path, scopes: this.pull(repo) });
      const what = `tag list of ${repositoryName(repo)}`;
      const doc = parseJson(await readLimited(res, this.maxManifestBytes, what), what);
      if (!doc || typeof doc !== 'object' || (doc.tags !== null && doc.tags !== undefined && !Array.isArray(doc.tags))) {
        throw new SignetError('MALFORMED', `${what} has no "tags" array`);
      }
      for (const t of doc.tags ?? []) {
        if (typeof t !== 'string') throw new SignetError('MALFORMED', `${what} contains a non-string tag`);
        tags.push(t);
      }
      path = nextLink(res);
    }
    return tags;
  }

  /**
   * The referrers of `subjectDigest`: the OCI 1.1 API when the registry has it (200 with an image
   * index), else the `sha256-<hex>` fallback tag. Only 404/400 (or a non-index 200) mean "no API";
   * every other failure throws, so a flaky registry never looks like an unsigned image.
   */
  async referrers(repo: Repo, subjectDigest: string, opts: { artifactType?: string } = {}): Promise<ReferrersResult> {
    checkDigest(repo, subjectDigest);
    const api = this.reposWithoutReferrersApi.has(repositoryName(repo)) ? undefined : await this.referrersFromApi(repo, subjectDigest, opts.artifactType);
    const filter = (ds: Descriptor[]): Descriptor[] => (opts.artifactType ? ds.filter((d) => d.artifactType === opts.artifactType) : ds);
    if (api) return { manifests: filter(api), source: 'api' };
    if (this.referrersMode === 'oci-1-1') throw this.noReferrersApi(repo);
    const tag = referrersFallbackTag(subjectDigest);
    return { manifests: filter(await this.readList(repo, tag, fallbackIndexCodec(`referrers fallback index ${repositoryName(repo)}:${tag}`))), source: 'tag' };
  }

  private noReferrersApi(repo: Repo): SignetError {
    return new SignetError('REGISTRY', `${repo.registry} has no OCI 1.1 referrers API, and --registry-referrers-mode=oci-1-1 forbids the sha256-<digest> tag fallback; use --registry-referrers-mode=legacy`);
  }

  /** The API's answer, or undefined when the registry has no referrers API. */
  private async referrersFromApi(repo: Repo, subjectDigest: string, artifactType?: string): Promise<Descriptor[] | undefined> {
    let path: string | undefined = this.path(repo, 'referrers', subjectDigest) + (artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '');
    const out: Descriptor[] = [];
    const seen = new Set<string>();
    for (let page = 0; path; page++) {
      if (page >= MAX_PAGES || seen.has(path)) throw new SignetError('MALFORMED', `referrers of ${repositoryName(repo)}@${subjectDigest}: pagination does not end`);
      seen.add(path);
      const res = await this.transport.request({
        registry: repo.registry,
        method: 'GET',
        path,
        headers: { accept: MEDIA_TYPE.ociIndex },
        scopes: this.pull(repo),
        accept: (s) => (s >= 200 && s < 300) || (page === 0 && (s === 404 || s === 400)),
      });
      if (res.status === 404 || res.status === 400 || (page === 0 && (res.status !== 200 || contentType(res) !== MEDIA_TYPE.ociIndex))) {
        // Read the (small) answer rather than cancel it: a cancelled body costs the connection.
        const body = await readLimited(res, NO_API_BODY_LIMIT, 'referrers answer').catch(() => undefined);
        if (page === 0 && (res.status === 404 || res.status === 400) && body !== undefined && !namesRepositoryOrSubject(body)) {
          this.reposWithoutReferrersApi.add(repositoryName(repo));
        }
        return undefined;
      }
      const what = `referrers of ${repositoryName(repo)}@${subjectDigest}`;
      out.push(...indexManifests(parseJson(await readLimited(res, this.maxManifestBytes, what), what), what));
      path = nextLink(res);
    }
    return out;
  }

  /**
   * Push a manifest whose `subject` is `subject` and make it findable as a referrer. Registries with
   * the API index it themselves; otherwise we add it to the fallback index with a read-modify-write
   * that re-reads after writing (and once more after a pause) until our entry survives, so concurrent
   * signers do not drop each other's entries. `blobs` are the blobs the manifest references (see
   * putManifest).
   */
  async pushReferrer(repo: Repo, manifestBytes: Buffer, mediaType: string, subject: Descriptor, opts: ManifestPutOptions = {}): Promise<string> {
    return (await this.pushReferrers(repo, [{ bytes: manifestBytes, mediaType, subject, ...(opts.blobs ? { blobs: opts.blobs } : {}) }]))[0]!;
  }

  /**
   * Push many referrers at once (a copy's attachments): every manifest is PUT (a few at a time), then,
   * on a registry without the referrers API, each subject's fallback index gets all of its new entries
   * in one read-modify-write (appendToList: same re-reads, re-check pause and guarantees against
   * concurrent writers as for one entry), instead of one update and one pause per referrer. All
   * manifests are checked before anything is written. Returns the digests in the order given.
   */
  async pushReferrers(repo: Repo, items: ReferrerPush[], opts: { concurrency?: number } = {}): Promise<string[]> {
    const prepared = items.map((it) => {
      checkDigest(repo, it.subject.digest);
      const manifest = parseJson(it.bytes, 'referrer manifest');
      if (!manifest || typeof manifest !== 'object') throw new SignetError('MALFORMED', 'referrer manifest is not a JSON object');
      if (manifest.subject?.digest !== it.subject.digest) {
        throw new SignetError('INTERNAL', `referrer manifest names subject ${String(manifest.subject?.digest)}, expected ${it.subject.digest}`);
      }
      const digest = sha256Digest(it.bytes);
      const entry: Descriptor = { mediaType: it.mediaType, digest, size: it.bytes.length };
      const artifactType = typeof manifest.artifactType === 'string' && manifest.artifactType ? manifest.artifactType : manifest.config?.mediaType;
      if (typeof artifactType === 'string' && artifactType) entry.artifactType = artifactType;
      if (manifest.annotations && typeof manifest.annotations === 'object' && Object.keys(manifest.annotations).length) entry.annotations = manifest.annotations;
      return { it, digest, entry, pushed: false, indexed: false };
    });
    // --registry-referrers-mode=oci-1-1: the API is the only way, so a registry without it is refused
    // before anything is written.
    if (this.referrersMode === 'oci-1-1') {
      for (const subject of new Set(prepared.map((q) => q.it.subject.digest))) {
        if (!(await this.referrersFromApi(repo, subject))) throw this.noReferrersApi(repo);
      }
    }
    // PUT the manifests, a few at a time; the first failure stops new PUTs and is thrown once the
    // running ones have settled and the manifests already written are indexed (else they would sit in
    // the registry where no referrers query finds them).
    let next = 0;
    let failed: { error: unknown } | undefined;
    const worker = async (): Promise<void> => {
      while (next < prepared.length && !failed) {
        const p = prepared[next++]!;
        try {
          p.indexed = (await this.putManifestRaw(repo, p.digest, p.it.bytes, p.it.mediaType, p.it.blobs ?? [])).subjectHeader;
          p.pushed = true;
        } catch (e) {
          failed ??= { error: e };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(Math.max(1, opts.concurrency ?? 8), prepared.length) }, worker));
    try {
      await this.indexReferrers(repo, prepared.filter((p) => p.pushed && !p.indexed));
    } catch (e) {
      // The failed PUT is what the caller must hear about; the index update's failure only follows from it.
      if (!failed) throw e;
    }
    if (failed) throw failed.error;
    return prepared.map((p) => p.digest);
  }

  /** Adds pushed referrers that the registry did not index itself to their subjects' fallback indexes. */
  private async indexReferrers(repo: Repo, pushed: { it: ReferrerPush; entry: Descriptor }[]): Promise<void> {
    const bySubject = new Map<string, Descriptor[]>();
    for (const p of pushed) {
      const list = bySubject.get(p.it.subject.digest) ?? [];
      list.push(p.entry);
      bySubject.set(p.it.subject.digest, list);
    }
    await Promise.all(
      [...bySubject].map(async ([subject, entries]) => {
        if (await this.referrersFromApi(repo, subject)) return;
        const tag = referrersFallbackTag(subject);
        await this.appendToList(repo, tag, entries, fallbackIndexCodec(`referrers fallback index ${repositoryName(repo)}:${tag}`));
      }),
    );
  }

  /**
   * Add entries to a list-like manifest at `tag` — the referrers fallback index, cosign's `.sig`/`.att`
   * images — without losing a concurrent writer's entries. Distribution has no conditional PUT, so:
   * additions for one tag within this client are coalesced into one read-modify-write, and after writing
   * the tag is re-read at once and again after a pause, re-applying until every entry survives.
   */
  appendToList<E>(repo: Repo, tag: string, entries: E[], codec: ListCodec<E>): Promise<void> {
    const key = `${repositoryName(repo)}:${tag}`;
    return new Promise<void>((resolve, reject) => {
      const queue = this.listQueues.get(key) as ListQueue<E> | undefined;
      if (queue) {
        queue.push({ entries, resolve, reject });
        return;
      }
      const fresh: ListQueue<E> = [{ entries, resolve, reject }];
      this.listQueues.set(key, fresh as ListQueue<unknown>);
      void this.drainList(repo, tag, key, fresh, codec);
    });
  }

  private async drainList<E>(repo: Repo, tag: string, key: string, queue: ListQueue<E>, codec: ListCodec<E>): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, queue.length);
      try {
        await this.appendOnce(repo, tag, batch.flatMap((b) => b.entries), codec);
        for (const b of batch) b.resolve();
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
    }
    this.listQueues.delete(key);
  }

  private async readList<E>(repo: Repo, tag: string, codec: ListCodec<E>): Promise<E[]> {
    return (await this.readListState(repo, tag, codec)).entries;
  }

  /** The list at `tag` and the digest of its manifest (null when the tag does not exist). */
  private async readListState<E>(repo: Repo, tag: string, codec: ListCodec<E>): Promise<{ entries: E[]; digest: string | null }> {
    try {
      const m = await this.getManifest(repo, tag, codec.accept ? { accept: codec.accept } : {});
      return { entries: codec.parse(m), digest: m.digest };
    } catch (e) {
      if (isSignetError(e, 'NOT_FOUND')) return { entries: [], digest: null };
      throw e;
    }
  }

  /**
   * One read-modify-write of the list at `tag`, repeated until our entries survive. Distribution has
   * no conditional PUT, so a writer that read the list before our PUT can still overwrite it with a
   * list that lacks our entries. Two things keep that from losing anyone's entry:
   * - the window in which a PUT can overwrite an entry it did not see is one GET→PUT round trip: when
   *   the manifest needs blobs, they are uploaded first, then the list is read again and the PUT goes
   *   out only if it is unchanged;
   * - after writing, each writer reads the list at once and again after a pause (several times that
   *   round trip, as measured), and writes again if its entries are gone.
   * A PUT the registry refuses because a blob is unknown or unreadable starts over from a fresh read,
   * uploading the manifest's blobs unconditionally (retrying the PUT of an old read would widen the
   * window); those refusals, lost races and lists that changed while we prepared are each bounded.
   */
  private async appendOnce<E>(repo: Repo, tag: string, entries: E[], codec: ListCodec<E>): Promise<void> {
    const allPresent = (list: E[]): boolean => entries.every((e) => list.some((d) => codec.same(d, e)));
    let overwritten = 0;
    let changed = 0;
    let blobFailures = 0;
    let readAt = performance.now();
    let current = await this.readListState(repo, tag, codec);
    const reread = async (): Promise<void> => {
      readAt = performance.now();
      current = await this.readListState(repo, tag, codec);
    };
    for (;;) {
      let window = 0;
      const missing = entries.filter((e, i) => !current.entries.some((d) => codec.same(d, e)) && entries.findIndex((x) => codec.same(x, e)) === i);
      if (missing.length > 0) {
        const next = await codec.build([...current.entries, ...missing]);
        if (next.blobs?.length) {
          await this.uploadBlobs(repo, next.blobs, blobFailures > 0);
          const before = current.digest;
          await reread();
          if (current.digest !== before) {
            // Another writer got in while we uploaded: build again over its list. Each such turn
            // means another writer's PUT landed, so this ends; the bound is only a safety net.
            if (++changed >= 5 * this.referrerAttempts) break;
            continue;
          }
        }
        try {
          await this.putManifestOnce(repo, tag, next.bytes, next.mediaType);
        } catch (e) {
          if (!isBlobRace(e)) throw e;
          if (++blobFailures >= this.manifestPutAttempts) throw gaveUp(e, blobFailures);
          await sleep(blobRaceDelay(blobFailures));
          await reread();
          continue;
        }
        window = performance.now() - readAt;
      }
      // A writer that read before our PUT may still overwrite it: check now and again after a pause.
      // Its window is its own GET→PUT time, about ours against the same registry and machine, so the
      // pause scales with what we just measured; the floor covers a PUT that distribution is slow to
      // apply (its fsyncs: up to ~250 ms measured with ten signers on a loaded 2-core machine).
      await reread();
      if (allPresent(current.entries)) {
        await sleep(Math.min(5000, Math.max(250, 4 * window)) * (1 + Math.random()));
        await reread();
        if (allPresent(current.entries)) return;
      }
      if (++overwritten >= this.referrerAttempts) break;
      await sleep(Math.random() * 40 * overwritten);
      await reread();
    }
    throw new SignetError('CONFLICT', `could not update ${repositoryName(repo)}:${tag}: other writers kept replacing it (${overwritten + changed} attempts)`);
  }
}

/** How `appendToList` reads, compares and rebuilds one kind of list manifest. */
export interface ListCodec<E> {
  accept?: string[];
  parse(m: Manifest): E[];
  same(a: E, b: E): boolean;
  /**
   * Build the manifest for these entries. `blobs`: the blobs it references that this writer holds
   * (a config, its own layers), uploaded before the PUT unless the registry has them, and again
   * unconditionally after the registry called one unknown.
   */
  build(entries: E[]): Promise<BuiltList> | BuiltList;
}

export interface BuiltList {
  bytes: Buffer;
  mediaType: string;
  blobs?: Buffer[];
}

type ListQueue<E> = Array<{ entries: E[]; resolve: () => void; reject: (e: unknown) => void }>;

function fallbackIndexCodec(what: string): ListCodec<Descriptor> {
  return {
    accept: [MEDIA_TYPE.ociIndex],
    parse: (m) => indexManifests(m.json, what),
    same: (a, b) => a.digest === b.digest,
    build: (entries) => ({
      bytes: serializeIndex([...entries].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0))),
      mediaType: MEDIA_TYPE.ociIndex,
    }),
  };
}

export { RegistryHttpError };
