/**
 * The log's web explorer: static assets (plain ES modules, no build step, nothing loaded from elsewhere)
 * served at `/` and `/explorer/<version>/…`, plus the two small JSON endpoints the Rekor APIs lack: the
 * entries per minute and a search by a public key's fingerprint. Everything else the page needs (search,
 * entries with their inclusion proofs, the checkpoint, the log key) comes from the Rekor v1 API, and the
 * page checks every proof itself.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SignetError } from '../../errors.js';
import { v1EntryId } from '../../rekor/index.js';
import type { TransparencyLog } from '../log/types.js';
import { HttpError, type Reply, type RequestContext, type Router } from '../http/router.js';

/** The assets ship in the package as they are written (src/server/explorer/assets; see package.json `files`). */
export const ASSET_DIR = new URL('../../../../src/server/explorer/assets/', import.meta.url);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Nothing but this origin: no remote scripts, styles, images or connections, no framing, no inline code. */
export const EXPLORER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': EXPLORER_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function loadAssets(): { assets: Map<string, Asset>; version: string; index: Asset } {
  try {
    return readAssets();
  } catch (e) {
    throw new SignetError('IO', `the explorer's files are missing from the package (${fileURLToPath(ASSET_DIR)}): ${(e as Error).message}`, { cause: e });
  }
}

function readAssets(): { assets: Map<string, Asset>; version: string; index: Asset } {
  const assets = new Map<string, Asset>();
  const all = createHash('sha256');
  const names = readdirSync(ASSET_DIR).filter((n) => n !== 'index.html' && TYPES[n.slice(n.lastIndexOf('.'))] !== undefined).sort();
  for (const name of names) {
    const body = readFileSync(new URL(name, ASSET_DIR));
    const digest = createHash('sha256').update(body).digest('hex');
    all.update(name).update('\0').update(digest);
    assets.set(name, { body, type: TYPES[name.slice(name.lastIndexOf('.'))]!, etag: `"${digest.slice(0, 32)}"` });
  }
  // One version for the whole set: the modules import each other by relative paths, so they move together.
  const version = all.digest('hex').slice(0, 16);
  const html = readFileSync(new URL('index.html', ASSET_DIR), 'utf8').replaceAll('{{ASSETS}}', `/explorer/${version}`);
  const body = Buffer.from(html, 'utf8');
  return { assets, version, index: { body, type: TYPES['.html']!, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` } };
}

function serve(ctx: RequestContext, a: Asset, cacheControl: string): Reply {
  const headers = { ...SECURITY_HEADERS, 'content-type': a.type, 'cache-control': cacheControl, etag: a.etag };
  const inm = ctx.headers['if-none-match'];
  if (typeof inm === 'string' && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === a.etag)) return { status: 304, headers };
  return { status: 200, headers, body: a.body };
}

const json = (body: unknown): Reply => ({ status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' }, body: JSON.stringify(body) });

/** The first index whose integrated time is at least `t` (integrated times grow with the index), or `size`. */
async function firstAtOrAfter(log: TransparencyLog, size: number, t: number): Promise<number> {
  let lo = 0;
  let hi = size;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const e = await log.entryByIndex(mid);
    if (e && e.integratedTime >= t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const SEARCH_RESULT_LIMIT = 10_000;

export function registerExplorerRoutes(router: Router, log: TransparencyLog): void {
  const { assets, version, index } = loadAssets();

  router.add('GET', '/', '/', (ctx) => serve(ctx, index, 'no-cache'));
  router.add('GET', '/explorer/{version}/{asset}', /^\/explorer\/(?<version>[0-9a-f]{16})\/(?<name>[a-z0-9-]+\.[a-z]+)$/, (ctx) => {
    const a = assets.get(ctx.params.name!);
    if (!a || ctx.params.version !== version) throw new HttpError(404, `no such explorer asset: ${ctx.path.slice(0, 200)}`);
    // Versioned by the content of the whole set: never changes under this URL.
    return serve(ctx, a, 'public, max-age=31536000, immutable');
  });

  router.add('GET', '/api/explorer/v1/stats', '/api/explorer/v1/stats', async () => {
    const cp = await log.checkpoint();
    const now = Math.floor(Date.now() / 1000);
    const last = cp.size > 0 ? await log.entryByIndex(cp.size - 1) : null;
    const since = async (seconds: number): Promise<number> => cp.size - (await firstAtOrAfter(log, cp.size, now - seconds));
    const [m1, m10, m60] = [await since(60), await since(600), await since(3600)];
    return json({
      treeSize: cp.size,
      latestIntegratedTime: last?.integratedTime ?? null,
      entriesPerMinute: { lastMinute: m1, last10Minutes: m10 / 10, lastHour: m60 / 60 },
    });
  });

  // Rekor indexes a key under the hex SHA-256 of its canonical PEM (the fingerprint the entry page shows);
  // index/retrieve only takes the key itself.
  router.add('GET', '/api/explorer/v1/fingerprint/{sha256}', /^\/api\/explorer\/v1\/fingerprint\/(?<fp>[^/]*)$/, async (ctx) => {
    const fp = ctx.params.fp!.toLowerCase().replace(/^sha256:/, '');
    if (!/^[0-9a-f]{64}$/.test(fp)) throw new HttpError(400, 'a key fingerprint is 64 hex digits (SHA-256 of the key\'s PEM)');
    const indices = (await log.search(fp)).slice(0, SEARCH_RESULT_LIMIT);
    const ids: string[] = [];
    for (const i of indices) {
      const e = await log.entryByIndex(i);
      if (e) ids.push(v1EntryId(log.treeId, e.body, e.leafHash));
    }
    return json(ids);
  });
}
