/**
 * Offline verification of transparency-log evidence: the tlog entries of a Sigstore bundle and cosign's
 * legacy `dev.sigstore.cosign/bundle` annotation. Pure: the trusted root is passed in, nothing is fetched.
 *
 * An entry proves something only about the signature it describes, so the logged body is first matched
 * against the signature, key and content being verified (a valid entry for another signature must not
 * vouch for this one, cf. CVE-2022-36056). Then the log's own signatures: the SET (inclusion promise)
 * and/or the inclusion proof up to a checkpoint signed by the same log key.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { SignetError } from '../errors.js';
import { decodePemBlocks } from '../keys/pem.js';
import { leafHash, parseNote, verifyCheckpoint, verifyInclusion, verifySET, type NoteVerifier } from '../tlog/index.js';
import { checkWitnessPolicy, type WitnessPolicy } from '../tlog/witness-policy.js';

export type { WitnessPolicy };
import { parsedEntryBody, type ParsedBundle, type TlogEntryJSON } from './bundle.js';
import { pae } from './dsse.js';
import { decodeBase64Strict, type HashAlg } from './encoding.js';
import { findLog, logValidAt, type TrustedLog, type TrustedRoot } from './trustedroot.js';

/** What was signed, as the verifier knows it independently of the log entry. */
export interface SignedMaterial {
  signature: Buffer;
  /** The verifying key (DER SPKI), for key-based signatures. */
  publicKeySpki?: Buffer;
  /** The signing certificate (DER), for keyless signatures. */
  certificate?: Buffer;
  content:
    | { kind: 'digest'; hashAlg: HashAlg; digest: Buffer }
    /** The signed bytes themselves (legacy `.sig` payloads): the entry may name their digest in any algorithm. */
    | { kind: 'bytes'; data: Buffer }
    | {
        kind: 'dsse';
        payloadType: string;
        payload: Buffer;
        /** The envelope bytes as stored (legacy `.att` layers); a dsse entry's envelopeHash must match them. */
        envelopeBytes?: Buffer;
      };
}

export interface VerifiedTlogEntry {
  log: TrustedLog;
  logIndex: number;
  /** Seconds since the epoch; absent for Rekor v2 entries. */
  integratedTime?: number;
  kind: string;
  version: string;
  /** Which of the log's statements were checked. */
  checked: Array<'inclusionPromise' | 'inclusionProof'>;
  /** The signed checkpoint of the verified inclusion proof (witness cosignatures, if any, included). */
  checkpoint?: string;
}

function fail(msg: string): never {
  throw new SignetError('TLOG', msg);
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function field(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const k of path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function str(o: unknown, path: string, what: string): string {
  const v = field(o, path);
  if (typeof v !== 'string' || v === '') fail(`log entry body has no ${what} (${path})`);
  return v;
}

function b64(s: string, what: string): Buffer {
  try {
    return decodeBase64Strict(s, what);
  } catch {
    fail(`${what} is not valid base64`);
  }
}

/** int64 in protojson: a decimal string or a JSON number. */
function int(v: unknown, what: string, optional = false): number | undefined {
  if (v === undefined || v === null) {
    if (optional) return undefined;
    fail(`log entry has no ${what}`);
  }
  const s = typeof v === 'number' ? String(v) : v;
  if (typeof s !== 'string' || !/^(0|[1-9][0-9]*)$/.test(s) || !Number.isSafeInteger(Number(s))) fail(`log entry ${what} ${JSON.stringify(v)} is not a non-negative integer`);
  return Number(s);
}

const V1_ALG: Record<string, HashAlg> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };
const V2_ALG: Record<string, HashAlg> = { SHA2_256: 'sha256', SHA2_384: 'sha384', SHA2_512: 'sha512' };

/** Does a verifier named in a log entry (PEM public key or certificate, or DER of either) denote our key? */
function verifierMatches(m: SignedMaterial, v: { pem?: string; spki?: Buffer; certDer?: Buffer }): boolean {
  let spki = v.spki;
  let certDer = v.certDer;
  if (v.pem !== undefined) {
    const [block] = decodePemBlocks(v.pem);
    if (!block) return false;
    if (block.label === 'PUBLIC KEY') spki = block.der;
    else if (block.label === 'CERTIFICATE') certDer = block.der;
    else return false;
  }
  if (certDer) {
    if (m.certificate && m.certificate.equals(certDer)) return true;
    if (!m.publicKeySpki) return false;
    try {
      spki = new X509Certificate(certDer).publicKey.export({ format: 'der', type: 'spki' });
    } catch {
      return false;
    }
  }
  if (!spki) return false;
  if (m.publicKeySpki && m.publicKeySpki.equals(spki)) return true;
  if (m.certificate) {
    try {
      return new X509Certificate(m.certificate).publicKey.export({ format: 'der', type: 'spki' }).equals(spki);
    } catch {
      return false;
    }
  }
  return false;
}

/** The digest the entry should name: the signed digest, or for DSSE the digest of the PAE (Rekor v2). */
function expectedDigest(m: SignedMaterial, alg: HashAlg): Buffer | undefined {
  if (m.content.kind === 'digest') return m.content.hashAlg === alg ? m.content.digest : undefined;
  if (m.content.kind === 'bytes') return createHash(alg).update(m.content.data).digest();
  return createHash(alg).update(pae(m.content.payloadType, m.content.payload)).digest();
}

interface ParsedBody {
  body: Buffer;
  doc: Obj;
}

function parseBody(bodyB64: string, decoded?: Buffer): ParsedBody {
  const body = decoded ?? b64(bodyB64, 'log entry canonicalizedBody');
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    fail('log entry body is not JSON');
  }
  if (!isObj(doc)) fail('log entry body is not a JSON object');
  return { body, doc };
}

/**
 * Checks that a logged entry body describes exactly this signature. Returns the body's kind and version.
 * Throws SignetError('TLOG') naming the first mismatch.
 */
export function checkBodyMatches(doc: Obj, m: SignedMaterial): { kind: string; version: string } {
  const kind = doc.kind;
  const version = doc.apiVersion;
  if (typeof kind !== 'string' || typeof version !== 'string') fail('log entry body has no kind or apiVersion');
  const kv = `${kind} ${version}`;
  const sigMismatch = (): never => fail(`log entry (${kv}) is for a different signature`);
  const keyMismatch = (): never => fail(`log entry (${kv}) names a different key or certificate`);
  switch (kv) {
    case 'hashedrekord 0.0.1': {
      const alg = V1_ALG[str(doc, 'spec.data.hash.algorithm', 'hash algorithm')];
      if (!alg) fail(`log entry (${kv}) has an unsupported hash algorithm`);
      const want = expectedDigest(m, alg);
      if (!want || want.toString('hex') !== str(doc, 'spec.data.hash.value', 'hash value').toLowerCase()) fail(`log entry (${kv}) is for a different artifact digest`);
      if (!b64(str(doc, 'spec.signature.content', 'signature'), 'logged signature').equals(m.signature)) sigMismatch();
      const pem = b64(str(doc, 'spec.signature.publicKey.content', 'public key'), 'logged public key').toString('utf8');
      if (!verifierMatches(m, { pem })) keyMismatch();
      break;
    }
    case 'hashedrekord 0.0.2': {
      const spec = field(doc, 'spec.hashedRekordV002');
      const alg = V2_ALG[str(spec, 'data.algorithm', 'hash algorithm')];
      if (!alg) fail(`log entry (${kv}) has an unsupported hash algorithm`);
      const want = expectedDigest(m, alg);
      if (!want || !want.equals(b64(str(spec, 'data.digest', 'digest'), 'logged digest'))) fail(`log entry (${kv}) is for a different artifact digest`);
      if (!b64(str(spec, 'signature.content', 'signature'), 'logged signature').equals(m.signature)) sigMismatch();
      if (!verifierMatches(m, v2Verifier(field(spec, 'signature.verifier')))) keyMismatch();
      break;
    }
    case 'dsse 0.0.1': {
      if (m.content.kind !== 'dsse') fail('a dsse log entry cannot vouch for a message signature');
      if (str(doc, 'spec.payloadHash.algorithm', 'payload hash algorithm') !== 'sha256') fail(`log entry (${kv}) payload hash is not sha256`);
      if (createHash('sha256').update(m.content.payload).digest('hex') !== str(doc, 'spec.payloadHash.value', 'payload hash').toLowerCase()) {
        fail(`log entry (${kv}) is for a different payload`);
      }
      if (m.content.envelopeBytes && createHash('sha256').update(m.content.envelopeBytes).digest('hex') !== str(doc, 'spec.envelopeHash.value', 'envelope hash').toLowerCase()) {
        fail(`log entry (${kv}) is for a different envelope`);
      }
      const sigs = field(doc, 'spec.signatures');
      if (!Array.isArray(sigs) || sigs.length === 0) fail(`log entry (${kv}) lists no signatures`);
      const ours = sigs.filter((s) => typeof field(s, 'signature') === 'string' && b64(field(s, 'signature') as string, 'logged signature').equals(m.signature));
      if (ours.length === 0) sigMismatch();
      if (!ours.some((s) => typeof field(s, 'verifier') === 'string' && verifierMatches(m, { pem: b64(field(s, 'verifier') as string, 'logged verifier').toString('utf8') }))) keyMismatch();
      break;
    }
    case 'dsse 0.0.2': {
      if (m.content.kind !== 'dsse') fail('a dsse log entry cannot vouch for a message signature');
      const spec = field(doc, 'spec.dsseV002');
      const alg = V2_ALG[str(spec, 'payloadHash.algorithm', 'payload hash algorithm')];
      if (!alg) fail(`log entry (${kv}) has an unsupported hash algorithm`);
      if (!createHash(alg).update(m.content.payload).digest().equals(b64(str(spec, 'payloadHash.digest', 'payload hash'), 'logged payload hash'))) {
        fail(`log entry (${kv}) is for a different payload`);
      }
      const sigs = field(spec, 'signatures');
      if (!Array.isArray(sigs) || sigs.length === 0) fail(`log entry (${kv}) lists no signatures`);
      const ours = sigs.filter((s) => typeof field(s, 'content') === 'string' && b64(field(s, 'content') as string, 'logged signature').equals(m.signature));
      if (ours.length === 0) sigMismatch();
      if (!ours.some((s) => verifierMatches(m, v2Verifier(field(s, 'verifier'))))) keyMismatch();
      break;
    }
    case 'intoto 0.0.2': {
      if (m.content.kind !== 'dsse') fail('an intoto log entry cannot vouch for a message signature');
      if (str(doc, 'spec.content.payloadHash.algorithm', 'payload hash algorithm') !== 'sha256') fail(`log entry (${kv}) payload hash is not sha256`);
      if (createHash('sha256').update(m.content.payload).digest('hex') !== str(doc, 'spec.content.payloadHash.value', 'payload hash').toLowerCase()) {
        fail(`log entry (${kv}) is for a different payload`);
      }
      const sigs = field(doc, 'spec.content.envelope.signatures');
      if (!Array.isArray(sigs) || sigs.length === 0) fail(`log entry (${kv}) lists no signatures`);
      // intoto 0.0.2 double-encodes: sig = base64(base64(signature)).
      const decodeSig = (s: unknown): Buffer | undefined => {
        if (typeof s !== 'string') return undefined;
        const inner = b64(s, 'logged signature').toString('utf8');
        return b64(inner, 'logged signature');
      };
      const ours = sigs.filter((s) => decodeSig(field(s, 'sig'))?.equals(m.signature));
      if (ours.length === 0) sigMismatch();
      if (!ours.some((s) => typeof field(s, 'publicKey') === 'string' && verifierMatches(m, { pem: b64(field(s, 'publicKey') as string, 'logged public key').toString('utf8') }))) keyMismatch();
      break;
    }
    default:
      fail(`log entry kind ${kind} ${version} is not supported`);
  }
  return { kind, version };
}

function v2Verifier(v: unknown): { spki?: Buffer; certDer?: Buffer } {
  const pk = field(v, 'publicKey.rawBytes');
  const cert = field(v, 'x509Certificate.rawBytes');
  if (typeof pk === 'string') return { spki: b64(pk, 'logged public key') };
  if (typeof cert === 'string') return { certDer: b64(cert, 'logged certificate') };
  fail('log entry verifier has neither a public key nor a certificate');
}

function checkValidity(log: TrustedLog, integratedTime: number | undefined): void {
  // Rekor v2 entries carry no integrated time (0); their time comes from a TSA, checked elsewhere.
  if (!integratedTime) return;
  if (!logValidAt(log, new Date(integratedTime * 1000))) {
    fail(`log entry was integrated at ${new Date(integratedTime * 1000).toISOString()}, outside the validity period of log ${log.baseUrl}'s key`);
  }
}

/**
 * Verifies a checkpoint note with the log's key. The signer name is taken from the note itself (Rekor v1
 * signs as its hostname, v2 as its origin): the key ID and the signature are what bind it to the log.
 */
export function verifyCheckpointWithLog(envelope: string, log: TrustedLog): ReturnType<typeof verifyCheckpoint> & { note: string } {
  const names = [...new Set(parseNote(envelope).signatures.map((s) => s.name))];
  const verifiers: NoteVerifier[] = names.map((name) => ({ name, publicKey: log.publicKey }));
  return { ...verifyCheckpoint(envelope, verifiers), note: envelope };
}

/** Verifies one bundle tlog entry against the trusted root and the signature it must describe. */
export function verifyTlogEntry(entry: TlogEntryJSON, m: SignedMaterial, root: TrustedRoot): VerifiedTlogEntry {
  if (!isObj(entry)) fail('log entry is not an object');
  if (typeof entry.canonicalizedBody !== 'string') fail('log entry has no canonicalizedBody');
  // Decoded and parsed once for both halves (and not at all when parseBundle already decoded it).
  const parsed = parseBody(entry.canonicalizedBody, parsedEntryBody(entry));
  checkBodyMatches(parsed.doc, m);
  return verifyProofsOf(entry, root, parsed);
}

/**
 * The log's side only: kindVersion agrees with the body, the log is trusted and valid at integration
 * time, and the SET and/or inclusion proof + checkpoint verify. Says nothing about which signature the
 * entry is for: use `verifyTlogEntry` to verify a signature.
 */
export function verifyTlogEntryProofs(entry: TlogEntryJSON, root: TrustedRoot): VerifiedTlogEntry {
  if (!isObj(entry)) fail('log entry is not an object');
  if (typeof entry.canonicalizedBody !== 'string') fail('log entry has no canonicalizedBody');
  return verifyProofsOf(entry, root, parseBody(entry.canonicalizedBody, parsedEntryBody(entry)));
}

function verifyProofsOf(entry: TlogEntryJSON, root: TrustedRoot, { body, doc }: ParsedBody): VerifiedTlogEntry {
  const kindVersion = entry.kindVersion;
  if (!isObj(kindVersion) || typeof kindVersion.kind !== 'string' || typeof kindVersion.version !== 'string') fail('log entry has no kindVersion');
  if (doc.kind !== kindVersion.kind || doc.apiVersion !== kindVersion.version) {
    fail(`log entry kindVersion ${kindVersion.kind} ${kindVersion.version} does not match its body (${String(doc.kind)} ${String(doc.apiVersion)})`);
  }
  // proto3 JSON leaves out zero integers: an absent logIndex is entry 0.
  const logIndex = int(entry.logIndex ?? 0, 'logIndex')!;
  const keyId = field(entry, 'logId.keyId');
  if (typeof keyId !== 'string') fail('log entry has no logId');
  const logId = b64(keyId, 'log entry logId');
  const log = findLog(root, logId);
  if (!log) fail(`log entry is from log ${logId.toString('hex')}, which the trusted root does not list`);
  const integratedTime = int(entry.integratedTime, 'integratedTime', true);
  checkValidity(log, integratedTime);

  const checked: VerifiedTlogEntry['checked'] = [];
  const promise = entry.inclusionPromise;
  if (promise !== undefined && promise !== null) {
    // A promise without its SET promises nothing; it must not pass as "no promise".
    const set = field(entry, 'inclusionPromise.signedEntryTimestamp');
    if (typeof set !== 'string' || set === '') fail('log entry has an inclusion promise without a signed entry timestamp');
    if (integratedTime === undefined) fail('log entry has an inclusion promise but no integratedTime');
    verifySET({ body, integratedTime, logID: logId.toString('hex'), logIndex }, b64(set, 'signed entry timestamp'), log.publicKey);
    checked.push('inclusionPromise');
  }
  const proof = entry.inclusionProof;
  let checkpoint: string | undefined;
  if (proof !== undefined && proof !== null) {
    checkpoint = verifyProof(proof, body, log);
    checked.push('inclusionProof');
  }
  if (checked.length === 0) fail('log entry has neither an inclusion promise nor an inclusion proof');
  return { log, logIndex, ...(integratedTime ? { integratedTime } : {}), kind: kindVersion.kind, version: kindVersion.version, checked, ...(checkpoint ? { checkpoint } : {}) };
}

/** Verifies the inclusion proof and its checkpoint; returns the checkpoint note. */
function verifyProof(proof: NonNullable<TlogEntryJSON['inclusionProof']>, body: Buffer, log: TrustedLog): string {
  if (!isObj(proof)) fail('log entry inclusionProof is not an object');
  const index = int(proof.logIndex ?? 0, 'inclusionProof.logIndex')!;
  const size = int(proof.treeSize, 'inclusionProof.treeSize')!;
  if (typeof proof.rootHash !== 'string') fail('log entry inclusionProof has no rootHash');
  const rootHash = b64(proof.rootHash, 'inclusion proof root hash');
  const hashes = proof.hashes ?? [];
  if (!Array.isArray(hashes)) fail('log entry inclusionProof hashes is not a list');
  const path = hashes.map((h, i) => {
    if (typeof h !== 'string') fail(`inclusion proof hash ${i} is not a string`);
    const b = b64(h, `inclusion proof hash ${i}`);
    if (b.length !== 32) fail(`inclusion proof hash ${i} is ${b.length} bytes, expected 32`);
    return b;
  });
  verifyInclusion(leafHash(body), index, size, path, rootHash);
  const envelope = field(proof, 'checkpoint.envelope');
  if (typeof envelope !== 'string' || envelope === '') fail('log entry inclusion proof has no checkpoint');
  const cp = verifyCheckpointWithLog(envelope, log);
  if (cp.size !== size) fail(`checkpoint is for tree size ${cp.size}, but the inclusion proof is for ${size}`);
  if (!Buffer.from(cp.rootHash).equals(rootHash)) fail('checkpoint root hash does not match the inclusion proof root hash');
  return envelope;
}

/**
 * The witness policy over verified entries: each must carry a checkpoint whose cosignatures meet the
 * policy's quorum (an entry with only a SET has no checkpoint to cosign).
 */
export function checkEntriesWitnessed(entries: readonly VerifiedTlogEntry[], policy: WitnessPolicy): void {
  for (const e of entries) {
    if (!e.checkpoint) fail(`log entry ${e.logIndex} has no inclusion proof with a checkpoint, so no witness cosignatures: the witness policy cannot be met`);
    const r = checkWitnessPolicy(e.checkpoint, policy);
    if (!r.ok) {
      fail(`the checkpoint of log entry ${e.logIndex} is cosigned by ${r.cosignedBy.length ? r.cosignedBy.join(', ') : 'no witness of the policy'}; the witness policy's quorum ${policy.quorum ?? ''} is not met`);
    }
  }
}

/**
 * Verifies a bundle's tlog entries: at least one must verify. The bundle's own signature must already
 * have been checked; this binds it to the log. Throws SignetError('TLOG') with every entry's reason.
 */
export function verifyBundleTlog(bundle: ParsedBundle, signer: { publicKeySpki?: Buffer; certificate?: Buffer }, root: TrustedRoot): VerifiedTlogEntry[] {
  if (bundle.tlogEntries.length === 0) fail('the bundle has no transparency log entry');
  const c = bundle.content;
  const m: SignedMaterial = {
    ...signer,
    signature: c.signature,
    content: c.kind === 'messageSignature' ? { kind: 'digest', hashAlg: c.hashAlg, digest: c.digest } : { kind: 'dsse', payloadType: c.payloadType, payload: c.payload },
  };
  if (!m.certificate && bundle.verificationMaterial.kind === 'certificate') m.certificate = bundle.verificationMaterial.certificate;
  return verifyAtLeastOne(bundle.tlogEntries.map((e) => () => verifyTlogEntry(e, m, root)));
}

function verifyAtLeastOne(checks: Array<() => VerifiedTlogEntry>): VerifiedTlogEntry[] {
  const ok: VerifiedTlogEntry[] = [];
  const reasons: string[] = [];
  for (const check of checks) {
    try {
      ok.push(check());
    } catch (e) {
      if (!(e instanceof SignetError)) throw e;
      reasons.push(e.message);
    }
  }
  if (ok.length === 0) fail(reasons.length === 1 ? reasons[0]! : `no transparency log entry verifies: ${reasons.join('; ')}`);
  return ok;
}

/** cosign's `dev.sigstore.cosign/bundle` annotation, parsed. */
export interface RekorBundle {
  signedEntryTimestamp: Buffer;
  body: string;
  integratedTime: number;
  logIndex: number;
  logID: string;
}

export function parseRekorBundle(input: string | Record<string, unknown>): RekorBundle {
  let doc: unknown = input;
  if (typeof input === 'string') {
    try {
      doc = JSON.parse(input);
    } catch {
      throw new SignetError('MALFORMED', 'the Rekor bundle annotation is not JSON');
    }
  }
  const bad = (why: string): never => {
    throw new SignetError('MALFORMED', `Rekor bundle ${why}`);
  };
  if (!isObj(doc)) bad('is not a JSON object');
  const d = doc as Obj;
  if (typeof d.SignedEntryTimestamp !== 'string') bad('has no SignedEntryTimestamp');
  const p = d.Payload;
  if (!isObj(p)) bad('has no Payload');
  const payload = p as Obj;
  if (typeof payload.body !== 'string') bad('Payload has no body');
  if (typeof payload.logID !== 'string' || !/^[0-9a-f]{64}$/.test(payload.logID)) bad('Payload logID is not 64 lowercase hex digits');
  for (const k of ['integratedTime', 'logIndex']) {
    if (typeof payload[k] !== 'number' || !Number.isSafeInteger(payload[k]) || (payload[k] as number) < 0) bad(`Payload ${k} is not a non-negative integer`);
  }
  return {
    signedEntryTimestamp: decodeBase64Strict(d.SignedEntryTimestamp as string, 'Rekor bundle SignedEntryTimestamp'),
    body: payload.body as string,
    integratedTime: payload.integratedTime as number,
    logIndex: payload.logIndex as number,
    logID: payload.logID as string,
  };
}

/**
 * Verifies a legacy Rekor bundle (cosign's `.sig` layer annotation or a blob bundle's rekorBundle):
 * the body must describe this signature, the SET must verify with the trusted log named by logID.
 */
export function verifyRekorBundle(input: string | Record<string, unknown>, m: SignedMaterial, root: TrustedRoot): VerifiedTlogEntry {
  const rb = parseRekorBundle(input);
  const { body, doc } = parseBody(rb.body);
  const kv = checkBodyMatches(doc, m);
  const log = findLog(root, Buffer.from(rb.logID, 'hex'));
  if (!log) fail(`Rekor bundle is from log ${rb.logID}, which the trusted root does not list`);
  checkValidity(log, rb.integratedTime);
  // The SET signs the body exactly as the annotation carries it (base64 of the canonical bytes).
  verifySET({ body, integratedTime: rb.integratedTime, logID: rb.logID, logIndex: rb.logIndex }, rb.signedEntryTimestamp, log.publicKey);
  return { log, logIndex: rb.logIndex, integratedTime: rb.integratedTime, kind: kv.kind, version: kv.version, checked: ['inclusionPromise'] };
}
