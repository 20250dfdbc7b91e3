/**
 * Verifying a blob attestation (`verify-blob-attestation`): the DSSE envelope — in a Sigstore bundle, in
 * cosign's legacy LocalSignedPayload, or alone (`--signature`) — is verified exactly as `verify-blob`
 * verifies a signature (key or certificate identity, log entries, SCTs, timestamps); then the in-toto
 * statement must name the artifact's digest among its subjects (unless claims are not checked) and be
 * of the predicate type asked for. `verifyBlobAttestationEvidence` is pure; `verifyBlobAttestation`
 * also digests a file artifact.
 */
import { SignetError } from '../errors.js';
import { verifySignature, type PublicKeyInfo } from '../keys/index.js';
import {
  checkSubjects,
  checkTlogPolicy,
  IN_TOTO_PAYLOAD_TYPE,
  pae,
  parseEnvelope,
  parseStatement,
  verifyBundleWithKey,
  type Artifact,
  type DsseEnvelope,
  type HashAlg,
  type ParsedBundle,
  type Statement,
} from '../sigstore/index.js';
import type { IdentityPolicy } from '../sigstore/identity.js';
import { verifyBundleTlog, verifyRekorBundle } from '../sigstore/tlog.js';
import type { TrustedRoot } from '../sigstore/trustedroot.js';
import { verifyBundle, verifySignatureTimestamps, type TrustMaterial } from '../sigstore/verifier.js';
import type { TimestampAuthority } from '../sigstore/timestamp-verify.js';
import { digestFile, readSmallFile } from './blob-io.js';
import { resolvePredicateType } from './predicate.js';
import { parseBlobBundle, type BlobArtifact } from './verify-blob.js';

/** What an attestation came as: a Sigstore bundle with a DSSE envelope, or a bare envelope (legacy). */
export type AttestationEvidence =
  | { kind: 'bundle'; bundle: ParsedBundle }
  | { kind: 'envelope'; envelope: DsseEnvelope; rekorBundle?: Record<string, unknown>; timestamps?: Buffer[] };

function wrap<T>(name: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SignetError) throw new SignetError(e.code, `${name}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * `--bundle`: a Sigstore bundle holding a DSSE envelope, or cosign's legacy `{"base64Signature":…}` whose
 * signature is the envelope JSON. A bundle holding a plain message signature is refused: it attests nothing.
 */
export function parseAttestationBundle(bytes: Buffer, path: string): AttestationEvidence {
  const evidence = parseBlobBundle(bytes, path);
  if (evidence.kind === 'bundle') {
    if (evidence.bundle.content.kind !== 'dsse') {
      throw new SignetError('VERIFICATION', `${path} holds a signature, not an attestation (no DSSE envelope): verify it with verify-blob`);
    }
    return evidence;
  }
  const envelope = wrap(path, () => parseEnvelope(evidence.signature, 'the bundle\'s DSSE envelope'));
  return { kind: 'envelope', envelope, ...(evidence.rekorBundle ? { rekorBundle: evidence.rekorBundle } : {}) };
}

/** A `--bundle` file, size-capped and parsed. */
export async function readAttestationBundle(path: string): Promise<AttestationEvidence> {
  return parseAttestationBundle(await readSmallFile(path, 'bundle'), path);
}

/** `--signature`: a DSSE envelope as JSON, or base64 of that JSON (what `attest-blob --output-signature` wrote). */
export function parseEnvelopeSignature(bytes: Buffer, name: string): AttestationEvidence {
  const text = bytes.toString('utf8').trim();
  let json = Buffer.from(text, 'utf8');
  if (!text.startsWith('{') && /^[A-Za-z0-9+/=\s]+$/.test(text)) json = Buffer.from(text, 'base64');
  return { kind: 'envelope', envelope: wrap(name, () => parseEnvelope(json)) };
}

export interface VerifyBlobAttestationOptions {
  evidence: AttestationEvidence;
  /** The evidence's name in messages (the bundle's path). */
  evidenceName?: string;
  /** `--type`: an alias or URI the statement's predicateType must equal (default custom, as cosign). */
  type?: string;
  /** `--check-claims` (default true): the statement must name the artifact; false verifies the envelope only. */
  checkClaims?: boolean;
  /** Keyed verification with this key; without it, keyless (trust and identity required). */
  key?: PublicKeyInfo;
  /** Keyed: the trusted root the log evidence is verified against, offline. */
  trustedRoot?: TrustedRoot;
  /** --insecure-ignore-tlog: no log evidence required. */
  ignoreTlog?: boolean;
  /** Keyless: the trust material (sigstore/keyless.ts `keylessTrust`). */
  trust?: TrustMaterial;
  /** Keyless: who must have signed (sigstore/keyless.ts `identityPolicy`). */
  identity?: IdentityPolicy;
  /** Keyless: true skips SCTs; undefined lets the trusted root decide. */
  ignoreSct?: boolean;
  /** Require a verified RFC 3161 timestamp. */
  useSignedTimestamps?: boolean;
  /** Keyed: the timestamp authorities RFC 3161 timestamps are verified against (required with useSignedTimestamps). */
  tsas?: readonly TimestampAuthority[];
  onWarning?: (warning: string) => void;
}

export interface BlobAttestationVerification {
  warnings: string[];
  /** Keyed with a trusted root: the log evidence was verified offline. */
  tlogVerified: boolean;
  /** The verified statement and its exact bytes. */
  statement: Statement;
  payload: Buffer;
}

function entries(e: AttestationEvidence): number {
  return e.kind === 'bundle' ? e.bundle.tlogEntries.length : e.rekorBundle ? 1 : 0;
}

/** What a verification is asked to do, known before the trusted root, the key or the artifact are read. */
export interface AttestationPlan {
  evidence: AttestationEvidence;
  evidenceName?: string;
  type?: string;
  checkClaims?: boolean;
  /** Verified with a key (else keyless). */
  keyed: boolean;
  ignoreTlog?: boolean;
  /** Keyed: a trusted root is given to verify log evidence with. */
  logConfigured: boolean;
  /** The artifact (file or digest) is given. */
  haveArtifact: boolean;
}

/** Checking the claims (the default) needs the artifact or its digest. */
export function checkClaimsInput(checkClaims: boolean | undefined, haveArtifact: boolean): void {
  if (checkClaims !== false && !haveArtifact) {
    throw new SignetError('USAGE', 'checking the claims needs the artifact: pass the file, or --digest and --digestAlg (or --check-claims=false to verify the envelope only)');
  }
}

/** Refuse contradictory requests before anything is read or verified; returns the predicate type URI wanted. */
export function checkAttestationPlan(p: AttestationPlan): string {
  const wanted = resolvePredicateType(p.type ?? 'custom');
  checkClaimsInput(p.checkClaims, p.haveArtifact);
  if (p.keyed) {
    checkTlogPolicy({ ignoreTlog: p.ignoreTlog === true, entries: entries(p.evidence), logConfigured: p.logConfigured });
  } else {
    if (p.evidence.kind !== 'bundle') throw new SignetError('USAGE', `${p.evidenceName ?? 'the attestation'} is a legacy cosign bundle or a bare envelope: verify it with --key`);
    if (p.evidence.bundle.verificationMaterial.kind === 'publicKey') {
      throw new SignetError('NO_CERTIFICATE', `${p.evidenceName ?? 'the bundle'} was signed with a key and carries no certificate: verify it with --key`);
    }
  }
  return wanted;
}

function checkOptions(o: VerifyBlobAttestationOptions, haveArtifact: boolean): string {
  const wanted = checkAttestationPlan({ ...o, keyed: o.key !== undefined, logConfigured: o.trustedRoot !== undefined, haveArtifact });
  if (!o.key && (!o.trust || !o.identity)) throw new SignetError('USAGE', 'keyless verification needs trust material and an identity policy');
  return wanted;
}

/** Verify a blob attestation. Pure; throws a SignetError naming the first failed check. */
export function verifyBlobAttestationEvidence(artifact: Artifact | undefined, o: VerifyBlobAttestationOptions): BlobAttestationVerification {
  const wanted = checkOptions(o, artifact !== undefined);
  const claimsArtifact = o.checkClaims === false ? undefined : artifact;
  const warnings: string[] = [];
  const warn = (w: string): void => {
    warnings.push(w);
    o.onWarning?.(w);
  };
  const { evidence, key } = o;
  const trustedRoot = o.ignoreTlog ? undefined : o.trustedRoot;
  let payload: Buffer;
  if (evidence.kind === 'bundle') {
    const c = evidence.bundle.content;
    if (c.kind !== 'dsse') throw new SignetError('VERIFICATION', 'the bundle holds a signature, not an attestation');
    if (c.payloadType !== IN_TOTO_PAYLOAD_TYPE) throw new SignetError('VERIFICATION', `the envelope's payload type "${c.payloadType}" is not an in-toto statement`);
    if (key) {
      for (const w of verifyBundleWithKey(evidence.bundle, key, claimsArtifact).warnings) warn(w);
      verifySignatureTimestamps(c.signature, evidence.bundle.rfc3161Timestamps, o.tsas, o.useSignedTimestamps ? 1 : 0);
      if (trustedRoot) verifyBundleTlog(evidence.bundle, { publicKeySpki: key.spkiDer }, trustedRoot);
    } else {
      const r = verifyBundle(evidence.bundle, claimsArtifact, o.trust!, {
        identity: o.identity!,
        ignoreTlog: o.ignoreTlog === true,
        ...(o.ignoreSct !== undefined ? { ignoreSct: o.ignoreSct } : {}),
        tsaThreshold: o.useSignedTimestamps ? 1 : 0,
      });
      for (const w of r.warnings) warn(w);
    }
    payload = c.payload;
  } else {
    const env = evidence.envelope;
    if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) throw new SignetError('VERIFICATION', `the envelope's payload type "${env.payloadType}" is not an in-toto statement`);
    const signed = pae(env.payloadType, env.payload);
    const sig = env.signatures.find((s) => verifySignature(key!, signed, s.sig));
    if (!sig) throw new SignetError('VERIFICATION', 'DSSE signature: no signature of the envelope verifies with the given key');
    verifySignatureTimestamps(sig.sig, evidence.timestamps ?? [], o.tsas, o.useSignedTimestamps ? 1 : 0);
    if (trustedRoot) {
      if (!evidence.rekorBundle) throw new SignetError('TLOG', 'the attestation comes without a transparency log entry (no rekorBundle); pass --insecure-ignore-tlog to verify the signature only');
      verifyRekorBundle(evidence.rekorBundle, { signature: sig.sig, publicKeySpki: key!.spkiDer, content: { kind: 'dsse', payloadType: env.payloadType, payload: env.payload } }, trustedRoot);
    }
    payload = env.payload;
  }
  let statement: Statement;
  try {
    statement = parseStatement(payload);
  } catch (e) {
    throw new SignetError('VERIFICATION', `in-toto statement: ${(e as Error).message}`, { cause: e });
  }
  if (claimsArtifact && evidence.kind === 'envelope') checkSubjects(statement, claimsArtifact);
  if (statement.predicateType !== wanted) {
    throw new SignetError('VERIFICATION', `none of the attestations matched the predicate type: ${o.type ?? 'custom'}, found: ${statement.predicateType}`);
  }
  return { warnings, tlogVerified: trustedRoot !== undefined && key !== undefined, statement, payload };
}

/** The digests a file artifact is read for: sha256 always, and any other the statement's subjects name. */
export function attestationDigests(evidence: AttestationEvidence): HashAlg[] {
  const algs = new Set<HashAlg>(['sha256']);
  const payload = evidence.kind === 'bundle' ? (evidence.bundle.content.kind === 'dsse' ? evidence.bundle.content.payload : undefined) : evidence.envelope.payload;
  if (payload) {
    try {
      for (const s of parseStatement(payload).subject) for (const a of ['sha384', 'sha512'] as const) if (s.digest[a]) algs.add(a);
    } catch {
      // verification reports a malformed statement after checking the signature
    }
  }
  return [...algs];
}

/**
 * `verifyBlobAttestationEvidence` for an artifact that may be a file (or absent, with claims unchecked):
 * what can be refused without reading the file is refused first.
 */
export async function verifyBlobAttestation(artifact: BlobArtifact | undefined, o: VerifyBlobAttestationOptions): Promise<BlobAttestationVerification> {
  checkOptions(o, artifact !== undefined);
  let a: Artifact | undefined;
  if (artifact === undefined || !('path' in artifact)) a = artifact;
  else if (o.checkClaims === false) a = undefined;
  else a = { digests: await digestFile(artifact.path, attestationDigests(o.evidence)) };
  return verifyBlobAttestationEvidence(a, o);
}
