/**
 * trusted_root.json and signing_config.json for private Sigstore deployments, from cosign-style service
 * specs (`url=…,public-key=FILE,start-time=…`), as `trusted-root create` and `signing-config create`
 * take them: each spec checked (URLs, RFC 3339 times, PEM keys and certificate chains read from the
 * files it names), every problem a USAGE error naming the flag.
 */
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { SignetError } from '../errors.js';
import { FILE_LIMITS, readFileLimited } from '../fsutil.js';
import { decodePemBlocks, sigstoreKeyDetails } from '../keys/index.js';
import { noteKeyHash } from '../tlog/note.js';
import { checkServiceUrl, SIGNING_CONFIG_MEDIA_TYPE, type ServiceConfiguration, type ServiceEntry, type SigningConfig } from './signing-config.js';

const usage = (msg: string): never => {
  throw new SignetError('USAGE', msg);
};

/** `key=value,key=value` as cosign's service flags write it; unknown and repeated keys are refused. */
export function parseServiceSpec(flag: string, spec: string, allowed: readonly string[], required: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of spec.split(',')) {
    if (part.trim() === '') continue;
    const i = part.indexOf('=');
    if (i <= 0) usage(`${flag}: "${part}" is not of the form key=value`);
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (!allowed.includes(k)) usage(`${flag}: unknown key "${k}" (allowed: ${allowed.join(', ')})`);
    if (k in out) usage(`${flag}: key "${k}" given twice`);
    if (v === '') usage(`${flag}: key "${k}" has an empty value`);
    out[k] = v;
  }
  for (const k of required) if (!(k in out)) usage(`${flag}: missing ${k}=…`);
  return out;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function parseTime(flag: string, key: string, v: string): Date {
  const d = new Date(v);
  if (!RFC3339.test(v) || Number.isNaN(d.getTime())) usage(`${flag}: ${key} "${v}" is not an RFC 3339 time (e.g. 2025-01-01T00:00:00Z)`);
  return d;
}

async function readFileFor(flag: string, path: string): Promise<string> {
  return (await readFileLimited(path, FILE_LIMITS.small, `${flag}: ${path}`)).toString('utf8');
}

function validForJson(flag: string, start: Date | undefined, end: Date | undefined): Record<string, string> {
  if (start && end && end < start) usage(`${flag}: end-time is before start-time`);
  const out: Record<string, string> = {};
  if (start) out.start = start.toISOString();
  if (end) out.end = end.toISOString();
  return out;
}

function keyDetailsOf(key: KeyObject, flag: string): string {
  try {
    return sigstoreKeyDetails(key);
  } catch (e) {
    return usage(`${flag}: ${(e as Error).message}`);
  }
}

async function loadPublicKeyFile(flag: string, path: string): Promise<KeyObject> {
  const text = await readFileFor(flag, path);
  const blocks = (() => {
    try {
      return decodePemBlocks(text);
    } catch {
      return usage(`${flag}: ${path} is not valid PEM`);
    }
  })();
  const pub = blocks.find((b) => b.label === 'PUBLIC KEY');
  if (!pub) usage(`${flag}: ${path} holds no PEM PUBLIC KEY`);
  try {
    return createPublicKey({ key: pub!.der, format: 'der', type: 'spki' });
  } catch {
    return usage(`${flag}: ${path} holds a PUBLIC KEY that does not parse`);
  }
}

async function loadChainFile(flag: string, path: string): Promise<X509Certificate[]> {
  const text = await readFileFor(flag, path);
  let blocks;
  try {
    blocks = decodePemBlocks(text).filter((b) => b.label === 'CERTIFICATE');
  } catch {
    return usage(`${flag}: ${path} is not valid PEM`);
  }
  if (blocks.length === 0) usage(`${flag}: ${path} holds no PEM certificates`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b.der);
    } catch {
      return usage(`${flag}: certificate ${i + 1} in ${path} does not parse`);
    }
  });
}

/** Each certificate must be signed by the next one, the last by itself: a chain verifiers can use. */
function checkChain(flag: string, path: string, certs: X509Certificate[]): void {
  for (let i = 0; i < certs.length; i++) {
    const issuer = certs[i + 1] ?? certs[i]!;
    if (!certs[i]!.checkIssued(issuer) || !certs[i]!.verify(issuer.publicKey)) {
      usage(
        i + 1 < certs.length
          ? `${flag}: certificate ${i + 1} in ${path} is not issued by certificate ${i + 2}`
          : `${flag}: the last certificate in ${path} is not a self-signed root`,
      );
    }
  }
}

function subjectOf(cert: X509Certificate): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of cert.subject.split('\n')) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1);
    if (k === 'O' && !out.organization) out.organization = v;
    if (k === 'CN' && !out.commonName) out.commonName = v;
  }
  return out;
}

type Json = Record<string, unknown>;

async function certificateAuthority(flag: string, spec: string): Promise<Json> {
  const f = parseServiceSpec(flag, spec, ['url', 'certificate-chain', 'start-time', 'end-time'], ['url', 'certificate-chain']);
  const uri = checkServiceUrl(f.url, `${flag}: url`, usage);
  const certs = await loadChainFile(flag, f['certificate-chain']!);
  checkChain(flag, f['certificate-chain']!, certs);
  // Without start-time the CA is trusted from when its first certificate became valid.
  const start = f['start-time'] ? parseTime(flag, 'start-time', f['start-time']) : new Date(certs[0]!.validFrom);
  const end = f['end-time'] ? parseTime(flag, 'end-time', f['end-time']) : undefined;
  return {
    subject: subjectOf(certs[0]!),
    uri,
    certChain: { certificates: certs.map((c) => ({ rawBytes: c.raw.toString('base64') })) },
    validFor: validForJson(flag, start, end),
  };
}

async function transparencyLog(flag: string, spec: string, allowOrigin: boolean): Promise<Json> {
  const keys = ['url', 'public-key', 'start-time', 'end-time', ...(allowOrigin ? ['origin'] : [])];
  const f = parseServiceSpec(flag, spec, keys, ['url', 'public-key', 'start-time']);
  const baseUrl = checkServiceUrl(f.url, `${flag}: url`, usage);
  const key = await loadPublicKeyFile(flag, f['public-key']!);
  const spki = key.export({ type: 'spki', format: 'der' });
  const start = parseTime(flag, 'start-time', f['start-time']!);
  const end = f['end-time'] ? parseTime(flag, 'end-time', f['end-time']) : undefined;
  let logId: Uint8Array;
  if (f.origin) {
    // Rekor v2 logs are identified by the untruncated C2SP signed-note key hash over their origin.
    try {
      logId = noteKeyHash(f.origin, key);
    } catch (e) {
      return usage(`${flag}: origin "${f.origin}": ${(e as Error).message}`);
    }
  } else {
    logId = createHash('sha256').update(spki).digest();
  }
  return {
    baseUrl,
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: spki.toString('base64'), keyDetails: keyDetailsOf(key, flag), validFor: validForJson(flag, start, end) },
    logId: { keyId: Buffer.from(logId).toString('base64') },
  };
}

export interface TrustedRootSpecs {
  fulcio?: string[];
  rekor?: string[];
  ctfe?: string[];
  tsa?: string[];
  /**
   * --with-default-services: a trusted_root.json whose entries fill every kind of service the specs
   * leave out (cosign takes them from its TUF root); the specs of a kind replace its defaults.
   */
  defaults?: Buffer;
  /** --no-default-fulcio/-rekor/-ctfe/-tsa: drop that kind's defaults. */
  noDefault?: { fulcio?: boolean; rekor?: boolean; ctfe?: boolean; tsa?: boolean };
}

const startOf = (j: Json): number => {
  const vf = ((j.publicKey as Json | undefined)?.validFor ?? j.validFor) as { start?: string } | undefined;
  return vf?.start ? Date.parse(vf.start) : 0;
};

/** A trusted_root.json (v0.1 media type, as cosign writes) from cosign-style service specs. */
export async function buildTrustedRoot(specs: TrustedRootSpecs): Promise<string> {
  const cas = [];
  for (const s of specs.fulcio ?? []) cas.push(await certificateAuthority('--fulcio', s));
  const tlogs = [];
  for (const s of specs.rekor ?? []) tlogs.push(await transparencyLog('--rekor', s, true));
  const ctlogs = [];
  for (const s of specs.ctfe ?? []) ctlogs.push(await transparencyLog('--ctfe', s, false));
  const tsas = [];
  for (const s of specs.tsa ?? []) tsas.push(await certificateAuthority('--tsa', s));
  const ids = new Set<string>();
  for (const l of [...tlogs, ...ctlogs]) {
    const id = (l.logId as { keyId: string }).keyId;
    if (ids.has(id)) usage(`two logs share the log ID ${id} (same key given twice?)`);
    ids.add(id);
  }
  if (specs.defaults) {
    let d: Json;
    try {
      d = JSON.parse(specs.defaults.toString('utf8')) as Json;
    } catch {
      return usage('the default trusted root is not JSON');
    }
    const take = (given: unknown[] | undefined, key: string, drop: boolean | undefined): Json[] =>
      given && given.length > 0 ? [] : drop ? [] : Array.isArray(d[key]) ? (d[key] as Json[]) : [];
    const nd = specs.noDefault ?? {};
    cas.push(...(take(specs.fulcio, 'certificateAuthorities', nd.fulcio) as typeof cas));
    tlogs.push(...(take(specs.rekor, 'tlogs', nd.rekor) as typeof tlogs));
    ctlogs.push(...(take(specs.ctfe, 'ctlogs', nd.ctfe) as typeof ctlogs));
    tsas.push(...(take(specs.tsa, 'timestampAuthorities', nd.tsa) as typeof tsas));
  }
  // Verifiers expect each list ordered by validity start.
  const byStart = (a: Json, b: Json): number => startOf(a) - startOf(b);
  const doc = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: tlogs.sort(byStart),
    certificateAuthorities: cas.sort(byStart),
    ctlogs: ctlogs.sort(byStart),
    timestampAuthorities: tsas.sort(byStart),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

function serviceEntry(flag: string, spec: string): ServiceEntry {
  const f = parseServiceSpec(flag, spec, ['url', 'api-version', 'start-time', 'end-time', 'operator'], ['url', 'api-version', 'start-time', 'operator']);
  const url = checkServiceUrl(f.url, `${flag}: url`, usage);
  const v = f['api-version']!;
  if (!/^[1-9]\d{0,8}$/.test(v)) usage(`${flag}: api-version "${v}" is not a positive integer`);
  const start = parseTime(flag, 'start-time', f['start-time']!);
  const end = f['end-time'] ? parseTime(flag, 'end-time', f['end-time']) : undefined;
  if (end && end < start) usage(`${flag}: end-time is before start-time`);
  return { url, majorApiVersion: Number(v), validFor: end ? { start, end } : { start }, operator: f.operator! };
}

/** `ANY`, `ALL` or `EXACT:<n>`, as cosign's --rekor-config / --tsa-config. */
export function parseSelector(flag: string, v: string): ServiceConfiguration {
  const s = v.trim().toUpperCase();
  if (s === 'ANY' || s === 'ALL') return { selector: s };
  const m = /^EXACT:(\d+)$/.exec(s);
  if (m && Number(m[1]) > 0) return { selector: 'EXACT', count: Number(m[1]) };
  return usage(`${flag}: "${v}" is not ANY, ALL or EXACT:<count>`);
}

export interface SigningConfigSpecs {
  fulcio?: string[];
  rekor?: string[];
  oidcProvider?: string[];
  tsa?: string[];
  rekorConfig?: string;
  tsaConfig?: string;
  /**
   * --with-default-services (or --base-config FILE): a signing config whose services fill every kind
   * the specs leave out; the specs of a kind replace its defaults, and so do --rekor-config/--tsa-config.
   */
  defaults?: SigningConfig;
  /** --no-default-fulcio/-rekor/-oidc/-tsa: drop that kind's defaults. */
  noDefault?: { fulcio?: boolean; rekor?: boolean; oidc?: boolean; tsa?: boolean };
}

export function buildSigningConfigFromSpecs(specs: SigningConfigSpecs): SigningConfig {
  const d = specs.defaults;
  if (d) {
    const nd = specs.noDefault ?? {};
    const own = buildSigningConfigFromSpecs({ ...specs, defaults: undefined });
    const pick = (given: string[] | undefined, mine: ServiceEntry[], theirs: ServiceEntry[], drop: boolean | undefined): ServiceEntry[] =>
      given && given.length > 0 ? mine : drop ? [] : theirs;
    return {
      mediaType: SIGNING_CONFIG_MEDIA_TYPE,
      caUrls: pick(specs.fulcio, own.caUrls, d.caUrls, nd.fulcio),
      oidcUrls: pick(specs.oidcProvider, own.oidcUrls, d.oidcUrls, nd.oidc),
      rekorTlogUrls: pick(specs.rekor, own.rekorTlogUrls, d.rekorTlogUrls, nd.rekor),
      tsaUrls: pick(specs.tsa, own.tsaUrls, d.tsaUrls, nd.tsa),
      rekorTlogConfig: specs.rekorConfig !== undefined ? own.rekorTlogConfig : d.rekorTlogConfig,
      tsaConfig: specs.tsaConfig !== undefined ? own.tsaConfig : d.tsaConfig,
    };
  }
  const newestFirst = (a: ServiceEntry, b: ServiceEntry): number => b.validFor.start.getTime() - a.validFor.start.getTime();
  const cfg: SigningConfig = {
    mediaType: SIGNING_CONFIG_MEDIA_TYPE,
    caUrls: (specs.fulcio ?? []).map((s) => serviceEntry('--fulcio', s)).sort(newestFirst),
    oidcUrls: (specs.oidcProvider ?? []).map((s) => serviceEntry('--oidc-provider', s)).sort(newestFirst),
    rekorTlogUrls: (specs.rekor ?? []).map((s) => serviceEntry('--rekor', s)).sort(newestFirst),
    tsaUrls: (specs.tsa ?? []).map((s) => serviceEntry('--tsa', s)).sort(newestFirst),
    rekorTlogConfig: parseSelector('--rekor-config', specs.rekorConfig ?? 'ANY'),
    tsaConfig: parseSelector('--tsa-config', specs.tsaConfig ?? 'ANY'),
  };
  const check = (c: ServiceConfiguration, list: ServiceEntry[], flag: string, what: string): void => {
    if (c.selector !== 'EXACT') return;
    const operators = new Set(list.map((s) => s.operator)).size;
    if (operators < c.count!) usage(`${flag} EXACT:${c.count} needs at least ${c.count} ${what} from distinct operators, got ${operators}`);
  };
  check(cfg.rekorTlogConfig, cfg.rekorTlogUrls, '--rekor-config', '--rekor services');
  check(cfg.tsaConfig, cfg.tsaUrls, '--tsa-config', '--tsa services');
  return cfg;
}
