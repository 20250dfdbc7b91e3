/**
 * The public-good trust material through TUF (@sigstore/tuf over tuf-js), and a pinned copy of the
 * production trusted_root.json taken from @sigstore/tuf's seeds (verified TUF target data shipped in
 * the package), so verification against the public-good instance works with no network at all.
 * @sigstore/tuf and tuf-js (~50 modules) are imported only inside initialize(): the pinned root is
 * read straight from the package's seeds.json, and most commands never refresh TUF metadata.
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SignetError } from '../errors.js';
import { FILE_LIMITS, ioError, readFileLimited, writeFileAtomic } from '../fsutil.js';
import { netOptions, raceSignal } from '../net.js';
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
  /** TUF repository URL; default the public-good CDN. */
  mirror?: string;
  /** A trusted TUF root.json to start from; needed for any mirror but the public-good one. */
  root?: string;
  /** Cache directory; default $TUF_ROOT or ~/.sigstore/root. */
  cacheDir?: string;
  /**
   * Per-request bound, the whole request (tuf-js's fetcher takes one total timeout, no signal); default 10 s.
   * 30 s would be the library-wide default, but TUF files are small and there are several per refresh.
   */
  timeoutMs?: number;
  /**
   * Ends the wait (the command's deadline); default: the one set by withNetOptions, if any. @sigstore/tuf
   * takes no signal, so a request in flight then runs on, unobserved, until its own timeout.
   */
  signal?: AbortSignal;
  /** Retries per request; default 2. */
  retries?: number;
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
    throw new SignetError('USAGE', `--mirror ${JSON.stringify(mirror)} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new SignetError('USAGE', `--mirror ${mirror} is not an http(s) URL`);
  return mirror.replace(/\/+$/, '');
}

async function checkRootFile(path: string): Promise<void> {
  const text = (await readFileLimited(path, FILE_LIMITS.small, `TUF root ${path}`)).toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new SignetError('MALFORMED', `TUF root ${path} is not JSON`);
  }
  const signed = (doc as { signed?: { _type?: unknown } })?.signed;
  if (signed?._type !== 'root') throw new SignetError('MALFORMED', `TUF root ${path} is not TUF root metadata (signed._type is not "root")`);
}

/**
 * Refresh TUF metadata from the mirror and fetch trusted_root.json (and signing_config.v0.2.json if
 * published), as `cosign initialize` does. Records the mirror in CACHE/remote.json.
 */
export async function initialize(opts: TufOptions = {}): Promise<TufResult> {
  const mirror = checkMirror(opts.mirror ?? DEFAULT_TUF_MIRROR);
  const cacheDir = opts.cacheDir ?? defaultTufCacheDir();
  if (opts.root !== undefined) await checkRootFile(opts.root);
  else if (!seedFor(mirror)) {
    try {
      await fs.access(join(cacheDir, encodeURIComponent(new URL(mirror).host + new URL(mirror).pathname.replace(/\/$/, '')), 'root.json'));
    } catch {
      throw new SignetError('USAGE', `no trusted TUF root for ${mirror}: pass --root with its root.json`);
    }
  }
  try {
    await fs.mkdir(cacheDir, { recursive: true });
  } catch (e) {
    throw ioError(`TUF cache ${cacheDir}`, e);
  }
  let trustedRootText: string;
  let signingConfigText: string | undefined;
  const { initTUF, TUFError } = await import('@sigstore/tuf');
  const { signal } = netOptions({ signal: opts.signal });
  async function refresh(): Promise<[string, string | undefined]> {
    const client = await initTUF({
      mirrorURL: mirror,
      cachePath: cacheDir,
      ...(opts.root !== undefined ? { rootPath: opts.root, force: true } : {}),
      retry: { retries: opts.retries ?? 2, minTimeout: 200, maxTimeout: 2000 } as never,
      timeout: opts.timeoutMs ?? 10_000,
    });
    const root = await client.getTarget(TRUSTED_ROOT_TARGET);
    try {
      return [root, await client.getTarget(SIGNING_CONFIG_TARGET)];
    } catch (e) {
      if (!(e instanceof TUFError && e.code === 'TUF_FIND_TARGET_ERROR')) throw e;
      return [root, undefined];
    }
  }
  try {
    [trustedRootText, signingConfigText] = await raceSignal(refresh(), signal, `updating TUF metadata from ${mirror}`);
  } catch (e) {
    if (e instanceof SignetError) throw e;
    if (e instanceof TUFError && e.code === 'TUF_FIND_TARGET_ERROR') {
      throw new SignetError('NOT_FOUND', `the TUF repository at ${mirror} has no ${TRUSTED_ROOT_TARGET}`);
    }
    const io = (e as NodeJS.ErrnoException)?.code;
    if (io === 'EACCES' || io === 'EPERM' || io === 'ENOENT' || io === 'ENOTDIR') throw ioError(`TUF cache ${cacheDir}`, e);
    throw new SignetError('NETWORK', `cannot update TUF metadata from ${mirror}: ${deepestMessage(e)}`, { cause: e });
  }
  const trustedRootBytes = Buffer.from(trustedRootText, 'utf8');
  const out: TufResult = { mirror, cacheDir, trustedRootBytes, trustedRoot: parseTrustedRoot(trustedRootBytes) };
  if (signingConfigText !== undefined) {
    out.signingConfigBytes = Buffer.from(signingConfigText, 'utf8');
    out.signingConfig = parseSigningConfig(out.signingConfigBytes);
  }
  await writeFileAtomic(join(cacheDir, 'remote.json'), JSON.stringify({ mirror }) + '\n');
  return out;
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
