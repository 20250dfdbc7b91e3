/**
 * `signet serve`: the transparency log (both Rekor APIs) behind one HTTP listener, plus the trusted root
 * a client needs to verify what the log hands out. Later services (CA, TSA) register their routes on the
 * same Router and add their entries to the same trusted root.
 */
import type { KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SignetError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { noteKeyHash } from '../tlog/index.js';
import { Metrics, Router, createHttpServer } from './http/server.js';
import { registerRekorRoutes } from './http/rekor.js';
import { openLog } from './log/index.js';
import type { TransparencyLog } from './log/types.js';

export const TRUSTED_ROOT_FILE = 'trusted_root.json';
export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';

export interface StartServerOptions {
  dataDir: string;
  /** `host:port` (port 0 picks a free one); default 127.0.0.1:3000. */
  listen?: string;
  /** undefined/'embedded' or a postgres:// URL. */
  storage?: string;
  /** The log signing key; default: generated once into DIR/log.key. */
  logKey?: KeyObject;
  origin?: string;
  /** Largest request body (default 4 MiB). */
  maxBodyBytes?: number;
  /** Request log sink; false silences it (tests). Default stderr. */
  requestLog?: { write(line: string): unknown } | false;
}

export interface RunningServer {
  url: string;
  trustedRootPath: string;
  log: TransparencyLog;
  /** Stops accepting connections, lets in-flight requests (and their batches) finish, closes the log. */
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new SignetError('USAGE', `--listen ${JSON.stringify(listen)} is not HOST:PORT (e.g. 127.0.0.1:3000, [::1]:3000, :3000)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function keyDetailsFor(key: KeyObject): string {
  const t = key.asymmetricKeyType;
  if (t === 'ed25519') return 'PKIX_ED25519';
  if (t === 'ec') {
    const c = key.asymmetricKeyDetails?.namedCurve;
    if (c === 'prime256v1') return 'PKIX_ECDSA_P256_SHA_256';
    if (c === 'secp384r1') return 'PKIX_ECDSA_P384_SHA_384';
    if (c === 'secp521r1') return 'PKIX_ECDSA_P521_SHA_512';
  }
  if (t === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `PKIX_RSA_PKCS1V15_${bits}_SHA256`;
  }
  throw new SignetError('KEY_UNSUPPORTED', `the log key (${t ?? 'unknown'}) has no Sigstore PublicKeyDetails value`);
}

/**
 * The trusted root listing this log. For an ECDSA key one entry covers both APIs (v1 logID and the v2
 * checkpoint key ID are both SHA-256 of the SPKI); an Ed25519 key's C2SP key ID differs, so v2 entries
 * get a second tlog entry with the same key. `start` is kept from an earlier file for the same key.
 */
export function buildTrustedRoot(log: TransparencyLog, baseUrl: string, start: string): Record<string, unknown> {
  const spki = log.publicKey.export({ format: 'der', type: 'spki' });
  const name = log.origin.split(' - ')[0]!.trim();
  const ids = [log.logId, Buffer.from(noteKeyHash(name, log.publicKey))].filter((id, i, all) => all.findIndex((o) => o.equals(id)) === i);
  return {
    mediaType: TRUSTED_ROOT_MEDIA_TYPE,
    tlogs: ids.map((id) => ({
      baseUrl,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: spki.toString('base64'), keyDetails: keyDetailsFor(log.publicKey), validFor: { start } },
      logId: { keyId: id.toString('base64') },
    })),
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
}

async function previousStart(path: string, spkiB64: string): Promise<string | undefined> {
  try {
    const doc = JSON.parse(await fs.readFile(path, 'utf8')) as { tlogs?: Array<{ publicKey?: { rawBytes?: string; validFor?: { start?: string } } }> };
    const t = doc.tlogs?.find((l) => l.publicKey?.rawBytes === spkiB64);
    const s = t?.publicKey?.validFor?.start;
    return typeof s === 'string' && !Number.isNaN(Date.parse(s)) ? s : undefined;
  } catch {
    return undefined;
  }
}

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const { host, port } = parseListen(opts.listen ?? '127.0.0.1:3000');
  await fs.mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const log = await openLog({
    dataDir: opts.dataDir,
    ...(opts.storage !== undefined ? { storage: opts.storage } : {}),
    ...(opts.logKey !== undefined ? { signingKey: opts.logKey } : {}),
    ...(opts.origin !== undefined ? { origin: opts.origin } : {}),
  });
  const metrics = new Metrics();
  const router = new Router();
  registerRekorRoutes(router, log, { metrics });
  const server = createHttpServer({
    router,
    metrics,
    ...(opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {}),
    ...(opts.requestLog !== undefined ? { log: opts.requestLog } : {}),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await log.close();
    const err = e as NodeJS.ErrnoException;
    throw new SignetError('IO', `cannot listen on ${opts.listen ?? '127.0.0.1:3000'}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`);
  }
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost === '[::]' ? '[::1]' : shownHost}:${addr.port}`;
  const trustedRootPath = join(opts.dataDir, TRUSTED_ROOT_FILE);
  const spkiB64 = log.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const start = (await previousStart(trustedRootPath, spkiB64)) ?? new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  await writeFileAtomic(trustedRootPath, JSON.stringify(buildTrustedRoot(log, url, start), null, 2) + '\n');

  let closing: Promise<void> | undefined;
  return {
    url,
    trustedRootPath,
    log,
    close: () =>
      (closing ??= (async () => {
        // close() waits for in-flight requests; idle keep-alive sockets are dropped right away.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await closed;
        await log.close();
      })()),
  };
}
