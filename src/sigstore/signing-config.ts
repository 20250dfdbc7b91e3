/**
 * Sigstore signing configs (protobuf-specs `dev.sigstore.trustroot.v1.SigningConfig`, media type
 * `application/vnd.dev.sigstore.signingconfig.v0.2+json`): which CA, OIDC issuer, logs and timestamp
 * authorities a signer should use, and how many of each. Parsing is strict (unknown fields, bad URLs,
 * bad dates are refused) because a typo here silently sends signatures to the wrong service.
 */
import { promises as fs } from 'node:fs';
import { SignetError } from '../errors.js';
import { ioError } from '../fsutil.js';

export const SIGNING_CONFIG_MEDIA_TYPE = 'application/vnd.dev.sigstore.signingconfig.v0.2+json';

export interface TimeRange {
  start: Date;
  end?: Date;
}

export interface ServiceEntry {
  url: string;
  majorApiVersion: number;
  validFor: TimeRange;
  operator: string;
}

export type ServiceSelector = 'ALL' | 'ANY' | 'EXACT';

export interface ServiceConfiguration {
  selector: ServiceSelector;
  /** Only with EXACT: how many distinct operators' services to use. */
  count?: number;
}

export interface SigningConfig {
  mediaType: typeof SIGNING_CONFIG_MEDIA_TYPE;
  caUrls: ServiceEntry[];
  oidcUrls: ServiceEntry[];
  rekorTlogUrls: ServiceEntry[];
  tsaUrls: ServiceEntry[];
  rekorTlogConfig: ServiceConfiguration;
  tsaConfig: ServiceConfiguration;
}

/** API versions this client speaks, preferred first. */
export const SUPPORTED_API_VERSIONS = {
  ca: [1],
  oidc: [1],
  rekor: [2, 1],
  tsa: [1],
} as const;

export interface SelectedServices {
  ca?: string;
  oidc?: string;
  tlogs: { url: string; majorApiVersion: number }[];
  tsas: string[];
}

type Obj = Record<string, unknown>;

function bad(msg: string): never {
  throw new SignetError('MALFORMED', `signing config ${msg}`);
}

function obj(v: unknown, where: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${where} is not an object`);
  return v as Obj;
}

function onlyFields(o: Obj, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`has an unknown field "${k}" in ${where}`);
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function timestamp(v: unknown, where: string): Date {
  if (typeof v !== 'string' || !RFC3339.test(v)) bad(`${where} is not an RFC 3339 timestamp`);
  const d = new Date(v as string);
  if (Number.isNaN(d.getTime())) bad(`${where} is not a valid date`);
  return d;
}

/** An absolute http(s) URL without credentials, query or fragment; trailing slashes dropped. */
export function checkServiceUrl(v: unknown, where: string, fail: (msg: string) => never = bad): string {
  if (typeof v !== 'string' || v === '') fail(`${where} is missing`);
  let u: URL;
  try {
    u = new URL(v as string);
  } catch {
    fail(`${where} ${JSON.stringify(v)} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') fail(`${where} ${JSON.stringify(v)} is not an http(s) URL`);
  if (u.username || u.password) fail(`${where} must not carry credentials`);
  if (u.search || u.hash) fail(`${where} ${JSON.stringify(v)} must not have a query or fragment`);
  return (v as string).replace(/\/+$/, '');
}

function parseService(v: unknown, where: string): ServiceEntry {
  const o = obj(v, where);
  onlyFields(o, ['url', 'majorApiVersion', 'validFor', 'operator'], where);
  const url = checkServiceUrl(o.url, `${where}.url`);
  // protojson omits zero values and may write uint32 as a string.
  let major: unknown = o.majorApiVersion ?? 0;
  if (typeof major === 'string' && /^\d+$/.test(major)) major = Number(major);
  if (typeof major !== 'number' || !Number.isInteger(major) || major < 0 || major > 0xffffffff) {
    bad(`${where}.majorApiVersion is not an unsigned integer`);
  }
  if (major === 0) bad(`${where}.majorApiVersion is missing`);
  const vf = obj(o.validFor, `${where}.validFor`);
  onlyFields(vf, ['start', 'end'], `${where}.validFor`);
  if (vf.start === undefined) bad(`${where}.validFor.start is missing`);
  const validFor: TimeRange = { start: timestamp(vf.start, `${where}.validFor.start`) };
  if (vf.end !== undefined) {
    validFor.end = timestamp(vf.end, `${where}.validFor.end`);
    if (validFor.end < validFor.start) bad(`${where}.validFor ends before it starts`);
  }
  const operator = o.operator ?? '';
  if (typeof operator !== 'string') bad(`${where}.operator is not a string`);
  return { url, majorApiVersion: major as number, validFor, operator: operator as string };
}

function parseServices(v: unknown, where: string): ServiceEntry[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(`${where} is not a list`);
  return v.map((s, i) => parseService(s, `${where}[${i}]`));
}

function parseServiceConfig(v: unknown, where: string): ServiceConfiguration {
  if (v === undefined || v === null) return { selector: 'ANY' };
  const o = obj(v, where);
  onlyFields(o, ['selector', 'count'], where);
  const sel = o.selector;
  if (sel !== 'ALL' && sel !== 'ANY' && sel !== 'EXACT') bad(`${where}.selector ${JSON.stringify(sel)} is not ALL, ANY or EXACT`);
  if (sel === 'EXACT') {
    const count = o.count;
    if (typeof count !== 'number' || !Number.isInteger(count) || count <= 0) bad(`${where}.count must be a positive integer with EXACT`);
    return { selector: sel, count: count as number };
  }
  if (o.count !== undefined && o.count !== 0) bad(`${where}.count is only allowed with EXACT`);
  return { selector: sel };
}

/** Parse a signing_config.v0.2.json strictly. Throws SignetError('MALFORMED') naming the offending field. */
export function parseSigningConfig(input: Buffer | string): SigningConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof input === 'string' ? input : input.toString('utf8'));
  } catch {
    bad('is not valid JSON');
  }
  const o = obj(doc, 'document');
  onlyFields(o, ['mediaType', 'caUrls', 'oidcUrls', 'rekorTlogUrls', 'tsaUrls', 'rekorTlogConfig', 'tsaConfig'], 'the signing config');
  if (o.mediaType !== SIGNING_CONFIG_MEDIA_TYPE) {
    bad(`media type ${JSON.stringify(o.mediaType)} is not ${SIGNING_CONFIG_MEDIA_TYPE}`);
  }
  return {
    mediaType: SIGNING_CONFIG_MEDIA_TYPE,
    caUrls: parseServices(o.caUrls, 'caUrls'),
    oidcUrls: parseServices(o.oidcUrls, 'oidcUrls'),
    rekorTlogUrls: parseServices(o.rekorTlogUrls, 'rekorTlogUrls'),
    tsaUrls: parseServices(o.tsaUrls, 'tsaUrls'),
    rekorTlogConfig: parseServiceConfig(o.rekorTlogConfig, 'rekorTlogConfig'),
    tsaConfig: parseServiceConfig(o.tsaConfig, 'tsaConfig'),
  };
}

/** Read and parse a signing config file. */
export async function loadSigningConfig(path: string): Promise<SigningConfig> {
  let bytes: Buffer;
  try {
    const st = await fs.stat(path);
    if (st.isDirectory()) throw new SignetError('IO', `signing config ${path}: is a directory`);
    if (st.size > 4 * 1024 * 1024) throw new SignetError('TOO_LARGE', `signing config ${path} is larger than 4 MiB`);
    bytes = await fs.readFile(path);
  } catch (e) {
    if (e instanceof SignetError) throw e;
    throw ioError(`signing config ${path}`, e);
  }
  try {
    return parseSigningConfig(bytes);
  } catch (e) {
    if (e instanceof SignetError) throw new SignetError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

function serviceJson(s: ServiceEntry): Obj {
  const validFor: Obj = { start: s.validFor.start.toISOString() };
  if (s.validFor.end) validFor.end = s.validFor.end.toISOString();
  const out: Obj = { url: s.url, majorApiVersion: s.majorApiVersion, validFor };
  if (s.operator) out.operator = s.operator;
  return out;
}

function configJson(c: ServiceConfiguration): Obj {
  return c.selector === 'EXACT' ? { selector: 'EXACT', count: c.count } : { selector: c.selector };
}

/** The protojson form (camelCase, RFC 3339 timestamps), pretty-printed with a trailing newline. */
export function serializeSigningConfig(config: SigningConfig): string {
  const doc = {
    mediaType: config.mediaType,
    caUrls: config.caUrls.map(serviceJson),
    oidcUrls: config.oidcUrls.map(serviceJson),
    rekorTlogUrls: config.rekorTlogUrls.map(serviceJson),
    tsaUrls: config.tsaUrls.map(serviceJson),
    rekorTlogConfig: configJson(config.rekorTlogConfig),
    tsaConfig: configJson(config.tsaConfig),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

function validAt(s: ServiceEntry, now: Date): boolean {
  return s.validFor.start.getTime() <= now.getTime() && (s.validFor.end === undefined || now.getTime() < s.validFor.end.getTime());
}

/**
 * The candidates of the highest supported API version that has any valid service now, newest start
 * first, at most one per operator (the newest of each).
 */
function candidates(services: ServiceEntry[], versions: readonly number[], now: Date): ServiceEntry[] {
  for (const v of versions) {
    const valid = services
      .filter((s) => s.majorApiVersion === v && validAt(s, now))
      .sort((a, b) => b.validFor.start.getTime() - a.validFor.start.getTime());
    if (valid.length === 0) continue;
    const seen = new Set<string>();
    return valid.filter((s) => {
      if (seen.has(s.operator)) return false;
      seen.add(s.operator);
      return true;
    });
  }
  return [];
}

function applySelector(list: ServiceEntry[], config: ServiceConfiguration, what: string): ServiceEntry[] {
  switch (config.selector) {
    case 'ALL':
      return list;
    case 'ANY':
      return list.slice(0, 1);
    case 'EXACT': {
      const n = config.count ?? 0;
      if (list.length < n) {
        throw new SignetError(
          'MALFORMED',
          `signing config asks for exactly ${n} ${what} from distinct operators, but only ${list.length} ${list.length === 1 ? 'is' : 'are'} usable now`,
        );
      }
      return list.slice(0, n);
    }
  }
}

export interface SelectOptions {
  /** Restrict the Rekor API versions this signer will use (default: 2 then 1). */
  rekorVersions?: readonly number[];
}

/**
 * The services to sign with at `now` (sigstore's client rules): for each kind, only entries of the
 * highest supported `majorApiVersion` that has a valid entry; newest start first; one per operator;
 * then the ANY / ALL / EXACT selector for logs and TSAs. CA and OIDC are single services.
 */
export function selectServices(config: SigningConfig, now: Date = new Date(), opts: SelectOptions = {}): SelectedServices {
  const out: SelectedServices = { tlogs: [], tsas: [] };
  const ca = candidates(config.caUrls, SUPPORTED_API_VERSIONS.ca, now)[0];
  if (ca) out.ca = ca.url;
  const oidc = candidates(config.oidcUrls, SUPPORTED_API_VERSIONS.oidc, now)[0];
  if (oidc) out.oidc = oidc.url;
  const rekorVersions = opts.rekorVersions ?? SUPPORTED_API_VERSIONS.rekor;
  out.tlogs = applySelector(candidates(config.rekorTlogUrls, rekorVersions, now), config.rekorTlogConfig, 'transparency logs').map(
    (s) => ({ url: s.url, majorApiVersion: s.majorApiVersion }),
  );
  out.tsas = applySelector(candidates(config.tsaUrls, SUPPORTED_API_VERSIONS.tsa, now), config.tsaConfig, 'timestamp authorities').map(
    (s) => s.url,
  );
  return out;
}

export interface BuildSigningConfigOptions {
  /** Base URL of the CA (the client appends /api/v2/signingCert). */
  caUrl: string;
  oidcUrl?: string;
  /** Base URL of the log. */
  rekorUrl: string;
  rekorVersion: 1 | 2;
  /** Full URL of the timestamp endpoint (…/api/v1/timestamp). */
  tsaUrl?: string;
  start: Date;
  operator?: string;
}

/** A signing config naming one CA, log, TSA (and optionally an OIDC issuer), e.g. for `signet serve`. */
export function buildSigningConfig(o: BuildSigningConfigOptions): SigningConfig {
  const fail = (msg: string): never => {
    throw new SignetError('USAGE', msg);
  };
  if (!(o.start instanceof Date) || Number.isNaN(o.start.getTime())) fail('signing config start time is not a valid date');
  if (o.rekorVersion !== 1 && o.rekorVersion !== 2) fail(`Rekor API version ${String(o.rekorVersion)} is not 1 or 2`);
  const operator = o.operator ?? '';
  const entry = (url: string, what: string, majorApiVersion = 1): ServiceEntry => ({
    url: checkServiceUrl(url, what, fail),
    majorApiVersion,
    validFor: { start: o.start },
    operator,
  });
  return {
    mediaType: SIGNING_CONFIG_MEDIA_TYPE,
    caUrls: [entry(o.caUrl, 'CA URL')],
    oidcUrls: o.oidcUrl ? [entry(o.oidcUrl, 'OIDC URL')] : [],
    rekorTlogUrls: [entry(o.rekorUrl, 'Rekor URL', o.rekorVersion)],
    tsaUrls: o.tsaUrl ? [entry(o.tsaUrl, 'TSA URL')] : [],
    rekorTlogConfig: { selector: 'ANY' },
    tsaConfig: { selector: 'ANY' },
  };
}

/**
 * The public-good instance's services. @sigstore/tuf's seeds carry no signing config, so these are
 * the production endpoints (public configuration); `signet initialize` fetches the TUF-published
 * signing_config.v0.2.json, which takes precedence when present. Rekor v1 only: the v2 shard
 * (log2025-1) is reached through the TUF-published config, which names its validity window.
 */
export function publicGoodSigningConfig(): SigningConfig {
  const svc = (url: string, start: string): ServiceEntry => ({
    url,
    majorApiVersion: 1,
    validFor: { start: new Date(start) },
    operator: 'sigstore.dev',
  });
  return {
    mediaType: SIGNING_CONFIG_MEDIA_TYPE,
    caUrls: [svc('https://fulcio.sigstore.dev', '2023-04-14T21:38:40Z')],
    oidcUrls: [svc('https://oauth2.sigstore.dev/auth', '2025-04-16T00:00:00Z')],
    rekorTlogUrls: [svc('https://rekor.sigstore.dev', '2021-01-12T11:53:27Z')],
    tsaUrls: [svc('https://timestamp.sigstore.dev/api/v1/timestamp', '2025-07-04T00:00:00Z')],
    rekorTlogConfig: { selector: 'ANY' },
    tsaConfig: { selector: 'ANY' },
  };
}
