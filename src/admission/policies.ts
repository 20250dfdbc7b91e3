/**
 * policy-controller's resources, read from files: `ClusterImagePolicy` (`policy.sigstore.dev/v1beta1`
 * and `v1alpha1`) and `TrustRoot` (`v1alpha1`), as multi-document YAML (or JSON), one file or every
 * `.yaml`/`.yml`/`.json` file of a directory. Everything is checked and compiled here — globs, keys,
 * identities, trust roots, attestation and CIP-level policies — so a bad file is an error at load that
 * names the file, the document and the field, never a surprise at admission time.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { SignetError } from '../errors.js';
import { FILE_LIMITS, readFileLimited, writeFileAtomic } from '../fsutil.js';
import { loadPublicKey, parsePublicKey, type PublicKeyInfo } from '../keys/index.js';
import { resolvePredicateType } from '../cosign/predicate.js';
import { validateIdentityPolicy, type IdentityPolicy } from '../sigstore/identity.js';
import { parseTrustedRoot, type TrustedRoot } from '../sigstore/trustedroot.js';
import { defaultTufCacheDir, initialize, loadPublicGoodTrustedRoot } from '../sigstore/tuf.js';

import { prepareTrust, type TrustMaterial } from '../sigstore/verifier.js';
import type { AttestationPolicy } from '../policy/types.js';
import { compileGlob } from './glob.js';
import { compilePolicyText, type PolicyType } from './evaluators.js';
import { sigstoreKeysToTrustedRoot } from './trustroot.js';
import { readMounted, type MountKind } from './mounts.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export const GROUP = 'policy.sigstore.dev';
const CIP_VERSIONS = new Set([`${GROUP}/v1beta1`, `${GROUP}/v1alpha1`]);
const MAX_POLICY_FILE = FILE_LIMITS.small;

export interface Trust {
  /** The TrustRoot's name, `--trusted-root`'s path, or `public-good`. */
  name: string;
  root: TrustedRoot;
  material: TrustMaterial;
  /** A TrustRoot's `spec.remote`: the SHA-256 of the trusted_root.json its mirror served. */
  remote?: string;
}

export interface AttestationRule {
  name: string;
  predicateType: string;
  policy?: AttestationPolicy;
}

export type Authority =
  | { kind: 'static'; name: string; action: 'pass' | 'fail'; message?: string }
  | {
      kind: 'key' | 'keyless';
      name: string;
      key?: PublicKeyInfo;
      /** Keyless: any one of them must match the certificate; none given: any identity the CA certified. */
      identities: IdentityPolicy[];
      trust: Trust;
      attestations: AttestationRule[];
      signatureRepository?: string;
      ignoreSct: boolean;
      useSignedTimestamps: boolean;
    };

export interface CipPolicy {
  evaluator: AttestationPolicy;
  includeSpec: boolean;
  includeObjectMeta: boolean;
  includeTypeMeta: boolean;
}

export interface ImagePolicy {
  name: string;
  /** `file#document` it came from. */
  source: string;
  globs: Array<{ glob: string; re: RegExp }>;
  authorities: Authority[];
  mode: 'enforce' | 'warn';
  policy?: CipPolicy;
  /** Hash of everything the verdict depends on (spec and trust roots): the cache key's policy half. */
  key: string;
}

export interface PolicySet {
  policies: ImagePolicy[];
  trustRoots: string[];
  /** True when a TrustRoot comes from a TUF mirror (`spec.remote`): the webhook then reloads periodically. */
  remote: boolean;
  /** The files read, for messages and for the watcher. */
  files: string[];
}

export interface LoadPoliciesOptions {
  /** `--trusted-root`: the trust root of authorities that name none (the pinned public-good root otherwise). */
  defaultTrust?: Trust;
  /** `--secrets-dir`: Secrets mounted as volumes (`DIR/<name>/<key>`), for `key.secretRef`. */
  secretsDir?: string;
  /** `--configmaps-dir`: ConfigMaps mounted as volumes (`DIR/<name>/<key>`), for `policy.configMapRef`. */
  configMapsDir?: string;
  /** Where TrustRoots with `spec.remote` keep their TUF caches (one directory each); default beside $TUF_ROOT. */
  tufCacheDir?: string;
}

/** What a ClusterImagePolicy read from mounted Secrets and ConfigMaps: their contents go into its cache key. */
interface MountCtx {
  opts: LoadPoliciesOptions;
  read: string[];
}

interface Doc {
  file: string;
  index: number;
  value: Obj;
}

/** Files a `--policies` path names: the file itself, or the YAML/JSON files of a directory (sorted, not recursive). */
export async function policyFiles(path: string): Promise<string[]> {
  let st;
  try {
    st = await fs.stat(path);
  } catch (e) {
    throw new SignetError('IO', `policies ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  if (!st.isDirectory()) return [path];
  const names = (await fs.readdir(path)).filter((n) => /\.(ya?ml|json)$/i.test(n) && !n.startsWith('.')).sort();
  return names.map((n) => join(path, n));
}

async function readDocs(file: string): Promise<Doc[]> {
  const bytes = await readFileLimited(file, MAX_POLICY_FILE, `policy file ${file}`);
  const docs = parseAllDocuments(bytes.toString('utf8'), { prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(docs)) throw new SignetError('MALFORMED', `${file}: not a YAML stream`);
  const out: Doc[] = [];
  docs.forEach((doc, i) => {
    const where = `${file} (document ${i + 1})`;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const at = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
      throw new SignetError('MALFORMED', `${where}: not valid YAML${at}: ${e.message.split('\n')[0]}`);
    }
    const v: unknown = doc.toJS({ maxAliasCount: 100 });
    if (v === null || v === undefined) return;
    if (!isObj(v)) throw new SignetError('MALFORMED', `${where}: expected a Kubernetes object (a mapping)`);
    if (v.kind === 'List' && Array.isArray(v.items)) {
      v.items.forEach((item, j) => {
        if (!isObj(item)) throw new SignetError('MALFORMED', `${where}: items[${j}] is not an object`);
        out.push({ file, index: i + 1, value: item });
      });
    } else out.push({ file, index: i + 1, value: v });
  });
  return out;
}

class Fields {
  constructor(readonly where: string) {}
  fail(field: string, msg: string): never {
    throw new SignetError('MALFORMED', `${this.where}: ${field}: ${msg}`);
  }
  obj(v: unknown, field: string): Obj {
    if (!isObj(v)) this.fail(field, 'expected an object');
    return v;
  }
  optObj(v: unknown, field: string): Obj | undefined {
    return v === undefined || v === null ? undefined : this.obj(v, field);
  }
  str(v: unknown, field: string): string {
    if (typeof v !== 'string' || v === '') this.fail(field, 'expected a non-empty string');
    return v;
  }
  optStr(v: unknown, field: string): string | undefined {
    return v === undefined || v === null || v === '' ? undefined : this.str(v, field);
  }
  list(v: unknown, field: string): unknown[] {
    if (!Array.isArray(v)) this.fail(field, 'expected a list');
    return v;
  }
  bool(v: unknown, field: string): boolean {
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') this.fail(field, 'expected true or false');
    return v;
  }
}

/** Load every policy and trust root under the `--policies` paths. Throws on the first problem, naming it. */
export async function loadPolicySet(paths: readonly string[], opts: LoadPoliciesOptions = {}): Promise<PolicySet> {
  const files = (await Promise.all(paths.map(policyFiles))).flat();
  const docs = (await Promise.all(files.map(readDocs))).flat();
  const cips: Doc[] = [];
  const roots = new Map<string, { trust: Trust; hash: string }>();
  for (const d of docs) {
    const where = `${d.file} (document ${d.index})`;
    const kind = d.value.kind;
    const apiVersion = d.value.apiVersion;
    if (kind === 'ClusterImagePolicy') {
      if (!CIP_VERSIONS.has(String(apiVersion))) throw new SignetError('MALFORMED', `${where}: apiVersion: ClusterImagePolicy must be ${GROUP}/v1beta1 or v1alpha1, got ${JSON.stringify(apiVersion)}`);
      cips.push(d);
    } else if (kind === 'TrustRoot') {
      if (apiVersion !== `${GROUP}/v1alpha1`) throw new SignetError('MALFORMED', `${where}: apiVersion: TrustRoot must be ${GROUP}/v1alpha1, got ${JSON.stringify(apiVersion)}`);
      const f: Fields = new Fields(where);
      const name = f.str(f.obj(d.value.metadata, 'metadata').name, 'metadata.name');
      if (roots.has(name)) throw new SignetError('MALFORMED', `${where}: TrustRoot ${name} is defined twice`);
      const trust = await trustRootResource(name, d.value, f, opts);
      // A remote root's hash covers what the mirror served, so a refresh that changes it drops the cached verdicts.
      roots.set(name, { trust, hash: hashOf({ spec: d.value.spec, ...(trust.remote ? { served: trust.remote } : {}) }) });
    } else {
      throw new SignetError('MALFORMED', `${where}: kind: expected ClusterImagePolicy or TrustRoot, got ${JSON.stringify(kind)}`);
    }
  }
  let defaultTrust = opts.defaultTrust;
  const defaultOf = async (): Promise<Trust> => {
    if (!defaultTrust) {
      const root = await loadPublicGoodTrustedRoot({ offline: true });
      defaultTrust = { name: 'public-good', root, material: prepareTrust(root) };
    }
    return defaultTrust;
  };
  const names = new Set<string>();
  const policies: ImagePolicy[] = [];
  for (const d of cips) {
    const p = await compileCip(d, roots, defaultOf, opts);
    if (names.has(p.name)) throw new SignetError('MALFORMED', `${p.source}: ClusterImagePolicy ${p.name} is defined twice`);
    names.add(p.name);
    policies.push(p);
  }
  return { policies, trustRoots: [...roots.keys()], remote: [...roots.values()].some((r) => r.trust.remote !== undefined), files };
}

function hashOf(v: unknown): string {
  return createHash('sha256').update(JSON.stringify(v) ?? 'null').digest('hex').slice(0, 32);
}

async function trustRootResource(name: string, o: Obj, f: Fields, opts: LoadPoliciesOptions): Promise<Trust> {
  const spec = f.obj(o.spec, 'spec');
  if (spec.sigstoreKeys !== undefined) {
    const root = parseTrustedRootOrFail(sigstoreKeysToTrustedRoot(f.obj(spec.sigstoreKeys, 'spec.sigstoreKeys'), f), f, 'spec.sigstoreKeys');
    return { name, root, material: prepareTrust(root) };
  }
  if (spec.remote !== undefined) return remoteTrustRoot(name, f, f.obj(spec.remote, 'spec.remote'), opts);
  if (spec.repository !== undefined) {
    f.fail('spec.repository', 'serialized TUF repositories are not supported; give the keys as spec.sigstoreKeys');
  }
  f.fail('spec', 'a TrustRoot needs sigstoreKeys');
}

/**
 * `spec.remote: {mirror, root, targets}`: the mirror's trusted_root.json through the TUF client, from the
 * base64 root.json given, in a cache directory of its own (named by the TrustRoot, the mirror and the
 * root, so a changed spec starts over). The first load starts from the given root; later loads (each
 * policy reload, and the webhook's periodic refresh) update from the mirror, starting from the cache.
 */
async function remoteTrustRoot(name: string, f: Fields, remote: Obj, opts: LoadPoliciesOptions): Promise<Trust> {
  const mirror = f.str(remote.mirror, 'spec.remote.mirror');
  const rootB64 = f.str(remote.root, 'spec.remote.root');
  const targets = f.optStr(remote.targets, 'spec.remote.targets');
  if (targets !== undefined && targets !== 'targets') f.fail('spec.remote.targets', `only the TUF default "targets" is supported, got ${JSON.stringify(targets)}`);
  const rootBytes = Buffer.from(rootB64, 'base64');
  if (rootBytes.length === 0 || rootBytes.toString('base64').replace(/=+$/, '') !== rootB64.replace(/\s+/g, '').replace(/=+$/, '')) f.fail('spec.remote.root', 'expected a base64 root.json');
  const base = opts.tufCacheDir ?? join(dirname(defaultTufCacheDir()), 'admission-tuf');
  const cacheDir = join(base, `${name.replace(/[^a-z0-9.-]/g, '_')}-${hashOf({ mirror, root: rootB64 }).slice(0, 16)}`);
  let result;
  try {
    const seeded = await fs.stat(join(cacheDir, 'given-root.json')).then(() => true, () => false);
    if (!seeded) {
      await fs.mkdir(cacheDir, { recursive: true });
      await writeFileAtomic(join(cacheDir, 'given-root.json.new'), rootBytes);
    }
    result = await initialize({ mirror, cacheDir, ...(seeded ? {} : { root: join(cacheDir, 'given-root.json.new') }) });
    if (!seeded) await fs.rename(join(cacheDir, 'given-root.json.new'), join(cacheDir, 'given-root.json'));
  } catch (e) {
    if (e instanceof SignetError) f.fail('spec.remote', `TUF mirror ${mirror}: ${e.message}`);
    throw e;
  }
  return { name, root: result.trustedRoot, material: prepareTrust(result.trustedRoot), remote: createHash('sha256').update(result.trustedRootBytes).digest('hex') };
}

function parseTrustedRootOrFail(json: unknown, f: Fields, field: string): TrustedRoot {
  try {
    return parseTrustedRoot(JSON.stringify(json));
  } catch (e) {
    if (e instanceof SignetError) f.fail(field, e.message);
    throw e;
  }
}

async function compileCip(d: Doc, roots: Map<string, { trust: Trust; hash: string }>, defaultOf: () => Promise<Trust>, opts: LoadPoliciesOptions): Promise<ImagePolicy> {
  const mounts: MountCtx = { opts, read: [] };
  const source = `${d.file} (document ${d.index})`;
  const f: Fields = new Fields(source);
  const name = f.str(f.obj(d.value.metadata, 'metadata').name, 'metadata.name');
  const g: Fields = new Fields(`${source}: ClusterImagePolicy ${name}`);
  const spec = g.obj(d.value.spec, 'spec');
  const images = g.list(spec.images, 'spec.images');
  if (images.length === 0) g.fail('spec.images', 'needs at least one glob');
  const globs = images.map((im, i): { glob: string; re: RegExp } => {
    const glob = g.str(g.obj(im, `spec.images[${i}]`).glob, `spec.images[${i}].glob`);
    let re: RegExp;
    try {
      re = compileGlob(glob);
    } catch (e) {
      g.fail(`spec.images[${i}].glob`, (e as Error).message);
    }
    return { glob, re };
  });
  const modeRaw: unknown = spec.mode ?? 'enforce';
  if (modeRaw !== 'enforce' && modeRaw !== 'warn') g.fail('spec.mode', `expected enforce or warn, got ${JSON.stringify(modeRaw)}`);
  const authList = g.list(spec.authorities, 'spec.authorities');
  if (authList.length === 0) g.fail('spec.authorities', 'needs at least one authority');
  const usedRoots: string[] = [];
  const authorities: Authority[] = [];
  const authNames = new Set<string>();
  for (const [i, raw] of authList.entries()) {
    const a = await compileAuthority(g, `spec.authorities[${i}]`, g.obj(raw, `spec.authorities[${i}]`), i, roots, defaultOf, usedRoots, mounts);
    if (authNames.has(a.name)) g.fail(`spec.authorities[${i}].name`, `authority name ${a.name} is used twice`);
    authNames.add(a.name);
    authorities.push(a);
  }
  let policy: CipPolicy | undefined;
  const pol = g.optObj(spec.policy, 'spec.policy');
  if (pol) {
    policy = {
      evaluator: await policyOf(g, 'spec.policy', pol, `ClusterImagePolicy ${name}`, mounts),
      includeSpec: g.bool(pol.includeSpec, 'spec.policy.includeSpec'),
      includeObjectMeta: g.bool(pol.includeObjectMeta, 'spec.policy.includeObjectMeta'),
      includeTypeMeta: g.bool(pol.includeTypeMeta, 'spec.policy.includeTypeMeta'),
    };
  }
  const defaults = await defaultOf();
  const key = hashOf({ spec, roots: usedRoots.map((r) => roots.get(r)?.hash ?? r), defaultRoot: defaults.name, mounted: mounts.read });
  return { name, source, globs, authorities, mode: modeRaw, ...(policy ? { policy } : {}), key };
}

async function policyOf(f: Fields, field: string, o: Obj, label: string, mounts: MountCtx): Promise<AttestationPolicy> {
  const type = f.str(o.type, `${field}.type`);
  if (type !== 'cue' && type !== 'rego' && type !== 'cel') f.fail(`${field}.type`, `expected cue, rego or cel, got ${JSON.stringify(type)}`);
  if (o.remote !== undefined) f.fail(`${field}.remote`, 'policies fetched from URLs are not supported; put the policy inline as data');
  let data: string;
  if (o.configMapRef !== undefined) {
    if (o.data !== undefined) f.fail(`${field}`, 'data and configMapRef cannot both be set');
    data = await mountedValue(f, `${field}.configMapRef`, o.configMapRef, 'ConfigMap', mounts);
  } else data = f.str(o.data, `${field}.data`);
  try {
    return await compilePolicyText(`${label} ${field}`, type as PolicyType, data);
  } catch (e) {
    if (e instanceof SignetError) f.fail(o.configMapRef !== undefined ? `${field}.configMapRef` : `${field}.data`, e.message);
    throw e;
  }
}

/**
 * The value a `secretRef` (`{name}`: the Secret's one key, as policy-controller reads it) or a
 * `configMapRef` (`{name, key}`; `key` may be left out when the ConfigMap has one) names, from the
 * volumes mounted under --secrets-dir / --configmaps-dir.
 */
async function mountedValue(f: Fields, field: string, raw: unknown, kind: MountKind, mounts: MountCtx): Promise<string> {
  const ref = f.obj(raw, field);
  const name = f.str(ref.name, `${field}.name`);
  const dir = kind === 'Secret' ? mounts.opts.secretsDir : mounts.opts.configMapsDir;
  const flag = kind === 'Secret' ? '--secrets-dir' : '--configmaps-dir';
  if (!dir) f.fail(field, `${kind}s are read from volumes mounted under ${flag} (signet admission does not call the Kubernetes API): mount ${kind} ${name} at DIR/${name} and pass ${flag} DIR`);
  let entries: Map<string, Buffer>;
  try {
    entries = await readMounted(dir, name, kind);
  } catch (e) {
    if (e instanceof SignetError) f.fail(field, e.message);
    throw e;
  }
  const keys = [...entries.keys()];
  let value: Buffer;
  const wanted = kind === 'ConfigMap' ? f.optStr(ref.key, `${field}.key`) : undefined;
  if (wanted !== undefined) {
    if (!entries.has(wanted)) f.fail(`${field}.key`, `${kind} ${name} has no key ${wanted} (it has ${keys.length > 0 ? keys.join(', ') : 'none'})`);
    value = entries.get(wanted)!;
  } else {
    if (keys.length === 0) f.fail(field, `${kind} ${name} has no data`);
    if (keys.length > 1) {
      f.fail(field, kind === 'Secret' ? `Secret ${name} has ${keys.length} keys (${keys.join(', ')}); it must hold exactly one, the public key` : `ConfigMap ${name} has ${keys.length} keys (${keys.join(', ')}); name one with key`);
    }
    value = entries.get(keys[0]!)!;
  }
  mounts.read.push(`${kind}/${name}:${createHash('sha256').update(value).digest('hex')}`);
  return value.toString('utf8');
}

async function compileAuthority(
  g: Fields,
  field: string,
  a: Obj,
  index: number,
  roots: Map<string, { trust: Trust; hash: string }>,
  defaultOf: () => Promise<Trust>,
  usedRoots: string[],
  mounts: MountCtx,
): Promise<Authority> {
  const name = g.optStr(a.name, `${field}.name`) ?? `authority-${index}`;
  const kinds = (['key', 'keyless', 'static'] as const).filter((k) => a[k] !== undefined && a[k] !== null);
  if (kinds.length !== 1) g.fail(field, `exactly one of key, keyless or static is required${kinds.length > 1 ? ` (got ${kinds.join(', ')})` : ''}`);
  const kind = kinds[0]!;
  if (kind === 'static') {
    const s = g.obj(a.static, `${field}.static`);
    const action = s.action;
    if (action !== 'pass' && action !== 'fail') g.fail(`${field}.static.action`, `expected pass or fail, got ${JSON.stringify(action)}`);
    const message = g.optStr(s.message, `${field}.static.message`);
    return { kind: 'static', name, action, ...(message ? { message } : {}) };
  }
  const trustRefs: Array<[string, unknown]> = [];
  let key: PublicKeyInfo | undefined;
  const identities: IdentityPolicy[] = [];
  let ignoreSct = false;
  if (kind === 'key') {
    const k = g.obj(a.key, `${field}.key`);
    const data = g.optStr(k.data, `${field}.key.data`);
    const kms = g.optStr(k.kms, `${field}.key.kms`);
    if ([data, kms, k.secretRef].filter((v) => v !== undefined).length > 1) g.fail(`${field}.key`, 'only one of data, kms and secretRef can be set');
    if (k.secretRef !== undefined) {
      const pem = await mountedValue(g, `${field}.key.secretRef`, k.secretRef, 'Secret', mounts);
      try {
        key = parsePublicKey(pem);
      } catch (e) {
        g.fail(`${field}.key.secretRef`, `Secret ${String((k.secretRef as Obj).name)}: ${(e as Error).message}`);
      }
    } else if (data) {
      try {
        key = parsePublicKey(data);
      } catch (e) {
        g.fail(`${field}.key.data`, (e as Error).message);
      }
    } else if (kms) {
      try {
        key = await loadPublicKey(kms);
      } catch (e) {
        g.fail(`${field}.key.kms`, (e as Error).message);
      }
    } else g.fail(`${field}.key`, 'needs data (a PEM public key) or kms');
  } else {
    const k = g.obj(a.keyless, `${field}.keyless`);
    if (k['ca-cert'] !== undefined || k.caCert !== undefined) g.fail(`${field}.keyless.ca-cert`, 'a CA certificate alone is not supported; give the CA in a TrustRoot (trustRootRef) or --trusted-root');
    trustRefs.push(['keyless.trustRootRef', k.trustRootRef]);
    ignoreSct = g.bool(k.insecureIgnoreSCT, `${field}.keyless.insecureIgnoreSCT`);
    // As policy-controller: without identities, any signer the trust root's CA certified is accepted.
    const ids = k.identities === undefined || k.identities === null ? [] : g.list(k.identities, `${field}.keyless.identities`);
    ids.forEach((raw, j) => {
      const at = `${field}.keyless.identities[${j}]`;
      const id = g.obj(raw, at);
      const p: IdentityPolicy = {};
      const issuer = g.optStr(id.issuer, `${at}.issuer`);
      const issuerRegexp = g.optStr(id.issuerRegExp, `${at}.issuerRegExp`);
      const subject = g.optStr(id.subject, `${at}.subject`);
      const subjectRegexp = g.optStr(id.subjectRegExp, `${at}.subjectRegExp`);
      if (issuer) p.issuer = issuer;
      if (issuerRegexp) p.issuerRegexp = issuerRegexp;
      if (subject) p.identity = subject;
      if (subjectRegexp) p.identityRegexp = subjectRegexp;
      if (!issuer && !issuerRegexp) g.fail(at, 'needs issuer or issuerRegExp');
      if (!subject && !subjectRegexp) g.fail(at, 'needs subject or subjectRegExp');
      try {
        validateIdentityPolicy(p);
      } catch (e) {
        g.fail(at, (e as Error).message.replace('--certificate-identity-regexp', 'subjectRegExp').replace('--certificate-oidc-issuer-regexp', 'issuerRegExp'));
      }
      identities.push(p);
    });
  }
  const ctlog = g.optObj(a.ctlog, `${field}.ctlog`);
  if (ctlog) trustRefs.push(['ctlog.trustRootRef', ctlog.trustRootRef]);
  const tsa = g.optObj(a.rfc3161timestamp, `${field}.rfc3161timestamp`);
  if (tsa) trustRefs.push(['rfc3161timestamp.trustRootRef', tsa.trustRootRef]);
  // Signet checks RFC 3161 timestamps of keyed signatures only where a bundle carries them; refusing the
  // option beats accepting signatures without the timestamp the policy asks for.
  if (tsa && kind === 'key') g.fail(`${field}.rfc3161timestamp`, 'required signed timestamps are supported for keyless authorities only');
  const named = trustRefs.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([f2, v]) => [f2, g.str(v, `${field}.${f2}`)] as const);
  const distinct = [...new Set(named.map(([, v]) => v))];
  if (distinct.length > 1) g.fail(field, `different trust roots in one authority (${distinct.join(', ')}) are not supported: name one TrustRoot`);
  let trust: Trust;
  if (distinct.length === 1) {
    const ref = distinct[0]!;
    const r = roots.get(ref);
    if (!r) g.fail(`${field}.${named[0]![0]}`, `no TrustRoot named ${JSON.stringify(ref)} among the policy files`);
    usedRoots.push(ref);
    trust = r.trust;
  } else trust = await defaultOf();
  let signatureRepository: string | undefined;
  if (a.source !== undefined && a.source !== null) {
    const sources = g.list(a.source, `${field}.source`);
    if (sources.length > 1) g.fail(`${field}.source`, 'only one signature source is supported');
    if (sources.length === 1) {
      const s = g.obj(sources[0], `${field}.source[0]`);
      if (s.signaturePullSecrets !== undefined) g.fail(`${field}.source[0].signaturePullSecrets`, 'Kubernetes Secrets are not available; give registry credentials through the Docker config');
      signatureRepository = g.str(s.oci, `${field}.source[0].oci`);
    }
  }
  const attestations: AttestationRule[] = [];
  if (a.attestations !== undefined && a.attestations !== null) {
    for (const [j, raw] of g.list(a.attestations, `${field}.attestations`).entries()) {
      const at = `${field}.attestations[${j}]`;
      const o = g.obj(raw, at);
      const aname = g.str(o.name, `${at}.name`);
      const predicateType = resolvePredicateType(g.str(o.predicateType, `${at}.predicateType`));
      const pol = g.optObj(o.policy, `${at}.policy`);
      attestations.push({ name: aname, predicateType, ...(pol ? { policy: await policyOf(g, `${at}.policy`, pol, `attestation ${aname}`, mounts) } : {}) });
    }
  }
  return {
    kind,
    name,
    ...(key ? { key } : {}),
    identities,
    trust,
    attestations,
    ...(signatureRepository ? { signatureRepository } : {}),
    ignoreSct,
    useSignedTimestamps: tsa !== undefined,
  };
}
