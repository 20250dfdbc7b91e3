/**
 * A TUF repository for the server's own trust material (trusted_root.json, signing_config.v0.2.json),
 * so clients bootstrap with `signet initialize --mirror <url>/tuf --root <url>/tuf/root.json` (or
 * cosign's own `initialize`) instead of copying files by hand. Metadata is built and signed with
 * @tufjs/models (canonical JSON and signature checks are the library's, not ours); one Ed25519 key per
 * top-level role is created once in DATA/tuf/keys.json. Layout under DATA/tuf/repo, as TUF clients
 * fetch it (consistent snapshots): N.root.json and root.json, N.targets.json, N.snapshot.json,
 * timestamp.json, targets/<sha256>.<name>. Every `ensure` re-signs only what changed or nears expiry,
 * with versions one higher, so clients that cached older metadata update cleanly.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { canonicalize } from '@tufjs/canonical-json';
import { Key, Metadata, MetaFile, MetadataKind, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
import { SignetError } from '../../errors.js';
import { ioError, readTextIfExists, writeFileAtomic } from '../../fsutil.js';
import type { Reply, Router } from '../http/router.js';

const ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
type RoleName = (typeof ROLES)[number];
const DAY = 86_400_000;
const SPEC_VERSION = '1.0.31';

/** How long each role's metadata stays valid; re-signed when less than half of it is left. */
export const DEFAULT_LIFETIMES: Record<RoleName, number> = {
  root: 365 * DAY,
  targets: 90 * DAY,
  snapshot: 14 * DAY,
  timestamp: 7 * DAY,
};

export interface TufRepositoryOptions {
  /** DATA/tuf: keys.json and repo/ live here. */
  dir: string;
  /** Target name → bytes (e.g. trusted_root.json, signing_config.v0.2.json). */
  targets: Record<string, Buffer>;
  /** The signing time (tests move it to make metadata that is already expired). */
  now?: Date;
  lifetimes?: Partial<Record<RoleName, number>>;
}

export interface TufRepositoryState {
  /** DATA/tuf/repo: serve this directory as the mirror. */
  repoDir: string;
  /** The current root.json (give it to clients as `--root`). */
  rootPath: string;
  versions: Record<RoleName, number>;
}

interface RoleKey {
  key: Key;
  priv: KeyObject;
}

function tufKey(pub: KeyObject): Key {
  const raw = pub.export({ format: 'der', type: 'spki' }).subarray(-32);
  const body = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: raw.toString('hex') } };
  const keyID = createHash('sha256').update(canonicalize(body)).digest('hex');
  return new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: raw.toString('hex') } });
}

async function loadOrCreateKeys(dir: string): Promise<Record<RoleName, RoleKey>> {
  const path = join(dir, 'keys.json');
  const text = await readTextIfExists(path);
  let pems: Record<string, string>;
  if (text === undefined) {
    pems = {};
    for (const r of ROLES) pems[r] = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await writeFileAtomic(path, JSON.stringify(pems, null, 2) + '\n', 0o600);
  } else {
    try {
      pems = JSON.parse(text) as Record<string, string>;
    } catch {
      throw new SignetError('MALFORMED', `${path} is not JSON`);
    }
  }
  const out = {} as Record<RoleName, RoleKey>;
  for (const r of ROLES) {
    const pem = pems[r];
    if (typeof pem !== 'string') throw new SignetError('MALFORMED', `${path} has no ${r} key`);
    let priv: KeyObject;
    try {
      priv = createPrivateKey(pem);
    } catch {
      throw new SignetError('MALFORMED', `${path}: the ${r} key does not parse`);
    }
    if (priv.asymmetricKeyType !== 'ed25519') throw new SignetError('MALFORMED', `${path}: the ${r} key is not Ed25519`);
    out[r] = { key: tufKey(createPublicKey(priv)), priv };
  }
  return out;
}

function signWith(k: RoleKey): (data: Buffer) => Signature {
  return (data) => new Signature({ keyID: k.key.keyID, sig: cryptoSign(null, data, k.priv).toString('hex') });
}

function expiry(now: Date, ms: number): string {
  return new Date(now.getTime() + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** True when less than half of the lifetime is left (or the metadata is for other keys). */
function stale(expires: string, now: Date, lifetime: number): boolean {
  return new Date(expires).getTime() - now.getTime() < lifetime / 2;
}

async function readMeta(path: string): Promise<Record<string, unknown> | undefined> {
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new SignetError('MALFORMED', `${path} is not JSON`);
  }
}

const bytesOf = (m: Metadata<Root | Targets | Snapshot | Timestamp>): Buffer => Buffer.from(JSON.stringify(m.toJSON(), null, 1) + '\n', 'utf8');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * Brings DATA/tuf/repo up to date with `targets`: creates keys and root on first use, and re-signs
 * targets, snapshot and timestamp when a target changed or their validity runs low.
 */
export async function ensureTufRepository(o: TufRepositoryOptions): Promise<TufRepositoryState> {
  const now = o.now ?? new Date();
  const life = { ...DEFAULT_LIFETIMES, ...o.lifetimes };
  const repoDir = join(o.dir, 'repo');
  try {
    await fs.mkdir(join(repoDir, 'targets'), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw ioError(`TUF repository ${repoDir}`, e);
  }
  const keys = await loadOrCreateKeys(o.dir);

  // Root: version 1 on first use; a new version (same keys) when it nears expiry.
  const rootJson = await readMeta(join(repoDir, 'root.json'));
  let root = rootJson ? Metadata.fromJSON(MetadataKind.Root, rootJson as never) : undefined;
  const rootKeysMatch = root !== undefined && ROLES.every((r) => root!.signed.roles[r]?.keyIDs.includes(keys[r].key.keyID));
  if (root && !rootKeysMatch) {
    throw new SignetError('CONFLICT', `${join(o.dir, 'keys.json')} does not hold the keys of the published root.json: restore it, or remove ${o.dir} to start a new TUF repository`);
  }
  if (!root || stale(root.signed.expires, now, life.root)) {
    const signed = new Root({ version: (root?.signed.version ?? 0) + 1, specVersion: SPEC_VERSION, expires: expiry(now, life.root), consistentSnapshot: true });
    for (const r of ROLES) signed.addKey(keys[r].key, r);
    const next = new Metadata(signed);
    next.sign(signWith(keys.root), false);
    const b = bytesOf(next);
    await writeFileAtomic(join(repoDir, `${signed.version}.root.json`), b);
    await writeFileAtomic(join(repoDir, 'root.json'), b);
    root = next;
  }

  // Targets: the wanted files with their hashes.
  const tsJson = await readMeta(join(repoDir, 'timestamp.json'));
  let timestamp = tsJson ? Metadata.fromJSON(MetadataKind.Timestamp, tsJson as never) : undefined;
  const snapJson = timestamp ? await readMeta(join(repoDir, `${timestamp.signed.snapshotMeta.version}.snapshot.json`)) : undefined;
  let snapshot = snapJson ? Metadata.fromJSON(MetadataKind.Snapshot, snapJson as never) : undefined;
  const targetsVersion = snapshot?.signed.meta['targets.json']?.version;
  const tJson = targetsVersion !== undefined ? await readMeta(join(repoDir, `${targetsVersion}.targets.json`)) : undefined;
  let targets = tJson ? Metadata.fromJSON(MetadataKind.Targets, tJson as never) : undefined;

  const wanted = Object.entries(o.targets).map(([name, data]) => new TargetFile({ path: name, length: data.length, hashes: { sha256: sha256(data) } }));
  for (const [name, data] of Object.entries(o.targets)) {
    const p = join(repoDir, 'targets', `${sha256(data)}.${name}`);
    if ((await readTextIfExists(p)) === undefined) await writeFileAtomic(p, data);
  }
  const sameTargets =
    targets !== undefined &&
    Object.keys(targets.signed.targets).length === wanted.length &&
    wanted.every((t) => targets!.signed.targets[t.path]?.equals(t)) &&
    targets.signatures[keys.targets.key.keyID] !== undefined;
  let changed = false;
  if (!targets || !sameTargets || stale(targets.signed.expires, now, life.targets)) {
    const signed = new Targets({ version: (targets?.signed.version ?? 0) + 1, specVersion: SPEC_VERSION, expires: expiry(now, life.targets) });
    for (const t of wanted) signed.addTarget(t);
    targets = new Metadata(signed);
    targets.sign(signWith(keys.targets), false);
    await writeFileAtomic(join(repoDir, `${signed.version}.targets.json`), bytesOf(targets));
    changed = true;
  }
  if (changed || !snapshot || stale(snapshot.signed.expires, now, life.snapshot) || snapshot.signatures[keys.snapshot.key.keyID] === undefined) {
    const signed = new Snapshot({
      version: (snapshot?.signed.version ?? 0) + 1,
      specVersion: SPEC_VERSION,
      expires: expiry(now, life.snapshot),
      meta: { 'targets.json': new MetaFile({ version: targets.signed.version }) },
    });
    snapshot = new Metadata(signed);
    snapshot.sign(signWith(keys.snapshot), false);
    await writeFileAtomic(join(repoDir, `${signed.version}.snapshot.json`), bytesOf(snapshot));
    changed = true;
  }
  if (changed || !timestamp || stale(timestamp.signed.expires, now, life.timestamp) || timestamp.signatures[keys.timestamp.key.keyID] === undefined) {
    const signed = new Timestamp({
      version: (timestamp?.signed.version ?? 0) + 1,
      specVersion: SPEC_VERSION,
      expires: expiry(now, life.timestamp),
      snapshotMeta: new MetaFile({ version: snapshot.signed.version }),
    });
    timestamp = new Metadata(signed);
    timestamp.sign(signWith(keys.timestamp), false);
    await writeFileAtomic(join(repoDir, 'timestamp.json'), bytesOf(timestamp));
  }
  return {
    repoDir,
    rootPath: join(repoDir, 'root.json'),
    versions: { root: root.signed.version, targets: targets.signed.version, snapshot: snapshot.signed.version, timestamp: timestamp.signed.version },
  };
}

/** Path prefix the repository is served under. */
export const TUF_PATH = '/tuf';

const FILE_NAME = /^(?:[0-9]+\.(?:root|snapshot|targets)\.json|root\.json|timestamp\.json|targets\/[0-9a-f]{64}\.[A-Za-z0-9_.-]+)$/;

/** GET /tuf/<file>: the repository's files as they are on disk (404 for anything else). */
export function registerTufRoutes(router: Router, repoDir: string): void {
  router.add('GET', `${TUF_PATH}/{file}`, new RegExp(`^${TUF_PATH}/(?<file>.+)$`), async (ctx): Promise<Reply> => {
    const file = ctx.params.file ?? '';
    const notFound: Reply = { status: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 404, message: `no TUF file ${file}` }) };
    if (!FILE_NAME.test(file) || file.includes('..')) return notFound;
    let data: Buffer;
    try {
      data = await fs.readFile(join(repoDir, file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return notFound;
      throw e;
    }
    // timestamp.json and root.json change in place; versioned files never do.
    const cache = file === 'timestamp.json' || file === 'root.json' ? 'no-cache' : 'public, max-age=300';
    return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': cache }, body: data };
  });
}

export interface PublishedTufRepository extends TufRepositoryState {
  /** Re-signs now (the timer does this every few hours; tests call it directly). */
  refresh(): Promise<TufRepositoryState>;
  stop(): void;
}

/**
 * Builds the repository, serves it under /tuf, and re-checks its validity every 6 hours so a server
 * that runs for weeks keeps a fresh timestamp. A failed re-sign is reported through `warn`, and the
 * published files stay as they were.
 */
export async function publishTufRepository(
  router: Router,
  o: TufRepositoryOptions & { warn?: (line: string) => void; intervalMs?: number },
): Promise<PublishedTufRepository> {
  const state = await ensureTufRepository(o);
  registerTufRoutes(router, state.repoDir);
  const refresh = (): Promise<TufRepositoryState> => ensureTufRepository({ ...o, now: new Date() });
  const timer = setInterval(() => {
    refresh().catch((e: unknown) => o.warn?.(`re-signing the TUF repository failed: ${(e as Error).message}`));
  }, o.intervalMs ?? 6 * 3_600_000);
  timer.unref();
  return { ...state, refresh, stop: () => clearInterval(timer) };
}
