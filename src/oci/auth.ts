/**
 * Registry credentials: explicit flags first, then the Docker config (`auths`, `credHelpers`,
 * `credsStore`), else anonymous. Secrets never appear in error messages.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { SignetError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { DOCKER_HUB, parseReference } from './reference.js';

export type Credentials =
  | { kind: 'anonymous' }
  | { kind: 'basic'; username: string; password: string }
  /** A ready bearer token (`--registry-token`): sent as is, no token exchange. */
  | { kind: 'token'; token: string }
  /** An OAuth2 refresh token from `docker login` against a token server (`identitytoken`). */
  | { kind: 'identity'; username?: string; identityToken: string };

export interface ExplicitCredentials {
  username?: string;
  password?: string;
  token?: string;
}

/** The key Docker uses for Docker Hub in config.json and for credential helpers. */
export const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';

export function dockerConfigPath(): string {
  const dir = process.env.DOCKER_CONFIG || join(homedir(), '.docker');
  return join(dir, 'config.json');
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [k: string]: unknown;
}

async function readDockerConfig(path: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SignetError('IO', `cannot read Docker config ${path}: ${(e as Error).message}`);
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not a JSON object');
    return doc as DockerConfig;
  } catch (e) {
    throw new SignetError('MALFORMED', `Docker config ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** `https://host/v1/`, `http://host`, `host` → `host`; Hub aliases → index.docker.io. */
function normalizeServer(key: string): string {
  let s = key.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = s.indexOf('/');
  if (slash >= 0) s = s.slice(0, slash);
  s = s.toLowerCase();
  if (s === 'docker.io' || s === 'registry-1.docker.io') return DOCKER_HUB;
  return s;
}

/** The server string Docker hands to credential helpers and uses as the `auths` key. */
export function configKeyFor(registry: string): string {
  return normalizeServer(registry) === DOCKER_HUB ? DOCKER_HUB_CONFIG_KEY : registry;
}

function findEntry<T>(map: Record<string, T> | undefined, registry: string): T | undefined {
  if (!map || typeof map !== 'object') return undefined;
  if (Object.hasOwn(map, registry)) return map[registry];
  const want = normalizeServer(registry);
  for (const [k, v] of Object.entries(map)) if (normalizeServer(k) === want) return v;
  return undefined;
}

function fromAuthEntry(entry: NonNullable<DockerConfig['auths']>[string], registry: string, path: string): Credentials | undefined {
  if (!entry || typeof entry !== 'object') return undefined;
  let username = entry.username;
  let password = entry.password;
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw new SignetError('MALFORMED', `Docker config ${path}: the "auth" of ${registry} is not base64 of user:password`);
    username = decoded.slice(0, i);
    password = decoded.slice(i + 1);
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    return { kind: 'identity', identityToken: entry.identitytoken, ...(username ? { username } : {}) };
  }
  if (typeof username === 'string' && typeof password === 'string' && (username !== '' || password !== '')) {
    return { kind: 'basic', username, password };
  }
  return undefined;
}

/** Run `docker-credential-<helper> get`; undefined when the helper has nothing for this server. */
export function runCredentialHelper(helper: string, registry: string): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9_.-]+$/.test(helper)) {
    return Promise.reject(new SignetError('MALFORMED', `credential helper name "${helper}" is not a plain program name`));
  }
  const program = `docker-credential-${helper}`;
  const server = configKeyFor(registry);
  return new Promise((resolve, reject) => {
    const child = execFile(program, ['get'], { timeout: 30_000, maxBuffer: 1024 * 1024 }, (err, stdout) => {
      if (err) {
        const out = String(stdout ?? '').trim();
        // Helpers exit non-zero and print this exact line when they have no entry.
        if (/credentials not found/i.test(out)) return resolve(undefined);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          return reject(new SignetError('REGISTRY_AUTH', `credential helper ${program} for ${registry} is not on PATH`));
        }
        return reject(new SignetError('REGISTRY_AUTH', `credential helper ${program} failed for ${registry}: ${out.split('\n')[0] || err.message}`));
      }
      let doc: { Username?: unknown; Secret?: unknown };
      try {
        doc = JSON.parse(String(stdout)) as typeof doc;
      } catch {
        return reject(new SignetError('MALFORMED', `credential helper ${program} printed something that is not JSON`));
      }
      if (typeof doc?.Secret !== 'string' || doc.Secret === '') return resolve(undefined);
      const username = typeof doc.Username === 'string' ? doc.Username : '';
      // Docker's convention: user "<token>" means the secret is an identity (refresh) token.
      if (username === '<token>') return resolve({ kind: 'identity', identityToken: doc.Secret });
      resolve({ kind: 'basic', username, password: doc.Secret });
    });
    child.stdin?.on('error', () => {}); // a helper that exits without reading stdin must not crash us
    child.stdin?.end(server);
  });
}

/**
 * Credentials for one registry. Explicit username/password or token win; then the Docker config:
 * a credHelpers entry for the registry, else credsStore, else the `auths` entry.
 */
export async function resolveCredentials(registry: string, explicit: ExplicitCredentials = {}): Promise<Credentials> {
  if (explicit.token) return { kind: 'token', token: explicit.token };
  if (explicit.username !== undefined || explicit.password !== undefined) {
    return { kind: 'basic', username: explicit.username ?? '', password: explicit.password ?? '' };
  }
  const path = dockerConfigPath();
  const config = await readDockerConfig(path);
  if (!config) return { kind: 'anonymous' };
  const helper = findEntry(config.credHelpers, registry);
  if (typeof helper === 'string' && helper !== '') return (await runCredentialHelper(helper, registry)) ?? { kind: 'anonymous' };
  if (typeof config.credsStore === 'string' && config.credsStore !== '') {
    const fromStore = await runCredentialHelper(config.credsStore, registry);
    if (fromStore) return fromStore;
  }
  return fromAuthEntry(findEntry(config.auths, registry)!, registry, path) ?? { kind: 'anonymous' };
}

/** Write `data` to `path` through a temp file and rename, so readers never see half a file. */

/**
 * Store username/password for `server` in the Docker config (base64 `auth`), keeping every other
 * entry. Returns the path written. Docker Hub is stored under Docker's own key.
 */
export async function loginToDockerConfig(server: string, username: string, password: string): Promise<string> {
  if (!username) throw new SignetError('USAGE', 'a username is required to log in');
  if (username.includes(':')) throw new SignetError('USAGE', 'the username must not contain ":"');
  if (!password) throw new SignetError('USAGE', 'a password is required to log in');
  const host = normalizeServer(server);
  try {
    if (host === '' || parseReference(`${host}/probe`).registry !== host) throw new Error();
  } catch {
    throw new SignetError('USAGE', `"${server}" is not a registry server (expected a host name, optionally with :port)`);
  }
  const path = dockerConfigPath();
  const config = (await readDockerConfig(path)) ?? {};
  const auths = config.auths && typeof config.auths === 'object' ? { ...config.auths } : {};
  const key = host === DOCKER_HUB ? DOCKER_HUB_CONFIG_KEY : host;
  // Drop other spellings of the same server so the new credentials are the ones found.
  for (const k of Object.keys(auths)) if (k !== key && normalizeServer(k) === host) delete auths[k];
  auths[key] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  const next = { ...config, auths };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, JSON.stringify(next, null, '\t') + '\n', 0o600);
  return path;
}
