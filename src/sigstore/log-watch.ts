/**
 * `signet log monitor`, as a library: rekor-monitor's two jobs over a Rekor-compatible log.
 *
 * Consistency: each round fetches the log's signed checkpoint (C2SP tiles' `checkpoint` when the log
 * serves tiles, else Rekor v1's `/api/v1/log`), verifies its signature with the trusted root's log key,
 * and proves it extends the checkpoint stored in the state file (a consistency proof computed from tiles,
 * or `/api/v1/log/proof`). Only then is it stored, atomically. A checkpoint that does not verify, or a
 * tree that does not extend the stored one, is an alarm (`LogAlarm`, code LOG_ALARM); the state file is
 * then left as it was.
 *
 * Identity watch: every entry of the newly verified range is read (entry bundles, or v1 retrieve in
 * batches of 10, several requests in flight), its leaf hash appended to the compact range of the tree
 * before it, and the resulting root must be the signed root (or, for a step that ends earlier, the root
 * a consistency proof to the signed one vouches for): so every entry read is the log's entry at that
 * index, or the round is an alarm. Entries are matched against rekor-monitor's `monitoredValues`
 * (certificate identities with issuers, subject regexps, key fingerprints, Fulcio/OID extensions) and
 * matches reported once, after their step verified; the state then records the next index to read, so
 * a restart resumes without missing or repeating an entry (a crash between reporting a step and
 * storing it repeats that step's reports: at least once, never lost).
 */
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { SignetError } from '../errors.js';
import { ioError, readFileLimited, writeFileAtomic } from '../fsutil.js';
import {
  type Hash,
  type TileId,
  MerkleFrontier,
  TILE_WIDTH,
  consistencyProof,
  consistencyProofNodes,
  decodeEntryBundle,
  entriesPath,
  hashEquals,
  frontierFromConsistency,
  isPowerOfTwo,
  leafHash,
  proofNodeSet,
  rangeNodes,
  tileNodeReader,
  tilePath,
  tileWidth,
  tilesForNodes,
} from '../tlog/index.js';
import { derRead, findExtension, parseCertificate, type ParsedCertificate } from './certificate.js';
import { decodeBase64Strict } from './encoding.js';
import { certificateIdentity } from './identity.js';
import { RekorV1Client, TileLogClient } from './rekor-client.js';
import { verifyCheckpointWithLog } from './tlog.js';
import type { TrustedLog, TrustedRoot } from './trustedroot.js';

// ---------------------------------------------------------------------------------------------------
// Configuration: rekor-monitor's file

export interface CertIdentityRule {
  /** Regular expression over the certificate's SAN values (unanchored, as Go's MatchString). */
  certSubject: string;
  /** Regular expressions over the OIDC issuer extension; empty: any issuer. */
  issuers: string[];
}

export interface OidMatcher {
  /** Dotted OID, e.g. 1.3.6.1.4.1.57264.1.9. */
  objectIdentifier: string;
  /** Exact values. */
  extensionValues: string[];
}

/** rekor-monitor's `monitoredValues`. */
export interface MonitoredValues {
  certIdentities: CertIdentityRule[];
  /** Regular expressions over a signer's subject (here: the certificate's SAN values, any issuer). */
  subjects: string[];
  /** Hex SHA-256 of the DER SubjectPublicKeyInfo, or of the DER certificate. */
  fingerprints: string[];
  /** `oidMatchers`, `customExtensions` and `fulcioExtensions` (by name) together. */
  oidMatchers: OidMatcher[];
}

export interface MonitorConfig {
  monitoredValues: MonitoredValues;
  /** rekor-monitor's `startIndex`: where a fresh state starts (`--from-index` wins). */
  startIndex?: number;
}

const FULCIO_ARC = '1.3.6.1.4.1.57264.1.';
/** rekor-monitor's `fulcioExtensions` names → Fulcio OID suffixes (issuer: the v2 one, then the deprecated one). */
const FULCIO_EXTENSION_NAMES: Record<string, number[]> = {
  issuer: [8, 1],
  'github-workflow-trigger': [2],
  'github-workflow-sha': [3],
  'github-workflow-name': [4],
  'github-workflow-repository': [5],
  'github-workflow-ref': [6],
  'build-signer-uri': [9],
  'build-signer-digest': [10],
  'runner-environment': [11],
  'source-repository-uri': [12],
  'source-repository-digest': [13],
  'source-repository-ref': [14],
  'source-repository-identifier': [15],
  'source-repository-owner-uri': [16],
  'source-repository-owner-identifier': [17],
  'build-config-uri': [18],
  'build-config-digest': [19],
  'build-trigger': [20],
  'run-invocation-uri': [21],
  'source-repository-visibility-at-signing': [22],
  'deployment-environment': [23],
};

/** Top-level keys of rekor-monitor's config that are about its own outputs: accepted, not used here. */
const IGNORED_TOP_LEVEL = new Set(['endIndex', 'outputIdentities', 'logInfoFile', 'identityMetadataFile', 'serverURL', 'ctLogs', 'rekorShards']);

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function compileRegex(p: string, what: string): RegExp {
  if (/\(\?P</.test(p)) throw new SignetError('USAGE', `${what}: ${JSON.stringify(p)} uses RE2's (?P<name>…), write (?<name>…)`);
  try {
    return new RegExp(p);
  } catch (e) {
    throw new SignetError('USAGE', `${what}: ${JSON.stringify(p)} is not a valid regular expression (${(e as Error).message})`);
  }
}

/** Parses rekor-monitor's YAML (or JSON) config; every mistake is a USAGE error naming the field. */
export function parseMonitorConfig(text: string, where = 'monitor config'): MonitorConfig {
  const bad = (msg: string): never => {
    throw new SignetError('USAGE', `${where}: ${msg}`);
  };
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    bad(`not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!isObj(doc)) bad('must be a mapping with monitoredValues');
  const top = doc as Record<string, unknown>;
  for (const k of Object.keys(top)) if (k !== 'monitoredValues' && k !== 'startIndex' && !IGNORED_TOP_LEVEL.has(k)) bad(`unknown key ${JSON.stringify(k)}`);
  if (!isObj(top.monitoredValues)) bad('needs monitoredValues (certIdentities, subjects, fingerprints, fulcioExtensions, customExtensions, oidMatchers)');
  const mv = top.monitoredValues as Record<string, unknown>;
  const known = ['certIdentities', 'subjects', 'fingerprints', 'oidMatchers', 'fulcioExtensions', 'customExtensions'];
  for (const k of Object.keys(mv)) if (!known.includes(k)) bad(`monitoredValues has unknown key ${JSON.stringify(k)} (known: ${known.join(', ')})`);
  const strings = (v: unknown, what: string, allowScalar = false): string[] => {
    if (v === undefined || v === null) return [];
    if (allowScalar && typeof v === 'string') v = [v];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s.length > 0)) bad(`${what} must be a list of non-empty strings`);
    return v as string[];
  };
  const list = (v: unknown, what: string): unknown[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) bad(`${what} must be a list`);
    return v as unknown[];
  };
  const out: MonitoredValues = { certIdentities: [], subjects: [], fingerprints: [], oidMatchers: [] };
  list(mv.certIdentities, 'certIdentities').forEach((c, i) => {
    const what = `certIdentities[${i}]`;
    if (!isObj(c)) bad(`${what} must be a mapping with certSubject`);
    const ci = c as Record<string, unknown>;
    for (const k of Object.keys(ci)) if (k !== 'certSubject' && k !== 'issuers') bad(`${what} has unknown key ${JSON.stringify(k)}`);
    if (typeof ci.certSubject !== 'string' || ci.certSubject === '') bad(`${what}.certSubject must be a non-empty regular expression`);
    const rule = { certSubject: ci.certSubject as string, issuers: strings(ci.issuers, `${what}.issuers`) };
    compileRegex(rule.certSubject, `${where}: ${what}.certSubject`);
    rule.issuers.forEach((p, j) => compileRegex(p, `${where}: ${what}.issuers[${j}]`));
    out.certIdentities.push(rule);
  });
  out.subjects = strings(mv.subjects, 'subjects');
  out.subjects.forEach((p, i) => compileRegex(p, `${where}: subjects[${i}]`));
  out.fingerprints = strings(mv.fingerprints, 'fingerprints').map((f, i) => {
    const hex = f.toLowerCase().replace(/^sha256:/, '').replace(/:/g, '');
    if (!/^[0-9a-f]{64}$/.test(hex)) bad(`fingerprints[${i}] must be the hex SHA-256 of a DER public key or certificate, got ${JSON.stringify(f)}`);
    return hex;
  });
  for (const key of ['oidMatchers', 'customExtensions'] as const) {
    list(mv[key], key).forEach((m, i) => {
      const what = `${key}[${i}]`;
      if (!isObj(m)) bad(`${what} must be a mapping with objectIdentifier and extensionValues`);
      const o = m as Record<string, unknown>;
      let oid = o.objectIdentifier;
      if (Array.isArray(oid) && oid.every((n) => Number.isInteger(n) && n >= 0)) oid = oid.join('.');
      if (typeof oid !== 'string' || !/^[0-2](\.(0|[1-9][0-9]*))+$/.test(oid)) bad(`${what}.objectIdentifier must be a dotted OID such as 1.3.6.1.4.1.57264.1.9`);
      const values = strings(o.extensionValues, `${what}.extensionValues`, true);
      if (values.length === 0) bad(`${what}.extensionValues must not be empty`);
      out.oidMatchers.push({ objectIdentifier: oid as string, extensionValues: values });
    });
  }
  if (mv.fulcioExtensions !== undefined && mv.fulcioExtensions !== null) {
    if (!isObj(mv.fulcioExtensions)) bad('fulcioExtensions must be a mapping of extension names to values');
    for (const [name, v] of Object.entries(mv.fulcioExtensions)) {
      const suffixes = FULCIO_EXTENSION_NAMES[name];
      if (!suffixes) bad(`fulcioExtensions has unknown extension ${JSON.stringify(name)} (known: ${Object.keys(FULCIO_EXTENSION_NAMES).join(', ')})`);
      const values = strings(v, `fulcioExtensions.${name}`, true);
      for (const s of suffixes!) out.oidMatchers.push({ objectIdentifier: FULCIO_ARC + s, extensionValues: values });
    }
  }
  if (out.certIdentities.length + out.subjects.length + out.fingerprints.length + out.oidMatchers.length === 0) bad('monitoredValues lists nothing to watch');
  const cfg: MonitorConfig = { monitoredValues: out };
  if (top.startIndex !== undefined) {
    if (!Number.isSafeInteger(top.startIndex) || (top.startIndex as number) < 0) bad('startIndex must be a non-negative integer');
    cfg.startIndex = top.startIndex as number;
  }
  return cfg;
}

export async function loadMonitorConfig(path: string): Promise<MonitorConfig> {
  const bytes = await readFileLimited(path, 1024 * 1024, `monitor config ${path}`);
  return parseMonitorConfig(bytes.toString('utf8'), `monitor config ${path}`);
}

// ---------------------------------------------------------------------------------------------------
// Entries: who signed, what, and whether it is watched

export interface EntryMatch {
  type: 'certIdentity' | 'subject' | 'fingerprint' | 'extension';
  /** The configured value that matched (regexp, fingerprint or OID). */
  rule: string;
  /** What in the entry matched it (SAN, fingerprint, extension value). */
  value: string;
  issuer?: string;
}

export interface WatchedEntry {
  index: number;
  /** Hex RFC 6962 leaf hash (Rekor's UUID). */
  uuid: string;
  kind: string;
  apiVersion: string;
  /** The artifact (or DSSE payload) digest, `<alg>:<hex>`. */
  digest?: string;
  /** The first certificate signer's SAN and OIDC issuer. */
  identity?: { subject?: string; issuer?: string };
  /** Hex SHA-256 of the first signer's DER SubjectPublicKeyInfo. */
  fingerprint?: string;
  matches: EntryMatch[];
}

interface Signer {
  spki: Buffer;
  cert?: ParsedCertificate;
}

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/;

function signerFromPemB64(b64: unknown, what: string): Signer {
  if (typeof b64 !== 'string') throw new SignetError('MALFORMED', `${what} is not a string`);
  const pem = decodeBase64Strict(b64, what).toString('utf8');
  const m = PEM_RE.exec(pem);
  if (!m) throw new SignetError('MALFORMED', `${what} is not PEM`);
  const der = decodeBase64Strict(m[2]!.replace(/\s+/g, ''), what);
  if (m[1] === 'CERTIFICATE') {
    const cert = parseCertificate(der, what);
    return { spki: cert.spki, cert };
  }
  return { spki: der };
}

function signerFromDerVerifier(v: unknown, what: string): Signer {
  if (!isObj(v)) throw new SignetError('MALFORMED', `${what} is not an object`);
  const cert = isObj(v.x509Certificate) ? v.x509Certificate.rawBytes : undefined;
  const key = isObj(v.publicKey) ? v.publicKey.rawBytes : undefined;
  if (typeof cert === 'string') {
    const der = decodeBase64Strict(cert, what);
    try {
      const c = parseCertificate(der, what);
      return { spki: c.spki, cert: c };
    } catch {
      // sigstore-js logs a key's SPKI in x509Certificate
      return { spki: der };
    }
  }
  if (typeof key === 'string') return { spki: decodeBase64Strict(key, what) };
  throw new SignetError('MALFORMED', `${what} has neither a certificate nor a public key`);
}

const V2_HASH: Record<string, string> = { SHA2_256: 'sha256', SHA2_384: 'sha384', SHA2_512: 'sha512' };

function hexDigest(h: unknown): string | undefined {
  if (isObj(h) && typeof h.algorithm === 'string' && typeof h.value === 'string') return `${h.algorithm}:${h.value}`;
  return undefined;
}

function v2Digest(h: unknown): string | undefined {
  if (isObj(h) && typeof h.algorithm === 'string' && typeof h.digest === 'string') return `${V2_HASH[h.algorithm] ?? h.algorithm.toLowerCase()}:${decodeBase64Strict(h.digest, 'digest').toString('hex')}`;
  return undefined;
}

/** Kind, version, artifact digest and signers of a canonical log body (the kinds Signet and Rekor log). */
export function parseEntryBody(body: Uint8Array): { kind: string; apiVersion: string; digest?: string; signers: Signer[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', 'the entry body is not JSON');
  }
  if (!isObj(doc) || typeof doc.kind !== 'string' || typeof doc.apiVersion !== 'string' || !isObj(doc.spec)) {
    throw new SignetError('MALFORMED', 'the entry body has no kind, apiVersion and spec');
  }
  const { kind, apiVersion } = doc;
  const spec = doc.spec;
  const out: { kind: string; apiVersion: string; digest?: string; signers: Signer[] } = { kind, apiVersion, signers: [] };
  const at = `${kind} ${apiVersion}`;
  if (kind === 'hashedrekord' && isObj(spec.hashedRekordV002)) {
    const s = spec.hashedRekordV002;
    const d = v2Digest(s.data);
    if (d) out.digest = d;
    if (isObj(s.signature)) out.signers.push(signerFromDerVerifier(s.signature.verifier, `${at} verifier`));
  } else if (kind === 'hashedrekord') {
    const d = isObj(spec.data) ? hexDigest(spec.data.hash) : undefined;
    if (d) out.digest = d;
    if (isObj(spec.signature) && isObj(spec.signature.publicKey)) out.signers.push(signerFromPemB64(spec.signature.publicKey.content, `${at} public key`));
  } else if (kind === 'dsse' && isObj(spec.dsseV002)) {
    const s = spec.dsseV002;
    const d = v2Digest(s.payloadHash);
    if (d) out.digest = d;
    if (Array.isArray(s.signatures)) s.signatures.forEach((g: unknown, i: number) => isObj(g) && out.signers.push(signerFromDerVerifier(g.verifier, `${at} signature ${i} verifier`)));
  } else if (kind === 'dsse') {
    const d = hexDigest(spec.payloadHash);
    if (d) out.digest = d;
    if (Array.isArray(spec.signatures)) spec.signatures.forEach((g: unknown, i: number) => isObj(g) && out.signers.push(signerFromPemB64(g.verifier, `${at} signature ${i} verifier`)));
  } else if (kind === 'intoto' && isObj(spec.content)) {
    const d = hexDigest(spec.content.payloadHash) ?? hexDigest(spec.content.hash);
    if (d) out.digest = d;
    const env = spec.content.envelope;
    if (isObj(env) && Array.isArray(env.signatures)) env.signatures.forEach((g: unknown, i: number) => isObj(g) && out.signers.push(signerFromPemB64(g.publicKey, `${at} signature ${i} public key`)));
  } else if (isObj(spec.signature) && isObj(spec.signature.publicKey) && typeof spec.signature.publicKey.content === 'string') {
    // rekord and other x509-signed kinds
    try {
      out.signers.push(signerFromPemB64(spec.signature.publicKey.content, `${at} public key`));
    } catch {
      // PGP, SSH, minisign keys: no fingerprint we compute
    }
  }
  return out;
}

/** A string-valued extension: DER UTF8String/IA5String/PrintableString, or raw text (Fulcio 1.1–1.6). */
function extensionText(value: Buffer): string {
  try {
    const el = derRead(value, 0, value.length, 'extension');
    if ((el.tag === 0x0c || el.tag === 0x16 || el.tag === 0x13) && el.end === value.length) return value.toString('utf8', el.body, el.end);
  } catch {
    // raw
  }
  return value.toString('utf8');
}

export interface EntryMatcher {
  match(index: number, body: Uint8Array): WatchedEntry | undefined;
}

/** Compiles `monitoredValues` into a matcher for canonical log bodies. */
export function entryMatcher(values: MonitoredValues): EntryMatcher {
  const certIds = values.certIdentities.map((r) => ({ rule: r, subject: new RegExp(r.certSubject), issuers: r.issuers.map((p) => new RegExp(p)) }));
  const subjects = values.subjects.map((p) => ({ rule: p, re: new RegExp(p) }));
  const fingerprints = new Set(values.fingerprints);
  const oids = values.oidMatchers;
  // Certificates are decoded only when a rule looks into them.
  const certRules = certIds.length + subjects.length + oids.length > 0;
  const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
  return {
    match(index, body) {
      const parsed = parseEntryBody(body);
      const matches: EntryMatch[] = [];
      let identity: WatchedEntry['identity'];
      for (const s of parsed.signers) {
        if (fingerprints.size > 0) {
          const fps = [sha256(s.spki), ...(s.cert ? [sha256(s.cert.der)] : [])];
          for (const f of fps) if (fingerprints.has(f)) matches.push({ type: 'fingerprint', rule: f, value: f });
        }
        if (!s.cert || !certRules) continue;
        const id = certificateIdentity(s.cert);
        identity ??= { ...(id.subject !== undefined ? { subject: id.subject } : {}), ...(id.issuer !== undefined ? { issuer: id.issuer } : {}) };
        const sans = id.sans.map((x) => x.value);
        for (const c of certIds) {
          // As rekor-monitor: no issuer extension, no certificate-identity match.
          if (id.issuer === undefined) break;
          const san = sans.find((v) => c.subject.test(v));
          if (san === undefined) continue;
          if (c.issuers.length > 0 && !c.issuers.some((re) => re.test(id.issuer!))) continue;
          matches.push({ type: 'certIdentity', rule: c.rule.certSubject, value: san, issuer: id.issuer });
        }
        for (const sub of subjects) {
          const san = sans.find((v) => sub.re.test(v));
          if (san !== undefined) matches.push({ type: 'subject', rule: sub.rule, value: san });
        }
        for (const o of oids) {
          const ext = findExtension(s.cert, o.objectIdentifier);
          if (!ext) continue;
          const v = extensionText(ext.value);
          // The issuer sits in two extensions (1.8 and the deprecated 1.1): one match for one value.
          if (o.extensionValues.includes(v) && !matches.some((x) => x.type === 'extension' && x.value === v)) matches.push({ type: 'extension', rule: o.objectIdentifier, value: v });
        }
      }
      if (matches.length === 0) return undefined;
      if (!identity) {
        const cert = parsed.signers.find((x) => x.cert)?.cert;
        if (cert) {
          const id = certificateIdentity(cert);
          identity = { ...(id.subject !== undefined ? { subject: id.subject } : {}), ...(id.issuer !== undefined ? { issuer: id.issuer } : {}) };
        }
      }
      const out: WatchedEntry = { index, uuid: Buffer.from(leafHash(body)).toString('hex'), kind: parsed.kind, apiVersion: parsed.apiVersion, matches };
      if (parsed.digest) out.digest = parsed.digest;
      if (identity) out.identity = identity;
      if (parsed.signers[0]) out.fingerprint = sha256(parsed.signers[0].spki);
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Where the tree comes from: tiles, or Rekor v1

type Chunk = { start: number; bodies: Uint8Array[] };

interface LogSource {
  readonly api: 'tiles' | 'v1';
  /** The signed note, and for v1 the size and root the log claims next to it. */
  checkpoint(): Promise<{ note: string; claimed?: { size: number; rootHash: string } }>;
  consistencyProof(size1: number, size2: number): Promise<Hash[]>;
  /** The compact range at `start` read from the log (vouched for later, by the root over the entries). */
  frontierAt(start: number, size: number, root: Hash): Promise<MerkleFrontier>;
  /** Entry bodies of [start, end) of the tree of `size`, in order, a chunk at a time. */
  entries(start: number, end: number, size: number, onChunk: (c: Chunk) => void): Promise<void>;
}

/** Runs `jobs` with at most `window` in flight, handing results to `take` in order. */
async function ordered<T>(jobs: Array<() => Promise<T>>, window: number, take: (t: T) => void): Promise<void> {
  const inFlight: Array<Promise<T>> = [];
  let next = 0;
  const fill = (): void => {
    while (inFlight.length < window && next < jobs.length) {
      const p = jobs[next++]!();
      p.catch(() => undefined);
      inFlight.push(p);
    }
  };
  fill();
  while (inFlight.length > 0) {
    const r = await inFlight.shift()!;
    take(r);
    fill();
  }
}

class TileSource implements LogSource {
  readonly api = 'tiles' as const;
  constructor(
    private readonly c: TileLogClient,
    private readonly note: string,
    private readonly window: number,
  ) {}

  checkpoint(): Promise<{ note: string }> {
    return Promise.resolve({ note: this.note });
  }

  private async tiles(ids: readonly TileId[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    await ordered(
      ids.map((t) => async () => {
        const path = tilePath(t.level, t.index, t.width);
        const data = await this.c.resource(path, t.width < TILE_WIDTH ? tilePath(t.level, t.index) : undefined);
        if (!data) throw new SignetError('TLOG', `transparency log ${this.c.baseUrl} does not serve ${path}`);
        return { key: `${t.level}/${t.index}`, data: data.length > t.width * 32 ? data.subarray(0, t.width * 32) : data };
      }),
      this.window,
      (r) => out.set(r.key, r.data),
    );
    return out;
  }

  private async reader(nodes: ReturnType<typeof rangeNodes>, size: number) {
    const tiles = await this.tiles(tilesForNodes(nodes, size));
    return tileNodeReader(size, (t) => tiles.get(`${t.level}/${t.index}`));
  }

  async consistencyProof(size1: number, size2: number): Promise<Hash[]> {
    if (size1 === 0) return [];
    const read = await this.reader(proofNodeSet(consistencyProofNodes(size1, size2)), size2);
    return consistencyProof(size1, size2, read);
  }

  async frontierAt(start: number, size: number): Promise<MerkleFrontier> {
    if (start === 0) return MerkleFrontier.empty();
    return MerkleFrontier.fromReader(start, await this.reader(rangeNodes(0, start), size));
  }

  async entries(start: number, end: number, size: number, onChunk: (c: Chunk) => void): Promise<void> {
    const jobs: Array<() => Promise<Chunk>> = [];
    for (let n = Math.floor(start / TILE_WIDTH); n * TILE_WIDTH < end; n++) {
      const width = tileWidth(0, n, size);
      const first = n * TILE_WIDTH;
      jobs.push(async () => {
        const path = entriesPath(n, width);
        const data = await this.c.resource(path, width < TILE_WIDTH ? entriesPath(n) : undefined);
        if (!data) throw new SignetError('TLOG', `transparency log ${this.c.baseUrl} does not serve ${path}`);
        const all = decodeEntryBundle(data);
        if (all.length < width) throw new SignetError('TLOG', `transparency log ${this.c.baseUrl} served ${path} with ${all.length} entries, expected ${width}`);
        const from = Math.max(start, first);
        const to = Math.min(end, first + width);
        return { start: from, bodies: all.slice(from - first, to - first) };
      });
    }
    await ordered(jobs, this.window, onChunk);
  }
}

/** Rekor's `maxSearchQueries`: retrieve answers at most 10 entries per request. */
const V1_BATCH = 10;

class V1Source implements LogSource {
  readonly api = 'v1' as const;
  constructor(
    private readonly c: RekorV1Client,
    private readonly window: number,
  ) {}

  async checkpoint(): Promise<{ note: string; claimed: { size: number; rootHash: string } }> {
    const li = await this.c.logInfo();
    return { note: li.signedTreeHead, claimed: { size: li.treeSize, rootHash: li.rootHash } };
  }

  async consistencyProof(size1: number, size2: number): Promise<Hash[]> {
    if (size1 === 0) return [];
    return (await this.c.consistencyProof(size1, size2)).hashes.map((h) => Buffer.from(h, 'hex'));
  }

  async frontierAt(start: number, size: number, root: Hash): Promise<MerkleFrontier> {
    if (start === 0) return MerkleFrontier.empty();
    let root1: Hash | undefined;
    if (isPowerOfTwo(start)) {
      const r = (await this.c.consistencyProof(start, start)).rootHash;
      if (!/^[0-9a-f]{64}$/.test(r)) throw new SignetError('MALFORMED', `transparency log ${this.c.baseUrl} gave no root hash for tree size ${start}`);
      root1 = Buffer.from(r, 'hex');
    }
    const proof = await this.consistencyProof(start, size);
    return MerkleFrontier.fromNodes(start, frontierFromConsistency(start, size, proof, root1, root));
  }

  async entries(start: number, end: number, _size: number, onChunk: (c: Chunk) => void): Promise<void> {
    const jobs: Array<() => Promise<Chunk>> = [];
    for (let i = start; i < end; i += V1_BATCH) {
      const idx = Array.from({ length: Math.min(V1_BATCH, end - i) }, (_, k) => i + k);
      jobs.push(async () => ({ start: i, bodies: (await this.c.retrieveByIndexes(idx)).map((e) => decodeBase64Strict(e.body, `entry ${e.logIndex} body`)) }));
    }
    await ordered(jobs, this.window, onChunk);
  }
}

// ---------------------------------------------------------------------------------------------------
// State

export interface MonitorState {
  version: 1;
  /** The log's URL as given. */
  url: string;
  /** Which read API the log was followed through. */
  api: 'tiles' | 'v1';
  /** Hex SHA-256 of the log key's SPKI: later checkpoints must be signed by the same key. */
  logKey: string;
  size: number;
  rootHash: string;
  /** The last verified signed checkpoint. */
  checkpoint: string;
  /** Entries below this index were read and matched (equal to `size` after every completed round). */
  nextIndex: number;
  updated: string;
}

function corruptState(path: string, why: string): never {
  throw new SignetError('MALFORMED', `state file ${path} is corrupt (${why}); restore it, or delete it to start over from the current checkpoint`);
}

/** The state file, or undefined when there is none yet. A file that does not parse is an error, never replaced. */
export async function readMonitorState(path: string): Promise<MonitorState | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFileLimited(path, 1024 * 1024, `state file ${path}`);
  } catch (e) {
    if (e instanceof SignetError && (e.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
    throw e;
  }
  let d: unknown;
  try {
    d = JSON.parse(bytes.toString('utf8'));
  } catch {
    corruptState(path, 'not JSON');
  }
  if (!isObj(d)) corruptState(path, 'not a JSON object');
  const s = d as Record<string, unknown>;
  if (s.version !== 1) corruptState(path, `unknown version ${JSON.stringify(s.version)}`);
  const nat = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  if (typeof s.url !== 'string' || (s.api !== 'tiles' && s.api !== 'v1') || typeof s.logKey !== 'string' || !/^[0-9a-f]{64}$/.test(s.logKey)) corruptState(path, 'no url, api or logKey');
  if (!nat(s.size) || typeof s.rootHash !== 'string' || !/^[0-9a-f]{64}$/.test(s.rootHash) || typeof s.checkpoint !== 'string') corruptState(path, 'no checkpoint');
  if (!nat(s.nextIndex) || (s.nextIndex as number) > (s.size as number)) corruptState(path, 'nextIndex is not an index of the stored tree');
  return s as unknown as MonitorState;
}

// ---------------------------------------------------------------------------------------------------
// One round

export type AlarmReason = 'bad-checkpoint' | 'inconsistent' | 'fork' | 'entries';

export type MonitorEvent =
  | { type: 'match'; log: string; entry: WatchedEntry }
  | { type: 'entry-unreadable'; log: string; index: number; uuid: string; error: string }
  | { type: 'checkpoint'; log: string; size: number; rootHash: string; previousSize?: number; entriesRead: number; matches: number }
  | { type: 'stale'; log: string; size: number; storedSize: number }
  | { type: 'alarm'; log: string; reason: AlarmReason; message: string; size?: number; storedSize?: number };

/** A checkpoint that does not verify or a tree that does not extend the stored one. Exit code 3. */
export class LogAlarm extends SignetError {
  readonly event: Extract<MonitorEvent, { type: 'alarm' }>;
  constructor(event: Extract<MonitorEvent, { type: 'alarm' }>) {
    super('LOG_ALARM', `ALARM: ${event.message}`);
    this.event = event;
  }
}

export interface MonitorOptions {
  url: string;
  trustedRoot: TrustedRoot;
  statePath: string;
  /** Where a fresh state starts reading entries (default: the current checkpoint). */
  fromIndex?: number;
  /** Without it, only consistency is checked and entries are not read. */
  watch?: MonitoredValues;
  /** Requests in flight while reading entries (default 8). */
  concurrency?: number;
  /** Entries per step: each step is verified, reported and stored before the next (default 65536). */
  step?: number;
  emit: (e: MonitorEvent) => void;
}

export interface RoundResult {
  size: number;
  previousSize?: number;
  entriesRead: number;
  matches: number;
  api: 'tiles' | 'v1';
}

const spkiHash = (l: TrustedLog): string => createHash('sha256').update(l.spkiDer).digest('hex');

/** One monitoring round (see the file comment). Throws LogAlarm on an alarm, other SignetErrors on failures. */
export async function monitorRound(o: MonitorOptions): Promise<RoundResult> {
  const log = o.url.replace(/\/+$/, '');
  const state = await readMonitorState(o.statePath);
  if (state && state.url.replace(/\/+$/, '') !== log) {
    throw new SignetError('USAGE', `state file ${o.statePath} follows ${state.url}, not ${o.url}; use another --state file`);
  }
  const window = o.concurrency ?? 8;
  const alarm = (reason: AlarmReason, message: string, extra: { size?: number; storedSize?: number } = {}): never => {
    throw new LogAlarm({ type: 'alarm', log, reason, message, ...extra });
  };

  // The log's read API: tiles when it serves them.
  let source: LogSource;
  const tileClient = new TileLogClient({ baseUrl: log });
  const tileNote = state?.api === 'v1' ? undefined : await tileClient.checkpoint();
  if (tileNote !== undefined) source = new TileSource(tileClient, tileNote, window);
  else if (state?.api === 'tiles') throw new SignetError('TLOG', `transparency log ${log} no longer serves its checkpoint at ${tileClient.prefix}/checkpoint`);
  else source = new V1Source(new RekorV1Client({ baseUrl: log }), window);

  // 1. The checkpoint, signed by the log key of the trusted root (the same key as before).
  const { note, claimed } = await source.checkpoint();
  const logs = state ? o.trustedRoot.tlogs.filter((l) => spkiHash(l) === state.logKey) : o.trustedRoot.tlogs;
  if (state && logs.length === 0) throw new SignetError('TLOG', `the trusted root no longer holds the key of ${log} that signed the stored checkpoint`);
  let cp: ReturnType<typeof verifyCheckpointWithLog> | undefined;
  let signer: TrustedLog | undefined;
  let why = 'the trusted root holds no transparency log key';
  for (const l of logs) {
    try {
      cp = verifyCheckpointWithLog(note, l);
      signer = l;
      break;
    } catch (e) {
      why = (e as Error).message;
    }
  }
  if (!cp || !signer) return alarm('bad-checkpoint', `the checkpoint of ${log} does not verify with the trusted root's log key: ${why}`);
  const rootHex = Buffer.from(cp.rootHash).toString('hex');
  if (claimed && (claimed.size !== cp.size || claimed.rootHash !== rootHex)) {
    alarm('bad-checkpoint', `${log} reports tree size ${claimed.size} and root ${claimed.rootHash.slice(0, 16)}… next to a checkpoint signed for size ${cp.size}, root ${rootHex.slice(0, 16)}…`, { size: cp.size });
  }

  // 2. Consistency with the stored checkpoint.
  let stored: ReturnType<typeof verifyCheckpointWithLog> | undefined;
  let storedFrontier: Hash[] | undefined;
  if (state) {
    try {
      stored = verifyCheckpointWithLog(state.checkpoint, signer);
    } catch (e) {
      corruptState(o.statePath, `its checkpoint does not verify: ${(e as Error).message}`);
    }
    if (stored!.size !== state.size || Buffer.from(stored!.rootHash).toString('hex') !== state.rootHash) corruptState(o.statePath, 'its size and root differ from its checkpoint');
    const sz = { size: cp.size, storedSize: stored!.size };
    if (cp.size < stored!.size) {
      o.emit({ type: 'stale', log, size: cp.size, storedSize: stored!.size });
      return { size: stored!.size, previousSize: stored!.size, entriesRead: 0, matches: 0, api: source.api };
    }
    if (cp.size === stored!.size && !hashEquals(cp.rootHash, stored!.rootHash)) {
      alarm('fork', `${log} shows two different trees of size ${cp.size}: the log has forked (stored root ${state.rootHash.slice(0, 16)}…, now ${rootHex.slice(0, 16)}…)`, sz);
    }
    if (cp.size > stored!.size) {
      const proof = await source.consistencyProof(stored!.size, cp.size);
      try {
        storedFrontier = frontierFromConsistency(stored!.size, cp.size, proof, stored!.rootHash, cp.rootHash);
      } catch (e) {
        alarm('inconsistent', `the checkpoint of ${log} at size ${cp.size} is not consistent with the stored one at size ${stored!.size}: ${(e as Error).message}`, sz);
      }
    }
  }

  // 3. The entries of the verified range, in steps: each step's entries must make up the tree at its
  // end (the signed root, or a root the consistency proof to the signed one vouches for), then its
  // matches are reported and the state records its end, so a long backlog survives a restart.
  const start = state ? state.nextIndex : Math.min(o.fromIndex ?? cp.size, cp.size);
  if (!state && o.fromIndex !== undefined && o.fromIndex > cp.size) {
    throw new SignetError('USAGE', `--from-index ${o.fromIndex} is beyond the log's tree size ${cp.size}`);
  }
  const save = async (nextIndex: number): Promise<void> => {
    const next: MonitorState = {
      version: 1,
      url: o.url,
      api: source.api,
      logKey: spkiHash(signer!),
      size: cp!.size,
      rootHash: rootHex,
      checkpoint: note,
      nextIndex,
      updated: new Date().toISOString(),
    };
    if (state && state.size === next.size && state.nextIndex === next.nextIndex && state.api === next.api) return;
    try {
      await writeFileAtomic(o.statePath, JSON.stringify(next, null, 2) + '\n', 0o600);
    } catch (e) {
      throw e instanceof SignetError ? e : ioError(`state file ${o.statePath}`, e);
    }
  };
  let matches = 0;
  let entriesRead = 0;
  if (o.watch && start < cp.size) {
    const inconsistent = (e: unknown, at: number): void => {
      if (e instanceof SignetError && (e.code === 'TLOG' || e.code === 'MALFORMED') && !/does not serve|gave no root/.test(e.message)) {
        alarm('inconsistent', `${log} served a tree at index ${at} that does not lead to its signed root: ${e.message}`, { size: cp.size });
      }
    };
    let frontier: MerkleFrontier;
    if (storedFrontier && start === stored!.size) frontier = MerkleFrontier.fromNodes(start, storedFrontier);
    else {
      try {
        frontier = await source.frontierAt(start, cp.size, cp.rootHash);
      } catch (e) {
        inconsistent(e, start);
        throw e;
      }
    }
    const matcher = entryMatcher(o.watch);
    const step = Math.max(2, o.step ?? 65536);
    for (let pos = start; pos < cp.size; ) {
      let end = Math.min(cp.size, pos + step);
      // A power-of-two tree size is left out of its consistency proofs; end a step just before it.
      if (end < cp.size && isPowerOfTwo(end) && end - 1 > pos) end--;
      let rootAtEnd: Hash = cp.rootHash;
      if (end < cp.size) {
        const proof = await source.consistencyProof(end, cp.size);
        try {
          rootAtEnd = MerkleFrontier.fromNodes(end, frontierFromConsistency(end, cp.size, proof, undefined, cp.rootHash)).root();
        } catch (e) {
          inconsistent(e, end);
          throw e;
        }
      }
      const found: WatchedEntry[] = [];
      await source.entries(pos, end, cp.size, (chunk) => {
        chunk.bodies.forEach((body, k) => {
          const index = chunk.start + k;
          if (index !== frontier.size) throw new SignetError('INTERNAL', `entry ${index} read out of order (expected ${frontier.size})`);
          const leaf = leafHash(body);
          frontier.append(leaf);
          try {
            const m = matcher.match(index, body);
            if (m) found.push(m);
          } catch (e) {
            o.emit({ type: 'entry-unreadable', log, index, uuid: Buffer.from(leaf).toString('hex'), error: (e as Error).message });
          }
        });
        entriesRead += chunk.bodies.length;
      });
      if (frontier.size !== end) throw new SignetError('INTERNAL', `read entries up to ${frontier.size}, expected ${end}`);
      if (!hashEquals(frontier.root(), rootAtEnd)) {
        alarm('entries', `the entries ${log} served for indexes ${pos}..${end - 1} do not make up its signed tree of size ${cp.size}`, { size: cp.size });
      }
      // Report, then store: a state written is a range reported.
      for (const entry of found) o.emit({ type: 'match', log, entry });
      matches += found.length;
      await save(end);
      pos = end;
    }
  } else {
    await save(cp.size);
  }

  const previousSize = stored?.size;
  o.emit({ type: 'checkpoint', log, size: cp.size, rootHash: rootHex, ...(previousSize !== undefined ? { previousSize } : {}), entriesRead, matches });
  return { size: cp.size, ...(previousSize !== undefined ? { previousSize } : {}), entriesRead, matches, api: source.api };
}
