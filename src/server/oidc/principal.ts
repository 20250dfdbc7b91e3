/**
 * From verified token claims to what a certificate says: the SAN (email, URI or username otherName),
 * the value the proof of possession must sign, and the Sigstore OID extensions
 * (arc 1.3.6.1.4.1.57264.1; mapping from Fulcio's identity config, see sigstore-services.md §3.3).
 */
import type { JWTPayload } from 'jose';
import { challengeClaimOf, type IssuerConfig, type IssuerType } from './config.js';
import { emailAddressProblem, quoteForMessage } from './email.js';
import { OidcError } from './errors.js';
import { derTlv } from '../../sigstore/der.js';

export const SIGSTORE_OID = {
  issuer: '1.3.6.1.4.1.57264.1.1',
  githubWorkflowTrigger: '1.3.6.1.4.1.57264.1.2',
  githubWorkflowSha: '1.3.6.1.4.1.57264.1.3',
  githubWorkflowName: '1.3.6.1.4.1.57264.1.4',
  githubWorkflowRepository: '1.3.6.1.4.1.57264.1.5',
  githubWorkflowRef: '1.3.6.1.4.1.57264.1.6',
  otherName: '1.3.6.1.4.1.57264.1.7',
  issuerV2: '1.3.6.1.4.1.57264.1.8',
  buildSignerUri: '1.3.6.1.4.1.57264.1.9',
  buildSignerDigest: '1.3.6.1.4.1.57264.1.10',
  runnerEnvironment: '1.3.6.1.4.1.57264.1.11',
  sourceRepositoryUri: '1.3.6.1.4.1.57264.1.12',
  sourceRepositoryDigest: '1.3.6.1.4.1.57264.1.13',
  sourceRepositoryRef: '1.3.6.1.4.1.57264.1.14',
  sourceRepositoryIdentifier: '1.3.6.1.4.1.57264.1.15',
  sourceRepositoryOwnerUri: '1.3.6.1.4.1.57264.1.16',
  sourceRepositoryOwnerIdentifier: '1.3.6.1.4.1.57264.1.17',
  buildConfigUri: '1.3.6.1.4.1.57264.1.18',
  buildConfigDigest: '1.3.6.1.4.1.57264.1.19',
  buildTrigger: '1.3.6.1.4.1.57264.1.20',
  runInvocationUri: '1.3.6.1.4.1.57264.1.21',
  sourceRepositoryVisibilityAtSigning: '1.3.6.1.4.1.57264.1.22',
  deploymentEnvironment: '1.3.6.1.4.1.57264.1.23',
} as const;

export type SanType = 'email' | 'uri' | 'othername';

/** One non-critical certificate extension; `value` is the extnValue content exactly as it goes in. */
export interface SigstoreExtension {
  oid: string;
  value: Buffer;
}

export interface Principal {
  /** The token's `iss` (for a meta-issuer, the concrete issuer). */
  issuer: string;
  issuerType: IssuerType;
  /** The SAN value: an email address, a URI, or `user!domain` for username issuers. */
  subject: string;
  sanType: SanType;
  /** What the proof of possession must be a signature over. */
  challengeClaimValue: string;
  extensions: SigstoreExtension[];
  /** The verified claims, for callers that log or audit. */
  claims: JWTPayload;
}

/**
 * DER UTF8String (tag 0x0C). The extension values of 1.8+ are exactly this and nothing else, so one
 * TLV beats pulling an ASN.1 object model in for it.
 */
export function derUtf8String(s: string): Buffer {
  return derTlv(0x0c, Buffer.from(s, 'utf8'));
}

function raw(oid: string, v: string): SigstoreExtension {
  return { oid, value: Buffer.from(v, 'utf8') };
}
function utf8(oid: string, v: string): SigstoreExtension {
  return { oid, value: derUtf8String(v) };
}

/** A string claim, or undefined; numbers are accepted because some issuers send ids as numbers. */
function claim(claims: JWTPayload, name: string): string | undefined {
  const v = claims[name];
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function requireClaim(claims: JWTPayload, name: string): string {
  const v = claim(claims, name);
  if (v === undefined) throw new OidcError('invalid_claims', `token has no "${name}" claim`);
  return v;
}

function githubExtensions(c: JWTPayload): { san: string; ext: SigstoreExtension[] } {
  const url = 'https://github.com';
  const san = `${url}/${requireClaim(c, 'job_workflow_ref')}`;
  const ext: SigstoreExtension[] = [];
  const addRaw = (oid: string, name: string): void => {
    const v = claim(c, name);
    if (v !== undefined) ext.push(raw(oid, v));
  };
  const add = (oid: string, value: string | undefined): void => {
    if (value !== undefined) ext.push(utf8(oid, value));
  };
  const tmpl = (f: (...v: string[]) => string, ...names: string[]): string | undefined => {
    const vs = names.map((n) => claim(c, n));
    return vs.every((v): v is string => v !== undefined) ? f(...vs) : undefined;
  };
  addRaw(SIGSTORE_OID.githubWorkflowTrigger, 'event_name');
  addRaw(SIGSTORE_OID.githubWorkflowSha, 'sha');
  addRaw(SIGSTORE_OID.githubWorkflowName, 'workflow');
  addRaw(SIGSTORE_OID.githubWorkflowRepository, 'repository');
  addRaw(SIGSTORE_OID.githubWorkflowRef, 'ref');
  add(SIGSTORE_OID.buildSignerUri, san);
  add(SIGSTORE_OID.buildSignerDigest, claim(c, 'job_workflow_sha'));
  add(SIGSTORE_OID.runnerEnvironment, claim(c, 'runner_environment'));
  add(SIGSTORE_OID.sourceRepositoryUri, tmpl((r) => `${url}/${r}`, 'repository'));
  add(SIGSTORE_OID.sourceRepositoryDigest, claim(c, 'sha'));
  add(SIGSTORE_OID.sourceRepositoryRef, claim(c, 'ref'));
  add(SIGSTORE_OID.sourceRepositoryIdentifier, claim(c, 'repository_id'));
  add(SIGSTORE_OID.sourceRepositoryOwnerUri, tmpl((o) => `${url}/${o}`, 'repository_owner'));
  add(SIGSTORE_OID.sourceRepositoryOwnerIdentifier, claim(c, 'repository_owner_id'));
  add(SIGSTORE_OID.buildConfigUri, tmpl((w) => `${url}/${w}`, 'workflow_ref'));
  add(SIGSTORE_OID.buildConfigDigest, claim(c, 'workflow_sha'));
  add(SIGSTORE_OID.buildTrigger, claim(c, 'event_name'));
  add(
    SIGSTORE_OID.runInvocationUri,
    tmpl((r, id, at) => `${url}/${r}/actions/runs/${id}/attempts/${at}`, 'repository', 'run_id', 'run_attempt'),
  );
  add(SIGSTORE_OID.sourceRepositoryVisibilityAtSigning, claim(c, 'repository_visibility'));
  add(SIGSTORE_OID.deploymentEnvironment, claim(c, 'environment'));
  return { san, ext };
}

function gitlabExtensions(c: JWTPayload): { san: string; ext: SigstoreExtension[] } {
  const url = 'https://gitlab.com';
  const san = `https://${requireClaim(c, 'ci_config_ref_uri')}`;
  const ext: SigstoreExtension[] = [];
  const add = (oid: string, value: string | undefined): void => {
    if (value !== undefined) ext.push(utf8(oid, value));
  };
  const refType = claim(c, 'ref_type');
  const ref = claim(c, 'ref');
  if (ref !== undefined && refType !== 'branch' && refType !== 'tag') {
    throw new OidcError('invalid_claims', `token's ref_type ${JSON.stringify(refType ?? null)} is neither branch nor tag`);
  }
  const projectPath = claim(c, 'project_path');
  const namespacePath = claim(c, 'namespace_path');
  const jobId = claim(c, 'job_id');
  add(SIGSTORE_OID.buildSignerUri, san);
  add(SIGSTORE_OID.buildSignerDigest, claim(c, 'ci_config_sha'));
  add(SIGSTORE_OID.runnerEnvironment, claim(c, 'runner_environment'));
  add(SIGSTORE_OID.sourceRepositoryUri, projectPath && `${url}/${projectPath}`);
  add(SIGSTORE_OID.sourceRepositoryDigest, claim(c, 'sha'));
  add(SIGSTORE_OID.sourceRepositoryRef, ref && `refs/${refType === 'branch' ? 'heads' : 'tags'}/${ref}`);
  add(SIGSTORE_OID.sourceRepositoryIdentifier, claim(c, 'project_id'));
  add(SIGSTORE_OID.sourceRepositoryOwnerUri, namespacePath && `${url}/${namespacePath}`);
  add(SIGSTORE_OID.sourceRepositoryOwnerIdentifier, claim(c, 'namespace_id'));
  add(SIGSTORE_OID.buildConfigUri, san);
  add(SIGSTORE_OID.buildConfigDigest, claim(c, 'ci_config_sha'));
  add(SIGSTORE_OID.buildTrigger, claim(c, 'pipeline_source'));
  add(SIGSTORE_OID.runInvocationUri, projectPath && jobId && `${url}/${projectPath}/-/jobs/${jobId}`);
  add(SIGSTORE_OID.sourceRepositoryVisibilityAtSigning, claim(c, 'project_visibility'));
  add(SIGSTORE_OID.deploymentEnvironment, claim(c, 'environment'));
  return { san, ext };
}

function emailVerified(v: unknown): boolean {
  return v === true || v === 'true';
}

function sameOrigin(a: string, b: string): boolean {
  try {
    const ua = new URL(a);
    const ub = new URL(b);
    return ua.protocol === ub.protocol && ua.hostname === ub.hostname;
  } catch {
    return false;
  }
}

/** Map verified claims to a principal per the issuer's type; refuses tokens the type cannot bind. */
export function principalFromClaims(cfg: IssuerConfig, claims: JWTPayload): Principal {
  const issuer = claims.iss as string;
  let subject: string;
  let sanType: SanType;
  let ciExt: SigstoreExtension[] = [];
  switch (cfg.type) {
    case 'email': {
      // Only a string: a number would pass requireClaim, and the SAN must be exactly the issuer's claim.
      if (typeof claims.email !== 'string') throw new OidcError('invalid_claims', claims.email === undefined ? 'token has no "email" claim' : '"email" claim is not a string');
      subject = claims.email;
      const problem = emailAddressProblem(subject);
      if (problem !== undefined) throw new OidcError('invalid_claims', `"email" claim ${quoteForMessage(subject)} is not an email address a certificate can name: ${problem}`);
      if (!cfg.skipEmailVerification && !emailVerified(claims.email_verified)) {
        throw new OidcError('email_not_verified', `the issuer has not verified ${subject} (email_verified is not true)`);
      }
      sanType = 'email';
      break;
    }
    case 'github-workflow': {
      const g = githubExtensions(claims);
      subject = g.san;
      ciExt = g.ext;
      sanType = 'uri';
      break;
    }
    case 'gitlab-pipeline': {
      const g = gitlabExtensions(claims);
      subject = g.san;
      ciExt = g.ext;
      sanType = 'uri';
      break;
    }
    case 'buildkite-job': {
      // Fulcio's buildkite principal: the pipeline's URL names the certificate; the challenge is `sub`.
      const org = requireClaim(claims, 'organization_slug');
      const pipeline = requireClaim(claims, 'pipeline_slug');
      subject = `https://buildkite.com/${encodeURIComponent(org)}/${encodeURIComponent(pipeline)}`;
      sanType = 'uri';
      break;
    }
    case 'kubernetes': {
      const k = claims['kubernetes.io'] as { namespace?: unknown; serviceaccount?: { name?: unknown } } | undefined;
      const ns = k?.namespace;
      const sa = k?.serviceaccount?.name;
      if (typeof ns !== 'string' || typeof sa !== 'string' || !ns || !sa) {
        throw new OidcError('invalid_claims', 'token has no kubernetes.io namespace and service account name');
      }
      subject = `https://kubernetes.io/namespaces/${ns}/serviceaccounts/${sa}`;
      sanType = 'uri';
      break;
    }
    case 'spiffe': {
      subject = requireClaim(claims, 'sub');
      const td = cfg.spiffeTrustDomain as string;
      if (!subject.startsWith(`spiffe://${td}/`)) {
        throw new OidcError('invalid_claims', `subject "${subject}" is not a SPIFFE ID in trust domain ${td}`);
      }
      sanType = 'uri';
      break;
    }
    case 'uri': {
      subject = requireClaim(claims, 'sub');
      if (!sameOrigin(subject, cfg.subjectDomain as string)) {
        throw new OidcError('invalid_claims', `subject "${subject}" is not a URI under ${cfg.subjectDomain}`);
      }
      sanType = 'uri';
      break;
    }
    case 'username': {
      const user = requireClaim(claims, 'sub');
      if (user.includes('!')) throw new OidcError('invalid_claims', `username "${user}" contains "!"`);
      const domain = (cfg.subjectDomain as string).replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
      subject = `${user}!${domain}`;
      sanType = 'othername';
      break;
    }
  }
  const challengeName = challengeClaimOf(cfg);
  const challengeClaimValue = requireClaim(claims, challengeName);
  const extensions = [raw(SIGSTORE_OID.issuer, issuer), utf8(SIGSTORE_OID.issuerV2, issuer), ...ciExt];
  extensions.sort((a, b) => compareOid(a.oid, b.oid));
  return { issuer, issuerType: cfg.type, subject, sanType, challengeClaimValue, extensions, claims };
}

function compareOid(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}
