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
import { SignetError } from '../errors.js';
import { derChildren, derOid, derRead, findExtension, parseCertificate, type ParsedCertificate } from './certificate.js';

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

/** An iPAddress SAN as text: dotted IPv4, or RFC 5952 IPv6 (the longest run of ≥ 2 zero groups as ::). */
function ipString(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) malformed(`certificate has an IP address SAN of ${b.length} bytes`);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * GeneralNames read in place from the extension value (a schema decode of the SAN cost ~50 µs per
 * bundle). GeneralName tags (RFC 5280 §4.2.1.6, IMPLICIT): [0] otherName (constructed), [1] rfc822Name,
 * [2] dNSName, [6] URI, [7] iPAddress; [3] x400Address, [4] directoryName, [5] ediPartyName and
 * [8] registeredID carry no identity and are skipped; any other tag makes the extension malformed.
 * IA5String bytes are read one byte per character, as the schema decoder did.
 */
function subjectAltNames(cert: ParsedCertificate): SubjectAltName[] {
  const ext = findExtension(cert, OID_SAN);
  if (!ext) return [];
  const v = ext.value;
  const what = 'certificate subject alternative name extension';
  const bad = (): never => malformed('certificate has a malformed subject alternative name extension');
  const out: SubjectAltName[] = [];
  const seq = derRead(v, 0, v.length, what);
  if (seq.tag !== 0x30 || seq.end !== v.length) bad();
  for (const n of derChildren(v, seq, what)) {
    switch (n.tag) {
      case 0x81:
        out.push({ type: 'email', value: v.toString('latin1', n.body, n.end) });
        break;
      case 0x82:
        out.push({ type: 'dns', value: v.toString('latin1', n.body, n.end) });
        break;
      case 0x86:
        out.push({ type: 'uri', value: v.toString('latin1', n.body, n.end) });
        break;
      case 0x87:
        out.push({ type: 'ip', value: ipString(v.subarray(n.body, n.end)) });
        break;
      case 0xa0: {
        // OtherName ::= SEQUENCE { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY }
        const f = derChildren(v, n, what);
        if (f.length !== 2 || f[1]!.tag !== 0xa0) bad();
        const typeId = derOid(v, f[0]!, what);
        const inner = derChildren(v, f[1]!, what);
        if (inner.length !== 1) bad();
        // Fulcio's username is a UTF8String; other otherName values are not identities we can print.
        let s: string | undefined;
        try {
          s = derUtf8(v.subarray(inner[0]!.start, inner[0]!.end), 'otherName SAN');
        } catch {
          s = undefined;
        }
        if (s !== undefined) out.push({ type: typeId === OID_OTHERNAME_USERNAME ? 'username' : 'otherName', value: s });
        break;
      }
      case 0xa3:
      case 0xa4:
      case 0xa5:
      case 0x88:
        break;
      default:
        bad();
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
  if (identity.issuer === undefined) {
    // A certificate from an organisation's own CA names no OIDC issuer: cosign matches the empty issuer,
    // so only a regular expression that accepts "" (such as '.*') lets it through.
    if (!policy.issuerRegexp || !compile(policy.issuerRegexp, '--certificate-oidc-issuer-regexp').test('')) {
      throw new SignetError('VERIFICATION', `certificate has no OIDC issuer extension, expected ${want} (a certificate from your own CA names no issuer: --certificate-oidc-issuer-regexp '.*' accepts that)`);
    }
  } else if (!matches(identity.issuer, policy.issuer, policy.issuerRegexp, '--certificate-oidc-issuer-regexp')) {
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
