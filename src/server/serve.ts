/**
 * `signet serve`: the whole private Sigstore behind one HTTP listener — the transparency log (both
 * Rekor APIs), the Fulcio-compatible CA, the RFC 3161 TSA and, only when asked for, the development
 * OIDC issuer — plus the trusted root and signing config a client needs to use and verify them.
 */
import type { KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SignetError } from '../errors.js';
import { sigstoreKeyDetails } from '../keys/index.js';
import { writeFileAtomic } from '../fsutil.js';
import { buildSigningConfig, checkServiceUrl, serializeSigningConfig } from '../sigstore/signing-config.js';
import { noteKeyHash } from '../tlog/index.js';
import { type CertificateAuthority, type TokenVerifier, type TrustedRootCertificateAuthority, createCa } from './ca/index.js';
import { Metrics, Router, createHttpServer, listenOn } from './http/server.js';
import { registerRekorRoutes } from './http/rekor.js';
import { CheckpointCosigning, type WitnessEndpoint } from './witness/cosigning.js';
import { registerExplorerRoutes } from './explorer/routes.js';
import { mountServiceRoutes } from './http/services.js';
import { isLoopbackAddress } from './routes.js';
import { ecdsaBackend } from '../rekor/ecdsa.js';
import { threadPoolVerifier, verifierPool } from './http/verify-pool.js';
import { openLog } from './log/index.js';
import type { TransparencyLog } from './log/types.js';
import { type DevIssuer, type OidcConfig, OidcError, OidcVerifier, createDevIssuer } from './oidc/index.js';
import { TIMESTAMP_PATH, type Tsa, createTsa } from './tsa/index.js';
import { publishTufRepository, type PublishedTufRepository } from './tuf/index.js';

export const TRUSTED_ROOT_FILE = 'trusted_root.json';
export const SIGNING_CONFIG_FILE = 'signing_config.json';
export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';

/** What the CA answers for every token when no issuer is configured. */
export const NO_ISSUER_MESSAGE = 'no OIDC issuer is configured; start with --oidc-issuers FILE or --dev-oidc';

export interface StartServerOptions {
  dataDir: string;
  /** `host:port` (port 0 picks a free one); default 127.0.0.1:3000. */
  listen?: string;
  /**
   * The URL clients use to reach this server, written into trusted_root.json and signing_config.json
   * (and naming the default log origin). Default `http://<listen host>:<port>`, where a wildcard listen
   * address (0.0.0.0, ::) becomes the machine's hostname.
   */
  publicUrl?: string;
  /** undefined/'embedded' or a postgres:// URL. */
  storage?: string;
  /** The log signing key; default: generated once into DIR/log.key. */
  logKey?: KeyObject;
  /** Strict checkpoint origin; default for a new log: `<public URL hostname> - <treeId>`. */
  origin?: string;
  /** Issuers the CA accepts tokens from (Fulcio's config shape, see oidc/config.ts). */
  oidcIssuers?: OidcConfig;
  /**
   * Run the development OIDC issuer under /oidc and trust it. Never on a shared server: refused unless
   * the listen address and the public URL are loopback (127.0.0.0/8, ::1, localhost).
   */
  devOidc?: boolean;
  /** Allow devOidc on any address (serve --dev-oidc-insecure-any-address): anyone who can reach it can mint tokens. */
  devOidcInsecureAnyAddress?: boolean;
  /** CA issuing key (KeyObject or PEM, cosign-encrypted allowed with caKeyPassword) with its chain. */
  caKey?: KeyObject | string;
  caKeyPassword?: Uint8Array;
  caCert?: string;
  /** TSA signing key (KeyObject or PEM) with its chain (PEM, leaf first). */
  tsaKey?: KeyObject | string;
  tsaChain?: string;
  /**
   * Highest Rekor API version the signing config offers (default 1). Clients pick the highest listed
   * version, and v2 entries carry no integrated time, so with 2 every keyless signature also needs the
   * TSA's timestamp (which the signing config always lists).
   */
  rekorApiVersion?: 1 | 2;
  /**
   * Worker threads that verify log submissions (0: on the event loop). Default: none, with signature
   * checks and SETs on the libuv thread pool, where the native ECDSA addon is built; else one per core.
   */
  verifyWorkers?: number;
  /** Nice steps below the event loop for the thread-pool threads that verify and sign (0..19; default 10). */
  poolNice?: number;
  /** Largest request body (default 4 MiB). */
  maxBodyBytes?: number;
  /** Embedded log: checked full tiles kept in memory (serve --tile-cache, in MiB there; 8 KiB each). */
  cachedTiles?: number;
  /** Most connections open at once (serve --max-connections); default from the descriptor limit. */
  maxConnections?: number;
  /** Header and whole-request timeouts in ms (defaults: http/limits.ts). */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Request log sink; false silences it (tests). Default stderr. */
  requestLog?: { write(line: string): unknown } | false;
  /** Witnesses that cosign the log's checkpoints (serve --witness URL,VKEY). */
  witnesses?: WitnessEndpoint[];
  /**
   * With witnesses: cosignatures a checkpoint needs to be published (default 1), and whether a write's
   * answer waits for such a checkpoint covering its entry (serve --witness-quorum N sets both).
   */
  witnessQuorum?: number;
  waitForWitnesses?: boolean;
  /** Time between cosigning rounds while no write waits (default 1 s). */
  witnessIntervalMs?: number;
  /** Where cosigning problems are reported (default stderr). */
  warn?: (line: string) => void;
}

export interface RunningServer {
  /** The public URL (--public-url, or the listen address). */
  url: string;
  /** The port it listens on (useful with port 0 and a public URL that names another). */
  port: number;
  trustedRootPath: string;
  signingConfigPath: string;
  /** The root.json of the TUF repository served under /tuf (clients: `signet initialize --mirror URL/tuf --root …`). */
  tufRootPath: string;
  log: TransparencyLog;
  ca: CertificateAuthority;
  tsa: Tsa;
  /** Present with devOidc. */
  devIssuer?: DevIssuer;
  /** Stops accepting connections, lets in-flight requests (and their batches) finish, closes the log. */
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new SignetError('USAGE', `--listen ${JSON.stringify(listen)} is not HOST:PORT (e.g. 127.0.0.1:3000, [::1]:3000, :3000)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** The host part of the default public URL: the listen host, or this machine's name for a wildcard. */
function defaultPublicHost(listenHost: string): string {
  if (listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '') return hostname();
  return listenHost.includes(':') ? `[${listenHost}]` : listenHost;
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and the name localhost: addresses only this machine reaches. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return h === 'localhost' || isLoopbackAddress(h);
}

/** Validates --public-url: absolute http(s), no credentials, query or fragment; no trailing slash. */
export function parsePublicUrl(v: string): string {
  const url = checkServiceUrl(v, '--public-url', (msg) => {
    throw new SignetError('USAGE', msg);
  });
  return url;
}

export interface TrustedRootServices {
  certificateAuthorities?: TrustedRootCertificateAuthority[];
  timestampAuthorities?: unknown[];
}

/**
 * The trusted root listing this log (and the CA and TSA when given). For an ECDSA key one tlog entry
 * covers both APIs (v1 logID and the v2 checkpoint key ID are both SHA-256 of the SPKI); an Ed25519
 * key's C2SP key ID differs, so v2 entries get a second tlog entry with the same key. `start` is kept
 * from an earlier file for the same key. No ctlogs: the CA has no CT log, so verifiers must not demand SCTs.
 */
export function buildTrustedRoot(log: TransparencyLog, baseUrl: string, start: string, services: TrustedRootServices = {}): Record<string, unknown> {
  const spki = log.publicKey.export({ format: 'der', type: 'spki' });
  const name = log.origin.split(' - ')[0]!.trim();
  const ids = [log.logId, Buffer.from(noteKeyHash(name, log.publicKey))].filter((id, i, all) => all.findIndex((o) => o.equals(id)) === i);
  return {
    mediaType: TRUSTED_ROOT_MEDIA_TYPE,
    tlogs: ids.map((id) => ({
      baseUrl,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: spki.toString('base64'), keyDetails: sigstoreKeyDetails(log.publicKey), validFor: { start } },
      logId: { keyId: id.toString('base64') },
    })),
    certificateAuthorities: services.certificateAuthorities ?? [],
    ctlogs: [],
    timestampAuthorities: services.timestampAuthorities ?? [],
  };
}

/**
 * signing_config.json (v0.2) for this server. Rekor v1 is always listed; v2 only when asked for,
 * because clients use the highest listed version (see selectServices) and a v2 entry has no
 * integrated time, which makes every keyless signature depend on the TSA.
 */
export function buildServerSigningConfig(o: { url: string; devOidc: boolean; rekorApiVersion: 1 | 2; start: Date; operator?: string }): string {
  const cfg = buildSigningConfig({
    caUrl: o.url,
    ...(o.devOidc ? { oidcUrl: o.url + '/oidc' } : {}),
    rekorUrl: o.url,
    rekorVersion: 1,
    tsaUrl: o.url + TIMESTAMP_PATH,
    start: o.start,
    ...(o.operator !== undefined ? { operator: o.operator } : {}),
  });
  if (o.rekorApiVersion === 2) cfg.rekorTlogUrls.push({ ...cfg.rekorTlogUrls[0]!, majorApiVersion: 2 });
  return serializeSigningConfig(cfg);
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

/** Refuses every token: the CA runs, but nobody can get a certificate until an issuer is configured. */
const noIssuerVerifier: TokenVerifier = {
  config: { issuers: [], metaIssuers: [] },
  verify: async () => {
    throw new OidcError('unknown_issuer', NO_ISSUER_MESSAGE);
  },
};

function mergeIssuers(file: OidcConfig | undefined, dev: DevIssuer | undefined): OidcConfig | undefined {
  if (!dev) return file;
  const base = file ?? { issuers: [], metaIssuers: [] };
  const clash = base.issuers.find((i) => dev.issuerConfigs.some((d) => d.issuerUrl === i.issuerUrl));
  if (clash) {
    throw new SignetError('USAGE', `the OIDC issuers file already configures ${clash.issuerUrl}, a development issuer's URL; drop it or --dev-oidc`);
  }
  return { issuers: [...base.issuers, ...dev.issuerConfigs], metaIssuers: base.metaIssuers };
}

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const listen = opts.listen ?? '127.0.0.1:3000';
  const { host, port } = parseListen(listen);
  const publicUrlOpt = opts.publicUrl !== undefined ? parsePublicUrl(opts.publicUrl) : undefined;
  const rekorApiVersion = opts.rekorApiVersion ?? 1;
  if (rekorApiVersion !== 1 && rekorApiVersion !== 2) throw new SignetError('USAGE', `Rekor API version ${String(rekorApiVersion)} is not 1 or 2`);
  if (opts.maxConnections !== undefined && (!Number.isSafeInteger(opts.maxConnections) || opts.maxConnections < 1)) {
    throw new SignetError('USAGE', `the connection limit must be a positive integer, got ${String(opts.maxConnections)}`);
  }
  if (opts.devOidc && !opts.devOidcInsecureAnyAddress) {
    // The token endpoint trusts a loopback peer; on any other address (or behind a proxy on this host,
    // which the public URL betrays) anyone could mint a token for any email.
    if (!isLoopbackHost(host)) {
      throw new SignetError(
        'USAGE',
        `--dev-oidc lets anyone who reaches it mint a token for any email, so it runs only on a loopback --listen address (127.0.0.1, [::1], localhost), not ${JSON.stringify(listen)}; --dev-oidc-insecure-any-address overrides this`,
      );
    }
    if (publicUrlOpt !== undefined && !isLoopbackHost(new URL(publicUrlOpt).hostname)) {
      throw new SignetError(
        'USAGE',
        `--dev-oidc lets anyone who reaches it mint a token for any email, so it runs only for a loopback --public-url, not ${publicUrlOpt} (a proxy in front of it makes every client look local); --dev-oidc-insecure-any-address overrides this`,
      );
    }
  }
  // Known before listening (only the port may still be open): a new log names itself after it.
  const publicHost = publicUrlOpt !== undefined ? new URL(publicUrlOpt).hostname : defaultPublicHost(host);

  // The port first: a server that cannot listen must leave no keys, logs or files behind.
  const metrics = new Metrics();
  const router = new Router();
  let markReady!: () => void;
  let markFailed!: (e: unknown) => void;
  const ready = new Promise<void>((res, rej) => {
    markReady = res;
    markFailed = rej;
  });
  ready.catch(() => undefined);
  let url = '';
  const server = createHttpServer({
    router,
    metrics,
    ready,
    publicUrl: () => url,
    ...(opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {}),
    ...(opts.maxConnections !== undefined ? { maxConnections: opts.maxConnections } : {}),
    ...(opts.headersTimeoutMs !== undefined ? { headersTimeoutMs: opts.headersTimeoutMs } : {}),
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
    ...(opts.requestLog !== undefined ? { log: opts.requestLog } : {}),
  });
  const addr = await listenOn(server, host, port, listen);
  url = publicUrlOpt ?? `http://${publicHost}:${addr.port}`;

  let entryVerifier: ReturnType<typeof verifierPool> | undefined;
  let log: TransparencyLog | undefined;
  let cosigning: CheckpointCosigning | undefined;
  let tuf: PublishedTufRepository | undefined;
  const closeAll = async (): Promise<void> => {
    tuf?.stop();
    // Writes waiting for witnesses are answered (503) first, so that closing does not wait out their timeout.
    const cosigned = cosigning?.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // close() waits for in-flight requests; idle keep-alive sockets are dropped right away.
    server.closeIdleConnections();
    await closed;
    await cosigned;
    await entryVerifier?.close();
    await log?.close();
  };

  // The CA needs a verifier now, but the dev issuer exists only once the URL is known.
  let verifier: TokenVerifier = noIssuerVerifier;
  const oidc: TokenVerifier = {
    get config() {
      return verifier.config;
    },
    verify: (token) => verifier.verify(token),
  };
  const trustedRootPath = join(opts.dataDir, TRUSTED_ROOT_FILE);
  const signingConfigPath = join(opts.dataDir, SIGNING_CONFIG_FILE);
  let ca: CertificateAuthority;
  let tsa: Tsa;
  let devIssuer: DevIssuer | undefined;
  try {
    try {
      await fs.mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new SignetError('IO', `cannot create the data directory ${opts.dataDir}: ${(e as Error).message}`, { cause: e });
    }
    ca = await createCa({
      dataDir: opts.dataDir,
      oidc,
      ...(opts.caKey !== undefined ? { caKey: opts.caKey } : {}),
      ...(opts.caKeyPassword !== undefined ? { caKeyPassword: opts.caKeyPassword } : {}),
      ...(opts.caCert !== undefined ? { caCert: opts.caCert } : {}),
    });
    tsa = await createTsa({
      dataDir: join(opts.dataDir, 'tsa'),
      ...(opts.tsaKey !== undefined ? { key: opts.tsaKey } : {}),
      ...(opts.tsaChain !== undefined ? { chain: opts.tsaChain } : {}),
    });
    const openedLog = await openLog({
      dataDir: opts.dataDir,
      ...(opts.storage !== undefined ? { storage: opts.storage } : {}),
      ...(opts.logKey !== undefined ? { signingKey: opts.logKey } : {}),
      ...(opts.origin !== undefined ? { origin: opts.origin } : {}),
      ...(opts.cachedTiles !== undefined ? { cachedTiles: opts.cachedTiles } : {}),
      defaultOrigin: (treeId: bigint) => `${publicHost} - ${treeId}`,
    });
    log = openedLog;
    entryVerifier =
      opts.verifyWorkers === undefined && ecdsaBackend.name === 'native'
        ? threadPoolVerifier({ signingKey: openedLog.signingKey, ...(opts.poolNice !== undefined ? { poolNice: opts.poolNice } : {}) })
        : verifierPool(opts.verifyWorkers, { signingKey: openedLog.signingKey });
    if (opts.witnesses && opts.witnesses.length > 0) {
      cosigning = new CheckpointCosigning(openedLog, opts.witnesses, {
        quorum: opts.witnessQuorum ?? 1,
        ...(opts.witnessIntervalMs !== undefined ? { intervalMs: opts.witnessIntervalMs } : {}),
        warn: opts.warn ?? ((line) => process.stderr.write(`${JSON.stringify({ level: 'warn', msg: line })}\n`)),
      });
      const c = cosigning;
      metrics.addGauge({ name: 'signet_witness_cosigned_size', help: 'Tree size of the newest checkpoint cosigned by a quorum of witnesses.', type: 'gauge', value: () => c.metrics().cosignedSize });
      metrics.addGauge({ name: 'signet_witness_failures_total', help: 'Witness requests that failed.', type: 'counter', value: () => c.metrics().failures });
    }
    registerRekorRoutes(router, openedLog, {
      metrics,
      verifier: entryVerifier,
      ...(cosigning ? { witnesses: { latest: () => cosigning!.latest(), waitFor: (n: number) => cosigning!.waitFor(n), waitForQuorum: !!opts.waitForWitnesses } } : {}),
    });
    registerExplorerRoutes(router, openedLog);
    mountServiceRoutes(router, ca.routes);
    mountServiceRoutes(router, tsa.routes());

    if (opts.devOidc) {
      devIssuer = await createDevIssuer({ dataDir: opts.dataDir, serverUrl: url });
      mountServiceRoutes(router, devIssuer.routes);
    }
    const issuers = mergeIssuers(opts.oidcIssuers, devIssuer);
    if (issuers && issuers.issuers.length + issuers.metaIssuers.length > 0) verifier = new OidcVerifier(issuers);

    const spkiB64 = openedLog.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const start = (await previousStart(trustedRootPath, spkiB64)) ?? new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const root = buildTrustedRoot(openedLog, url, start, {
      certificateAuthorities: [ca.trustedRootCertificateAuthority(url)],
      timestampAuthorities: [tsa.trustedRootTimestampAuthority(url + TIMESTAMP_PATH)],
    });
    const rootText = JSON.stringify(root, null, 2) + '\n';
    const signingConfigText = buildServerSigningConfig({ url, devOidc: !!opts.devOidc, rekorApiVersion, start: new Date(start) });
    await writeFileAtomic(trustedRootPath, rootText);
    await writeFileAtomic(signingConfigPath, signingConfigText);
    tuf = await publishTufRepository(router, {
      dir: join(opts.dataDir, 'tuf'),
      targets: { 'trusted_root.json': Buffer.from(rootText), 'signing_config.v0.2.json': Buffer.from(signingConfigText) },
      warn: opts.warn ?? ((line) => process.stderr.write(`${JSON.stringify({ level: 'warn', msg: line })}\n`)),
    });
  } catch (e) {
    markFailed(e);
    await closeAll();
    throw e;
  }
  markReady();
  cosigning?.start();

  let closing: Promise<void> | undefined;
  return {
    url,
    port: addr.port,
    trustedRootPath,
    signingConfigPath,
    tufRootPath: tuf!.rootPath,
    log,
    ca,
    tsa,
    ...(devIssuer ? { devIssuer } : {}),
    close: () => (closing ??= closeAll()),
  };
}
