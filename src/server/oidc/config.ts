/**
 * Which OIDC issuers the CA trusts and how each maps to a certificate identity. The file takes Fulcio's
 * configuration shape (JSON, since YAML would need another dependency):
 *   {"OIDCIssuers": {"<url>": {"IssuerURL", "ClientID", "Type", "SubjectDomain"?, "SPIFFETrustDomain"?,
 *    "ChallengeClaim"?, "SkipEmailVerification"?}}, "MetaIssuers": {"<url with *>": {...}}}
 */
import { promises as fs } from 'node:fs';
import { SignetError } from '../../errors.js';
import { ioError } from '../../fsutil.js';

export type IssuerType =
  | 'email'
  | 'github-workflow'
  | 'gitlab-pipeline'
  | 'buildkite-job'
  | 'kubernetes'
  | 'spiffe'
  | 'uri'
  | 'username';

const ISSUER_TYPES: readonly IssuerType[] = [
  'email',
  'github-workflow',
  'gitlab-pipeline',
  'buildkite-job',
  'kubernetes',
  'spiffe',
  'uri',
  'username',
];

export interface IssuerConfig {
  issuerUrl: string;
  /** Expected `aud`. */
  clientId: string;
  type: IssuerType;
  subjectDomain?: string;
  spiffeTrustDomain?: string;
  /** Claim whose value the proof of possession signs; defaults per type (email for email, else sub). */
  challengeClaim?: string;
  skipEmailVerification?: boolean;
}

export interface OidcConfig {
  issuers: IssuerConfig[];
  /** Issuer URL patterns in which `*` stands for one path/host label (`[-_a-zA-Z0-9]+`), as in Fulcio. */
  metaIssuers: IssuerConfig[];
}

export const DEFAULT_CLIENT_ID = 'sigstore';

function str(v: unknown, where: string, required: boolean): string | undefined {
  if (v === undefined || v === null) {
    if (required) throw new SignetError('MALFORMED', `OIDC config: ${where} is required`);
    return undefined;
  }
  if (typeof v !== 'string' || v === '') throw new SignetError('MALFORMED', `OIDC config: ${where} must be a non-empty string`);
  return v;
}

function checkUrl(u: string, where: string, allowWildcard: boolean): void {
  let parsed: URL;
  try {
    parsed = new URL(allowWildcard ? u.replaceAll('*', '0') : u);
  } catch {
    throw new SignetError('MALFORMED', `OIDC config: ${where} "${u}" is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new SignetError('MALFORMED', `OIDC config: ${where} "${u}" must be an http(s) URL`);
  }
}

function parseIssuer(key: string, raw: unknown, meta: boolean): IssuerConfig {
  const where = `${meta ? 'MetaIssuers' : 'OIDCIssuers'}["${key}"]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SignetError('MALFORMED', `OIDC config: ${where} must be an object`);
  }
  const o = raw as Record<string, unknown>;
  const issuerUrl = str(o.IssuerURL, `${where}.IssuerURL`, false) ?? key;
  if (issuerUrl !== key) throw new SignetError('MALFORMED', `OIDC config: ${where}.IssuerURL "${issuerUrl}" differs from its key`);
  checkUrl(issuerUrl, `${where}.IssuerURL`, meta);
  if (!meta && issuerUrl.includes('*')) {
    throw new SignetError('MALFORMED', `OIDC config: ${where} has a wildcard; put it under MetaIssuers`);
  }
  const type = str(o.Type, `${where}.Type`, true) as string;
  if (!ISSUER_TYPES.includes(type as IssuerType)) {
    throw new SignetError('MALFORMED', `OIDC config: ${where}.Type "${type}" is not one of ${ISSUER_TYPES.join(', ')}`);
  }
  const cfg: IssuerConfig = {
    issuerUrl,
    clientId: str(o.ClientID, `${where}.ClientID`, false) ?? DEFAULT_CLIENT_ID,
    type: type as IssuerType,
  };
  const subjectDomain = str(o.SubjectDomain, `${where}.SubjectDomain`, false);
  const spiffe = str(o.SPIFFETrustDomain, `${where}.SPIFFETrustDomain`, false);
  const challenge = str(o.ChallengeClaim, `${where}.ChallengeClaim`, false);
  if (subjectDomain !== undefined) cfg.subjectDomain = subjectDomain;
  if (spiffe !== undefined) cfg.spiffeTrustDomain = spiffe;
  if (challenge !== undefined) cfg.challengeClaim = challenge;
  if (o.SkipEmailVerification !== undefined) {
    if (typeof o.SkipEmailVerification !== 'boolean') {
      throw new SignetError('MALFORMED', `OIDC config: ${where}.SkipEmailVerification must be a boolean`);
    }
    cfg.skipEmailVerification = o.SkipEmailVerification;
  }
  if ((cfg.type === 'uri' || cfg.type === 'username') && !cfg.subjectDomain) {
    throw new SignetError('MALFORMED', `OIDC config: ${where} of type ${cfg.type} needs SubjectDomain`);
  }
  if (cfg.type === 'uri' && cfg.subjectDomain) checkUrl(cfg.subjectDomain, `${where}.SubjectDomain`, false);
  if (cfg.type === 'spiffe' && !cfg.spiffeTrustDomain) {
    throw new SignetError('MALFORMED', `OIDC config: ${where} of type spiffe needs SPIFFETrustDomain`);
  }
  return cfg;
}

/** Validate a parsed config document (Fulcio's JSON shape). */
export function parseOidcConfig(doc: unknown): OidcConfig {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new SignetError('MALFORMED', 'OIDC config must be a JSON object');
  }
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) {
    if (k !== 'OIDCIssuers' && k !== 'MetaIssuers') {
      throw new SignetError('MALFORMED', `OIDC config: unknown field "${k}" (expected OIDCIssuers, MetaIssuers)`);
    }
  }
  const section = (name: 'OIDCIssuers' | 'MetaIssuers'): IssuerConfig[] => {
    const v = d[name];
    if (v === undefined) return [];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new SignetError('MALFORMED', `OIDC config: ${name} must be an object keyed by issuer URL`);
    }
    return Object.entries(v).map(([k, raw]) => parseIssuer(k, raw, name === 'MetaIssuers'));
  };
  const cfg = { issuers: section('OIDCIssuers'), metaIssuers: section('MetaIssuers') };
  if (cfg.issuers.length + cfg.metaIssuers.length === 0) {
    throw new SignetError('MALFORMED', 'OIDC config lists no issuers');
  }
  return cfg;
}

export async function loadOidcConfig(path: string): Promise<OidcConfig> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    throw ioError(`cannot read OIDC config ${path}`, e);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SignetError('MALFORMED', `OIDC config ${path} is not valid JSON`, { cause: e });
  }
  return parseOidcConfig(doc);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Fulcio's meta-issuer matching: each `*` is one run of `[-_a-zA-Z0-9]`, the rest literal. */
export function metaIssuerMatches(pattern: string, issuer: string): boolean {
  const re = new RegExp('^' + pattern.split('*').map(escapeRegExp).join('[-_a-zA-Z0-9]+') + '$');
  return re.test(issuer);
}

/** The config entry for a token's `iss`, exact issuers first; undefined if none matches. */
export function findIssuer(cfg: OidcConfig, iss: string): IssuerConfig | undefined {
  const exact = cfg.issuers.find((i) => i.issuerUrl === iss);
  if (exact) return exact;
  const meta = cfg.metaIssuers.find((i) => metaIssuerMatches(i.issuerUrl, iss));
  return meta ? { ...meta, issuerUrl: iss } : undefined;
}

/** The default challenge claim: email for email issuers, sub for everything else (Fulcio). */
export function challengeClaimOf(cfg: IssuerConfig): string {
  return cfg.challengeClaim ?? (cfg.type === 'email' ? 'email' : 'sub');
}
