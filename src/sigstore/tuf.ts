/**
 * The public-good trust material through TUF (@sigstore/tuf over tuf-js), and a pinned copy of the
 * production trusted_root.json taken from @sigstore/tuf's seeds (verified TUF target data shipped in
 * the package), so verification against the public-good instance works with no network at all.
 * tuf-js (~50 modules) is imported only when TUF metadata is read: the pinned root is read straight
 * from @sigstore/tuf's seeds.json. After `initialize`, tufTrust gives every command the cached
 * trust material (checked against the signed metadata, offline while that is valid).
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SignetError } from '../errors.js';
import { fileURLToPath } from 'node:url';
import { FILE_LIMITS, ioError, pathExists, readFileLimited, readTextIfExists, writeFileAtomic } from '../fsutil.js';
import { httpFetch, netOptions, raceSignal, readLimited, sleep, type NetOptions } from '../net.js';
import { parseSigningConfig, type SigningConfig } from './signing-config.js';
import { parseTrustedRoot, type TrustedRoot } from './trustedroot.js';

export const DEFAULT_TUF_MIRROR = 'https://tuf-repo-cdn.sigstore.dev';
const TRUSTED_ROOT_TARGET = 'trusted_root.json';
const SIGNING_CONFIG_TARGET = 'signing_config.v0.2.json';

/** cosign's cache location: $TUF_ROOT, else ~/.sigstore/root. */
export function defaultTufCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TUF_ROOT || join(homedir(), '.sigstore', 'root');
}

interface Seed {
  'root.json': string;
  targets: Record<string, string>;
}

let seeds: Record<string, Seed> | undefined;
function seedFor(mirror: string): Seed | undefined {
  if (!seeds) {
    const require = createRequire(import.meta.url);
    seeds = require('@sigstore/tuf/seeds.json') as Record<string, Seed>;
  }
  return seeds[mirror];
}

/** The pinned production trusted_root.json bytes (as TUF delivered them; never re-serialized). */
export function publicGoodTrustedRootBytes(): Buffer {
  const b64 = seedFor(DEFAULT_TUF_MIRROR)?.targets[TRUSTED_ROOT_TARGET];
  if (!b64) throw new SignetError('INTERNAL', '@sigstore/tuf ships no pinned trusted_root.json');
  return Buffer.from(b64, 'base64');
}

export interface TufOptions {
  /** TUF repository URL (http(s):// or file://DIR); default the public-good CDN. */
  mirror?: string;
  /** A trusted TUF root.json (a file or an http(s) URL) to start from; needed for any mirror but the public-good one. */
  root?: string;
  /** Cache directory; default $TUF_ROOT or ~/.sigstore/root. */
  cacheDir?: string;
  /** Per-request bound (headers, then body idle); default 10 s. TUF files are small and there are several per refresh. */
  timeoutMs?: number;
  /** Ends the wait (the command's deadline); default: the one set by withNetOptions, if any. */
  signal?: AbortSignal;
  /** Retries per request after a network error or a 5xx; default 2. */
  retries?: number;
  /** Called with the --root bytes before they are trusted (e.g. --root-checksum). */
  checkRoot?: (bytes: Buffer, root: string) => void;
}

export interface TufResult {
  mirror: string;
  cacheDir: string;
  /** trusted_root.json exactly as the repository signed it. */
  trustedRootBytes: Buffer;
  trustedRoot: TrustedRoot;
  /** signing_config.v0.2.json when the repository publishes one. */
  signingConfigBytes?: Buffer;
  signingConfig?: SigningConfig;
}

function deepestMessage(e: unknown): string {
  let cur: unknown = e;
  let msg = String((e as Error)?.message ?? e);
  for (let i = 0; i < 8 && cur; i++) {
    const m = (cur as Error).message;
    if (typeof m === 'string' && m) msg = m;
    const code = (cur as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code) && code !== 'ERR_INVALID_ARG_TYPE') return msg.includes(code) ? msg : `${msg} (${code})`;
    cur = (cur as { cause?: unknown }).cause;
  }
  return msg;
}

function checkMirror(mirror: string): string {
  let u: URL;
  try {
    u = new URL(mirror);
  } catch {
    throw new SignetError('USAGE', `--mirror ${JSON.stringify(mirror)} is not a URL (http(s)://… or file:///DIR)`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:' && u.protocol !== 'file:') throw new SignetError('USAGE', `--mirror ${mirror} is not an http(s):// or file:// URL`);
  return mirror.replace(/\/+$/, '');
}

/** The cache directory of one mirror, as @sigstore/tuf lays it out (root.json … and targets/). */
function mirrorCacheDir(cacheDir: string, mirror: string): string {
  const u = new URL(mirror);
  return join(cacheDir, encodeURIComponent(u.host + u.pathname.replace(/\/$/, '')));
}

const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** The --root bytes, from a file or an http(s) URL, checked to be TUF root metadata. */
async function readRoot(spec: string, net: NetOptions): Promise<Buffer> {
  let bytes: Buffer;
  if (isUrl(spec)) {
    let res: Response;
    try {
      res = await httpFetch(spec, {}, net);
    } catch (e) {
      if (e instanceof SignetError) throw e;
      throw new SignetError('NETWORK', `cannot fetch the TUF root ${spec}: ${deepestMessage(e)}`, { cause: e });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new SignetError(res.status === 404 ? 'NOT_FOUND' : 'NETWORK', `cannot fetch the TUF root ${spec}: HTTP ${res.status}`);
    }
    bytes = await readLimited(res, FILE_LIMITS.small, `TUF root ${spec}`);
  } else {
    bytes = await readFileLimited(spec, FILE_LIMITS.small, `TUF root ${spec}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', `TUF root ${spec} is not JSON`);
  }
  const signed = (doc as { signed?: { _type?: unknown } })?.signed;
  if (signed?._type !== 'root') throw new SignetError('MALFORMED', `TUF root ${spec} is not TUF root metadata (signed._type is not "root")`);
  return bytes;
}

type TufModules = { Updater: typeof import('tuf-js').Updater; BaseFetcher: typeof import('tuf-js').BaseFetcher; DownloadHTTPError: new (message: string, statusCode: number) => Error };

let tufModules: Promise<TufModules> | undefined;
/** tuf-js (~50 modules) is loaded only when TUF metadata is read. */
function loadTuf(): Promise<TufModules> {
  tufModules ??= (async () => {
    const tuf = await import('tuf-js');
    const errors = (await import('tuf-js/dist/error.js' as string)) as { DownloadHTTPError: TufModules['DownloadHTTPError'] };
    return { Updater: tuf.Updater, BaseFetcher: tuf.BaseFetcher, DownloadHTTPError: errors.DownloadHTTPError };
  })();
  return tufModules;
}

/**
 * tuf-js's fetcher over file:// (a directory mirror) and httpFetch (timeouts, the command's signal).
 * A missing file is an HTTP 404 to tuf-js: that is how it learns there is no newer root.
 */
async function makeFetcher(m: TufModules, net: NetOptions, retries: number): Promise<InstanceType<TufModules['BaseFetcher']>> {
  class SignetFetcher extends m.BaseFetcher {
    override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
      if (url.startsWith('file:')) {
        let data: Buffer;
        try {
          data = await fs.readFile(fileURLToPath(url));
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' || code === 'ENOTDIR') throw new m.DownloadHTTPError(`${url} does not exist`, 404);
          throw e;
        }
        return new Blob([new Uint8Array(data)]).stream() as ReadableStream<Uint8Array<ArrayBuffer>>;
      }
      for (let attempt = 0; ; attempt++) {
        let res: Response;
        try {
          res = await httpFetch(url, { headers: { 'user-agent': 'signet-tuf' } }, net);
        } catch (e) {
          if (attempt < retries && !(e instanceof SignetError)) {
            await sleep(200 * 2 ** attempt, net.signal);
            continue;
          }
          throw e;
        }
        if (res.ok && res.body) return res.body as ReadableStream<Uint8Array<ArrayBuffer>>;
        await res.body?.cancel();
        if (res.status >= 500 && attempt < retries) {
          await sleep(200 * 2 ** attempt, net.signal);
          continue;
        }
        throw new m.DownloadHTTPError(`${url}: HTTP ${res.status}`, res.status);
      }
    }
  }
  return new SignetFetcher();
}

/** With --offline, any fetch means the cache is not enough: say so instead of going to the network. */
function offlineFetcher(m: TufModules, mirror: string): InstanceType<TufModules['BaseFetcher']> {
  class OfflineFetcher extends m.BaseFetcher {
    override fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
      return Promise.reject(
        new SignetError('VERIFICATION', `--offline: the cached TUF metadata of ${mirror} is expired or incomplete (it needs ${url.slice(mirror.length + 1)}); run signet initialize again, or pass --trusted-root`),
      );
    }
  }
  return new OfflineFetcher();
}

/** One line for what tuf-js threw, naming the mirror. */
function tufError(e: unknown, mirror: string, cacheDir: string): SignetError {
  if (e instanceof SignetError) return e;
  const kind = (e as Error)?.constructor?.name ?? '';
  const msg = deepestMessage(e);
  switch (kind) {
    case 'ExpiredMetadataError':
      return new SignetError('VERIFICATION', `the TUF metadata from ${mirror} has expired (${msg}): the repository must re-sign it`, { cause: e });
    case 'UnsignedMetadataError':
      return new SignetError('VERIFICATION', `the TUF metadata from ${mirror} is not signed by the trusted TUF root (${msg}): is --root the root of this repository?`, { cause: e });
    case 'LengthOrHashMismatchError':
    case 'DownloadLengthMismatchError':
      return new SignetError('VERIFICATION', `a file from the TUF repository ${mirror} does not match its signed TUF metadata (${msg}): refusing it`, { cause: e });
    case 'BadVersionError':
    case 'EqualVersionError':
      return new SignetError('VERIFICATION', `the TUF repository ${mirror} served metadata older than the cached one (${msg}): refusing a rollback`, { cause: e });
    case 'DownloadHTTPError': {
      const status = (e as { statusCode?: number }).statusCode;
      if (status === 404) return new SignetError('NOT_FOUND', `no TUF repository at ${mirror} (${msg})`, { cause: e });
      return new SignetError('NETWORK', `cannot update TUF metadata from ${mirror}: ${msg}`, { cause: e });
    }
    case 'ValueError':
    case 'RepositoryError':
    case 'TypeError':
      if (!(e as NodeJS.ErrnoException).code && kind !== 'TypeError') return new SignetError('MALFORMED', `the TUF repository ${mirror} served unusable metadata: ${msg}`, { cause: e });
  }
  const io = (e as NodeJS.ErrnoException)?.code;
  if (io === 'EACCES' || io === 'EPERM' || io === 'ENOTDIR' || io === 'EROFS') return ioError(`TUF cache ${cacheDir}`, e);
  if (kind === 'SyntaxError') return new SignetError('MALFORMED', `the TUF repository ${mirror} (or the cache ${cacheDir}) holds metadata that is not JSON: ${msg}`, { cause: e });
  return new SignetError('NETWORK', `cannot update TUF metadata from ${mirror}: ${msg}`, { cause: e });
}

interface FetchTargetsOptions {
  mirror: string;
  cacheDir: string;
  /** Use cached metadata while it is valid (no network); else refresh from the mirror first. */
  forceCache: boolean;
  net: NetOptions;
  retries: number;
  /** Never fetch: cached metadata must be valid and complete. */
  offline?: boolean;
}

/** trusted_root.json and signing_config.v0.2.json (if published) through tuf-js: every byte checked against signed metadata. */
async function fetchTargets(o: FetchTargetsOptions): Promise<[string, string | undefined]> {
  const m = await loadTuf();
  const dir = mirrorCacheDir(o.cacheDir, o.mirror);
  const updater = new m.Updater({
    metadataBaseUrl: o.mirror,
    targetBaseUrl: `${o.mirror}/targets`,
    metadataDir: dir,
    targetDir: join(dir, 'targets'),
    forceCache: o.forceCache,
    fetcher: o.offline ? offlineFetcher(m, o.mirror) : await makeFetcher(m, o.net, o.retries),
  });
  const get = async (name: string): Promise<string | undefined> => {
    const info = await updater.getTargetInfo(name);
    if (!info) return undefined;
    const path = (await updater.findCachedTarget(info)) ?? (await updater.downloadTarget(info));
    return fs.readFile(path, 'utf8');
  };
  const root = await get(TRUSTED_ROOT_TARGET);
  if (root === undefined) throw new SignetError('NOT_FOUND', `the TUF repository at ${o.mirror} has no ${TRUSTED_ROOT_TARGET}`);
  return [root, await get(SIGNING_CONFIG_TARGET)];
}

function toResult(mirror: string, cacheDir: string, trustedRootText: string, signingConfigText: string | undefined): TufResult {
  const trustedRootBytes = Buffer.from(trustedRootText, 'utf8');
  const out: TufResult = { mirror, cacheDir, trustedRootBytes, trustedRoot: parseTrustedRoot(trustedRootBytes) };
  if (signingConfigText !== undefined) {
    out.signingConfigBytes = Buffer.from(signingConfigText, 'utf8');
    out.signingConfig = parseSigningConfig(out.signingConfigBytes);
  }
  return out;
}

/**
 * Refresh TUF metadata from the mirror and fetch trusted_root.json (and signing_config.v0.2.json if
 * published), as `cosign initialize` does. Records the mirror in CACHE/remote.json, so later commands
 * take their trust material from this cache (see tufTrust).
 */
export async function initialize(opts: TufOptions = {}): Promise<TufResult> {
  const mirror = checkMirror(opts.mirror ?? DEFAULT_TUF_MIRROR);
  const cacheDir = opts.cacheDir ?? defaultTufCacheDir();
  const { signal } = netOptions({ signal: opts.signal });
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const net: NetOptions = { ...(signal ? { signal } : {}), timeouts: { headersMs: timeoutMs, bodyIdleMs: timeoutMs } };
  const dir = mirrorCacheDir(cacheDir, mirror);
  const rootBytes = opts.root !== undefined ? await readRoot(opts.root, net) : undefined;
  if (rootBytes) opts.checkRoot?.(rootBytes, opts.root!);
  const seed = seedFor(mirror);
  const cachedRoot = await pathExists(join(dir, 'root.json'));
  if (!rootBytes && !seed && !cachedRoot) throw new SignetError('USAGE', `no trusted TUF root for ${mirror}: pass --root with its root.json (a file or URL), or set TUF_ROOT_JSON`);
  try {
    await fs.mkdir(join(dir, 'targets'), { recursive: true });
    if (rootBytes) {
      // A new starting root: metadata cached under the old one must not be trusted.
      for (const f of ['timestamp.json', 'snapshot.json', 'targets.json']) await fs.rm(join(dir, f), { force: true });
      await writeFileAtomic(join(dir, 'root.json'), rootBytes);
    } else if (!cachedRoot && seed) {
      await writeFileAtomic(join(dir, 'root.json'), Buffer.from(seed['root.json'], 'base64'));
    }
  } catch (e) {
    throw ioError(`TUF cache ${cacheDir}`, e);
  }
  let texts: [string, string | undefined];
  try {
    texts = await raceSignal(fetchTargets({ mirror, cacheDir, forceCache: false, net, retries: opts.retries ?? 2 }), signal, `updating TUF metadata from ${mirror}`);
  } catch (e) {
    throw tufError(e, mirror, cacheDir);
  }
  const out = toResult(mirror, cacheDir, texts[0], texts[1]);
  await writeFileAtomic(join(cacheDir, 'remote.json'), JSON.stringify({ mirror }) + '\n');
  return out;
}

/**
 * The trust material of an initialized TUF cache, for every command after `initialize`: the mirror is
 * $TUF_MIRROR, else the one CACHE/remote.json records. Cached metadata is used while it is valid (no
 * network), as cosign does; expired metadata is refreshed from the mirror. A cached target whose bytes
 * no longer match the signed metadata is fetched again and checked, never used. Undefined when nothing
 * was initialized (callers then use the pinned public-good root).
 */
export async function tufTrust(opts: { env?: NodeJS.ProcessEnv; cacheDir?: string; signal?: AbortSignal; offline?: boolean } = {}): Promise<TufResult | undefined> {
  const env = opts.env ?? process.env;
  const cacheDir = opts.cacheDir ?? defaultTufCacheDir(env);
  let mirror = env.TUF_MIRROR || undefined;
  if (!mirror) {
    const remote = await readTextIfExists(join(cacheDir, 'remote.json')).catch(() => undefined);
    if (remote === undefined) return undefined;
    try {
      mirror = (JSON.parse(remote) as { mirror?: unknown }).mirror as string;
    } catch {
      throw new SignetError('MALFORMED', `${join(cacheDir, 'remote.json')} is not JSON: run signet initialize again`);
    }
    if (typeof mirror !== 'string') throw new SignetError('MALFORMED', `${join(cacheDir, 'remote.json')} names no mirror: run signet initialize again`);
  }
  mirror = checkMirror(mirror);
  if (!(await pathExists(join(mirrorCacheDir(cacheDir, mirror), 'root.json')))) {
    if (opts.offline) throw new SignetError('USAGE', `--offline: the TUF cache ${cacheDir} holds nothing for ${mirror}; run signet initialize first, or pass --trusted-root`);
    // TUF_MIRROR without an initialized cache: initialize now, from TUF_ROOT_JSON or the pinned seed.
    return initialize({ mirror, cacheDir, ...(env.TUF_ROOT_JSON ? { root: env.TUF_ROOT_JSON } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  }
  const { signal } = netOptions({ signal: opts.signal });
  const net: NetOptions = { ...(signal ? { signal } : {}), timeouts: { headersMs: 10_000, bodyIdleMs: 10_000 } };
  let texts: [string, string | undefined];
  try {
    texts = await raceSignal(fetchTargets({ mirror, cacheDir, forceCache: true, net, retries: 2, offline: opts.offline === true }), signal, `reading TUF metadata of ${mirror}`);
  } catch (e) {
    const err = tufError(e, mirror, cacheDir);
    if (err.message.includes('run signet initialize again')) throw err;
    throw new SignetError(err.code, `${err.message} (TUF cache ${cacheDir}; run signet initialize again, or pass --trusted-root)`, { cause: e });
  }
  return toResult(mirror, cacheDir, texts[0], texts[1]);
}

export interface PublicGoodOptions extends Omit<TufOptions, 'mirror' | 'root'> {
  /** Use the pinned copy only; no network. */
  offline?: boolean;
}

/** The public-good trusted root: through TUF, or with `offline` the pinned copy. */
export async function loadPublicGoodTrustedRoot(opts: PublicGoodOptions = {}): Promise<TrustedRoot> {
  if (opts.offline) return parseTrustedRoot(publicGoodTrustedRootBytes());
  return (await initialize({ ...opts, mirror: DEFAULT_TUF_MIRROR })).trustedRoot;
}

export interface ServiceFlags {
  /** --use-signing-config (default true): take the services from a signing config when there is one. */
  useSigningConfig?: boolean;
  /** --signing-config FILE. */
  signingConfig?: string;
  tlogUpload: boolean;
  rekorUrl?: string;
  fulcioUrl?: string;
  timestampServerUrl?: string;
}

/** Where the signing config in play comes from, and its bytes when it came from the TUF cache. */
export type SigningConfigSource = { kind: 'file'; path: string } | { kind: 'tuf'; mirror: string; bytes: Buffer };

/**
 * cosign v3's rules for where a signer's services come from. A signing config is in play when
 * --signing-config names one, or (with --use-signing-config, the default) when `initialize` left one in
 * the TUF cache. Then the service URL flags (--rekor-url, --fulcio-url, --timestamp-server-url) and
 * --tlog-upload=false are refused, as cosign refuses them: the config alone decides, and a config
 * without logs is how to sign without one. With no signing config in play the flags apply as given.
 */
export async function signingConfigInPlay(f: ServiceFlags): Promise<SigningConfigSource | undefined> {
  let src: SigningConfigSource | undefined;
  if (f.signingConfig) src = { kind: 'file', path: f.signingConfig };
  else if (f.useSigningConfig !== false) {
    const t = await tufTrust();
    if (t?.signingConfigBytes) src = { kind: 'tuf', mirror: t.mirror, bytes: t.signingConfigBytes };
  }
  if (!src) return undefined;
  const given = (
    [
      ['--rekor-url', f.rekorUrl],
      ['--fulcio-url', f.fulcioUrl],
      ['--timestamp-server-url', f.timestampServerUrl],
    ] as const
  )
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k]) => k);
  if (given.length > 0) {
    throw new SignetError(
      'USAGE',
      src.kind === 'file'
        ? `${given.join(', ')} and --signing-config cannot be used together (cosign: cannot specify service URLs and use signing config): put the services in the signing config`
        : `cannot use ${given.join(', ')} with the signing config from TUF (${src.mirror}): pass --use-signing-config=false to use the flags instead`,
    );
  }
  if (!f.tlogUpload) {
    throw new SignetError(
      'USAGE',
      src.kind === 'file'
        ? '--tlog-upload=false is not supported with --signing-config: give a signing config without rekorTlogUrls (signet signing-config create --base-config FILE --no-default-rekor … ) instead'
        : `--tlog-upload=false is not supported with the signing config from TUF (${src.mirror}): pass --use-signing-config=false, or --signing-config with a config without rekorTlogUrls`,
    );
  }
  return src;
}
