/**
 * Fulcio identities: who a keyless certificate was issued to (its SANs), by which OIDC issuer, and the
 * CI claims Fulcio copies into its extensions (arc 1.3.6.1.4.1.57264.1, sigstore-services.md §3.3); and
 * the identity policy of `cosign verify` (--certificate-identity[-regexp], --certificate-oidc-issuer[-regexp],
 * --certificate-github-workflow-*). Pure: no I/O.
 *
 * Matching follows cosign: plain values are compared exactly; a regexp matches if it matches anywhere
 * in the value (Go's RE2 MatchString is unanchored, so `--certificate-identity-regexp=alice@example.com`
 * also accepts `mallory-alice@example.com.evil`; anchor with ^…$ to mean the whole value). When both the
 * exact and the regexp form are given, either may match (sigstore-go's SAN and issuer matchers). Patterns
 * run as JavaScript regular expressions, which accept every RE2 construct cosign users write in practice
 * (classes, alternation, repetition, anchors, \d \w \s); RE2-only syntax such as (?P<name>…) is refused
 * as a usage error rather than silently reinterpreted.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectAlternativeName } from '@peculiar/asn1-x509';
import { SignetError } from '../errors.js';
import { derRead, findExtension, parseCertificate, type ParsedCertificate } from './certificate.js';

const ARC = '1.3.6.1.4.1.57264.1.';
const OID_SAN = '2.5.29.17';
export const OID_OTHERNAME_USERNAME = `${ARC}7`;

/** Fulcio extension fields by OID suffix (names as sigstore-go's certificate.Extensions, camelCased). */
const RAW_EXTENSIONS = {
  githubWorkflowTrigger: 2,
  githubWorkflowSha: 3,
  githubWorkflowName: 4,
  githubWorkflowRepository: 5,
  githubWorkflowRef: 6,
} as const;
const DER_EXTENSIONS = {
  buildSignerUri: 9,
  buildSignerDigest: 10,
  runnerEnvironment: 11,
  sourceRepositoryUri: 12,
  sourceRepositoryDigest: 13,
  sourceRepositoryRef: 14,
  sourceRepositoryIdentifier: 15,
  sourceRepositoryOwnerUri: 16,
  sourceRepositoryOwnerIdentifier: 17,
  buildConfigUri: 18,
  buildConfigDigest: 19,
  buildTrigger: 20,
  runInvocationUri: 21,
  sourceRepositoryVisibilityAtSigning: 22,
  deploymentEnvironment: 23,
  tokenSubject: 24,
} as const;

export type FulcioExtensionName = keyof typeof RAW_EXTENSIONS | keyof typeof DER_EXTENSIONS;
export type FulcioExtensions = Partial<Record<FulcioExtensionName, string>>;

export interface SubjectAltName {
  type: 'email' | 'uri' | 'dns' | 'ip' | 'username' | 'otherName';
  value: string;
}

export interface FulcioIdentity {
  /** Every SAN; Fulcio issues exactly one. */
  sans: SubjectAltName[];
  /** The first SAN's value, what cosign prints as "Subject". */
  subject?: string;
  /** OIDC issuer: extension 1.8 (DER UTF8String), else the deprecated 1.1 (raw bytes). */
  issuer?: string;
  extensions: FulcioExtensions;
}

function malformed(msg: string): never {
  throw new SignetError('MALFORMED', msg);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function text(b: Uint8Array, what: string): string {
  try {
    return utf8.decode(b);
  } catch {
    malformed(`certificate ${what} is not valid UTF-8`);
  }
}

/** A DER UTF8String extension value (Fulcio 1.8 and 1.9+). */
function derUtf8(value: Buffer, what: string): string {
  const el = derRead(value, 0, value.length, `certificate ${what}`);
  if (el.tag !== 0x0c || el.end !== value.length) malformed(`certificate ${what} is not a DER UTF8String`);
  return text(value.subarray(el.body, el.end), what);
}

function ipString(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  const groups: string[] = [];
  for (let i = 0; i + 1 < b.length; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':');
}

function subjectAltNames(cert: ParsedCertificate): SubjectAltName[] {
  const ext = findExtension(cert, OID_SAN);
  if (!ext) return [];
  let names: SubjectAlternativeName;
  try {
    names = AsnConvert.parse(ext.value, SubjectAlternativeName);
  } catch {
    malformed('certificate has a malformed subject alternative name extension');
  }
  const out: SubjectAltName[] = [];
  for (const n of names) {
    if (n.rfc822Name !== undefined) out.push({ type: 'email', value: n.rfc822Name });
    else if (n.uniformResourceIdentifier !== undefined) out.push({ type: 'uri', value: n.uniformResourceIdentifier });
    else if (n.dNSName !== undefined) out.push({ type: 'dns', value: n.dNSName });
    else if (n.iPAddress !== undefined) out.push({ type: 'ip', value: ipString(Buffer.from(n.iPAddress, 'base64')) });
    else if (n.otherName) {
      const v = Buffer.from(n.otherName.value);
      // value is the [0] EXPLICIT content; Fulcio's username is a UTF8String inside it.
      let s: string | undefined;
      try {
        s = derUtf8(v, 'otherName SAN');
      } catch {
        s = undefined;
      }
      if (s !== undefined) out.push({ type: n.otherName.typeId === OID_OTHERNAME_USERNAME ? 'username' : 'otherName', value: s });
    }
  }
  return out;
}

/** Read the Fulcio identity of a leaf certificate. */
export function certificateIdentity(leafIn: Uint8Array | ParsedCertificate): FulcioIdentity {
  const leaf = leafIn instanceof Uint8Array ? parseCertificate(leafIn) : leafIn;
  const sans = subjectAltNames(leaf);
  const id: FulcioIdentity = { sans, extensions: {} };
  if (sans[0]) id.subject = sans[0].value;
  const v2 = findExtension(leaf, `${ARC}8`);
  const v1 = findExtension(leaf, `${ARC}1`);
  if (v2) id.issuer = derUtf8(v2.value, 'OIDC issuer (1.3.6.1.4.1.57264.1.8)');
  else if (v1) id.issuer = text(v1.value, 'OIDC issuer (1.3.6.1.4.1.57264.1.1)');
  for (const [name, n] of Object.entries(RAW_EXTENSIONS)) {
    const e = findExtension(leaf, ARC + n);
    if (e) id.extensions[name as FulcioExtensionName] = text(e.value, `extension ${ARC}${n}`);
  }
  for (const [name, n] of Object.entries(DER_EXTENSIONS)) {
    const e = findExtension(leaf, ARC + n);
    if (e) id.extensions[name as FulcioExtensionName] = derUtf8(e.value, `extension ${ARC}${n}`);
  }
  return id;
}

export interface IdentityPolicy {
  identity?: string;
  identityRegexp?: string;
  issuer?: string;
  issuerRegexp?: string;
  githubWorkflowTrigger?: string;
  githubWorkflowSha?: string;
  githubWorkflowName?: string;
  githubWorkflowRepository?: string;
  githubWorkflowRef?: string;
}

const regexCache = new Map<string, RegExp>();

function compile(pattern: string, flag: string): RegExp {
  let r = regexCache.get(pattern);
  if (r) return r;
  if (/\(\?P</.test(pattern)) {
    throw new SignetError('USAGE', `${flag}: named groups (?P<name>…) are RE2 syntax; write (?<name>…)`);
  }
  try {
    r = new RegExp(pattern);
  } catch (e) {
    throw new SignetError('USAGE', `${flag}: invalid regular expression ${JSON.stringify(pattern)}: ${(e as Error).message}`);
  }
  if (regexCache.size > 1000) regexCache.clear();
  regexCache.set(pattern, r);
  return r;
}

/**
 * Refuse a keyless policy that does not pin both an identity and an issuer, as cosign does; check the
 * regexps compile. Throws SignetError('USAGE'). Call it before any verification work.
 */
export function validateIdentityPolicy(policy: IdentityPolicy): void {
  if (!policy.identity && !policy.identityRegexp) {
    throw new SignetError('USAGE', '--certificate-identity or --certificate-identity-regexp is required for keyless verification');
  }
  if (!policy.issuer && !policy.issuerRegexp) {
    throw new SignetError('USAGE', '--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for keyless verification');
  }
  if (policy.identityRegexp) compile(policy.identityRegexp, '--certificate-identity-regexp');
  if (policy.issuerRegexp) compile(policy.issuerRegexp, '--certificate-oidc-issuer-regexp');
}

function matches(actual: string, exact: string | undefined, pattern: string | undefined, flag: string): boolean {
  if (exact && actual === exact) return true;
  if (pattern && compile(pattern, flag).test(actual)) return true;
  return false;
}

function expectation(exact: string | undefined, pattern: string | undefined): string {
  const parts: string[] = [];
  if (exact) parts.push(JSON.stringify(exact));
  if (pattern) parts.push(`the regular expression ${JSON.stringify(pattern)}`);
  return parts.join(' or ');
}

const WORKFLOW_LABELS: Record<keyof typeof RAW_EXTENSIONS, string> = {
  githubWorkflowTrigger: 'GitHub workflow trigger',
  githubWorkflowSha: 'GitHub workflow SHA',
  githubWorkflowName: 'GitHub workflow name',
  githubWorkflowRepository: 'GitHub workflow repository',
  githubWorkflowRef: 'GitHub workflow ref',
};

/**
 * Check a certificate identity against a cosign-style policy. Throws SignetError('USAGE') for an
 * incomplete policy and SignetError('VERIFICATION') naming the first claim that does not match.
 */
export function checkIdentity(identity: FulcioIdentity, policy: IdentityPolicy): void {
  validateIdentityPolicy(policy);
  if (!identity.sans.some((s) => matches(s.value, policy.identity, policy.identityRegexp, '--certificate-identity-regexp'))) {
    const want = expectation(policy.identity, policy.identityRegexp);
    if (identity.sans.length === 0) throw new SignetError('VERIFICATION', `certificate has no subject alternative name, expected ${want}`);
    throw new SignetError('VERIFICATION', `certificate identity ${identity.sans.map((s) => JSON.stringify(s.value)).join(', ')} does not match ${want}`);
  }
  const want = expectation(policy.issuer, policy.issuerRegexp);
  if (identity.issuer === undefined) throw new SignetError('VERIFICATION', `certificate has no OIDC issuer extension, expected ${want}`);
  if (!matches(identity.issuer, policy.issuer, policy.issuerRegexp, '--certificate-oidc-issuer-regexp')) {
    throw new SignetError('VERIFICATION', `certificate OIDC issuer ${JSON.stringify(identity.issuer)} does not match ${want}`);
  }
  for (const key of Object.keys(WORKFLOW_LABELS) as (keyof typeof RAW_EXTENSIONS)[]) {
    const expected = policy[key];
    if (!expected) continue;
    const actual = identity.extensions[key];
    if (actual === undefined) throw new SignetError('VERIFICATION', `certificate has no ${WORKFLOW_LABELS[key]}, expected ${JSON.stringify(expected)}`);
    if (actual !== expected) {
      throw new SignetError('VERIFICATION', `certificate ${WORKFLOW_LABELS[key]} ${JSON.stringify(actual)} does not match ${JSON.stringify(expected)}`);
    }
  }
}
