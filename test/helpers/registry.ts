/**
 * Test harness: a real CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1, with
 * anonymous, htpasswd (basic) or token auth and optional TLS, plus helpers that push small random
 * images and indexes through our own RegistryClient.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MEDIA_TYPE, sha256Digest, type Descriptor, type RegistryClient, type Repo } from '../../src/oci/index.js';
import { startTokenServer, type TokenServer } from './token-server.js';
import { aptInstall } from './apt.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface RunningRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  url: string;
  username?: string;
  password?: string;
  caCertFile?: string;
  tokenServer?: TokenServer;
  /** The filesystem storage driver's root directory (tests that reproduce a storage state). */
  dataDir: string;
  /** The registry's output so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  auth?: 'none' | 'basic' | 'token';
  tls?: boolean;
  /** With tls: a PEM file of CAs; the registry then requires a client certificate they issued (mutual TLS). */
  clientCas?: string;
  /** Token auth only: anonymous callers may pull. */
  anonymousPull?: boolean;
  /** Token auth only: token lifetime in seconds. */
  tokenExpiresIn?: number;
}

function ensureInstalled(bin: string, pkg: string): void {
  if (existsSync(bin)) return;
  aptInstall(pkg);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  ensureInstalled(REGISTRY_BIN, 'docker-registry');
  const auth = opts.auth ?? 'none';
  const dir = mkdtempSync(join(tmpdir(), 'signet-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  let caCertFile: string | undefined;
  if (opts.tls) {
    const key = join(dir, 'tls-key.pem');
    caCertFile = join(dir, 'tls-cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', caCertFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], {
      stdio: 'ignore',
    });
    lines.push('  tls:', `    certificate: ${caCertFile}`, `    key: ${key}`);
    if (opts.clientCas) lines.push('    clientcas:', `      - ${opts.clientCas}`);
  }
  let username: string | undefined;
  let password: string | undefined;
  let tokenServer: TokenServer | undefined;
  if (auth === 'basic') {
    ensureInstalled('/usr/bin/htpasswd', 'apache2-utils');
    username = 'user-' + randomBytes(3).toString('hex');
    password = randomBytes(12).toString('hex');
    // Cost 5 keeps bcrypt checks fast; tests authenticate many times.
    const entry = execFileSync('htpasswd', ['-Bbn', '-C', '5', username, password], { encoding: 'utf8' }).trim();
    writeFileSync(join(dir, 'htpasswd'), entry + '\n');
    lines.push('auth:', '  htpasswd:', '    realm: signet-test', `    path: ${join(dir, 'htpasswd')}`);
  } else if (auth === 'token') {
    tokenServer = await startTokenServer({ dir, anonymousPull: opts.anonymousPull, expiresIn: opts.tokenExpiresIn });
    username = tokenServer.username;
    password = tokenServer.password;
    lines.push('auth:', '  token:', `    realm: ${tokenServer.realm}`, `    service: ${tokenServer.service}`, `    issuer: ${tokenServer.issuer}`, `    rootcertbundle: ${tokenServer.certFile}`);
  }
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, lines.join('\n') + '\n');

  let output = '';
  const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  let exited = false;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      resolve();
    }),
  );

  const cleanup = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitPromise;
      clearTimeout(timer);
    }
    await tokenServer?.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 15_000;
  while (!(await canConnect(port))) {
    if (exited || Date.now() > deadline) {
      await cleanup();
      throw new Error(`docker-registry did not start on ${host}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 15));
  }
  return {
    host,
    url: `${opts.tls ? 'https' : 'http'}://${host}`,
    username,
    password,
    caCertFile,
    tokenServer,
    dataDir: join(dir, 'data'),
    log: () => output,
    stop: cleanup,
  };
}

export interface PushedImage {
  digest: string;
  size: number;
  mediaType: string;
  manifest: Buffer;
  config: Descriptor;
  layer: Descriptor;
  /** Descriptor of the manifest, usable as a referrer subject. */
  descriptor: Descriptor;
}

/** Push a small random OCI image (config + one layer + manifest), tagged when `tag` is given. */
export async function pushRandomImage(client: RegistryClient, repo: Repo, tag?: string, platform?: { os: string; architecture: string }): Promise<PushedImage> {
  const configBytes = Buffer.from(
    JSON.stringify({ architecture: platform?.architecture ?? 'amd64', os: platform?.os ?? 'linux', rootfs: { type: 'layers', diff_ids: [] }, created: new Date().toISOString(), nonce: randomBytes(8).toString('hex') }),
  );
  const layerBytes = randomBytes(256 + Math.floor(Math.random() * 256));
  const config = await client.putBlob(repo, configBytes);
  const layer = await client.putBlob(repo, layerBytes);
  const configDesc: Descriptor = { mediaType: MEDIA_TYPE.ociConfig, digest: config.digest, size: config.size };
  const layerDesc: Descriptor = { mediaType: MEDIA_TYPE.ociLayerGzip, digest: layer.digest, size: layer.size };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: configDesc, layers: [layerDesc] }));
  const digest = sha256Digest(manifest);
  await client.putManifest(repo, tag ?? digest, manifest, MEDIA_TYPE.ociManifest);
  const descriptor: Descriptor = { mediaType: MEDIA_TYPE.ociManifest, digest, size: manifest.length };
  return { digest, size: manifest.length, mediaType: MEDIA_TYPE.ociManifest, manifest, config: configDesc, layer: layerDesc, descriptor };
}

export interface PushedIndex {
  digest: string;
  size: number;
  index: Buffer;
  images: PushedImage[];
  descriptor: Descriptor;
}

/** Push a two-platform index (linux/amd64 and linux/arm64), tagged `tag`. */
export async function pushIndex(client: RegistryClient, repo: Repo, tag: string): Promise<PushedIndex> {
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
  ];
  const images = await Promise.all(platforms.map((p) => pushRandomImage(client, repo, undefined, p)));
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: images.map((img, i) => ({ mediaType: img.mediaType, digest: img.digest, size: img.size, platform: platforms[i] })),
    }),
  );
  const digest = await client.putManifest(repo, tag, index, MEDIA_TYPE.ociIndex);
  return { digest, size: index.length, index, images, descriptor: { mediaType: MEDIA_TYPE.ociIndex, digest, size: index.length } };
}
