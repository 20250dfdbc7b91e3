/**
 * Key-based verification of Sigstore bundles and cosign's legacy blob formats. Pure: no I/O; the caller
 * passes the parsed bundle, the public key and the artifact (its bytes or digests computed while streaming).
 */
import { createHash } from 'node:crypto';
import { SignetError } from '../errors.js';
import { verifyPrehashed, verifySignature, type PublicKeyInfo } from '../keys/index.js';
import type { ParsedBundle } from './bundle.js';
import { decodeBase64Strict, HASH_ALG_NAME, type HashAlg } from './encoding.js';
import { IN_TOTO_PAYLOAD_TYPE, pae } from './dsse.js';
import { parseStatement, type Statement } from './intoto.js';

/**
 * What is known about the artifact: its bytes, one digest, or several digests of the same bytes
 * (computed in one streaming pass so large files need not sit in memory).
 */
export type Artifact = { bytes: Buffer } | { digest: Buffer; hashAlg: HashAlg } | { digests: Partial<Record<HashAlg, Buffer>> };

export interface KeyVerificationResult {
  kind: 'messageSignature' | 'dsse';
  payload?: Buffer;
  payloadType?: string;
  statement?: Statement;
  /** Things worth telling the user that do not make the signature invalid (e.g. a key hint mismatch). */
  warnings: string[];
}

function fail(msg: string): never {
  throw new SignetError('VERIFICATION', msg);
}

/** The digest of the artifact with `alg`, or undefined when the artifact was given as other digests only. */
export function artifactDigest(artifact: Artifact, alg: HashAlg): Buffer | undefined {
  if ('bytes' in artifact) return createHash(alg).update(artifact.bytes).digest();
  if ('digests' in artifact) return artifact.digests[alg];
  return artifact.hashAlg === alg ? artifact.digest : undefined;
}

function givenAlgs(artifact: Artifact): string {
  if ('digests' in artifact) return Object.keys(artifact.digests).join(', ') || 'none';
  return 'bytes' in artifact ? 'bytes' : artifact.hashAlg;
}

/** Verify a raw signature over the artifact with the key's own hash (what cosign and sigstore-go sign with). */
export function verifyArtifactSignature(key: PublicKeyInfo, artifact: Artifact, signature: Buffer): void {
  if ('bytes' in artifact) {
    if (!verifySignature(key, artifact.bytes, signature)) fail('signature does not verify with the given key');
    return;
  }
  if (key.kind === 'ed25519' || key.hash === null) {
    fail('an Ed25519 signature covers the whole artifact and cannot be checked against a digest; pass the file itself');
  }
  const digest = artifactDigest(artifact, key.hash);
  if (!digest) fail(`a ${key.kind} key signs ${key.hash} digests, but only a ${givenAlgs(artifact)} digest of the artifact was given`);
  if (!verifyPrehashed(key, digest, key.hash, signature)) fail('signature does not verify with the given key');
}

function materialWarnings(bundle: ParsedBundle, key: PublicKeyInfo): string[] {
  const vm = bundle.verificationMaterial;
  // cosign ignores the hint (it is unauthenticated); a mismatch usually means the wrong key file, so say so.
  if (vm.kind === 'publicKey') {
    return vm.hint !== '' && vm.hint !== key.hint ? [`the bundle's key hint ${vm.hint} does not match the given key (${key.hint})`] : [];
  }
  return [`the bundle carries a ${vm.kind === 'certificate' ? 'certificate' : 'certificate chain'}; it was verified against the given key instead`];
}

/**
 * Verify a bundle with a public key. Message signatures need the artifact; DSSE envelopes check the
 * artifact against the in-toto statement's subjects when it is given. Throws VERIFICATION on any failure.
 */
export function verifyBundleWithKey(bundle: ParsedBundle, key: PublicKeyInfo, artifact?: Artifact): KeyVerificationResult {
  const warnings = materialWarnings(bundle, key);
  const c = bundle.content;
  if (c.kind === 'messageSignature') {
    if (!artifact) throw new SignetError('USAGE', 'a message-signature bundle can only be verified together with the artifact or its digest');
    if (key.kind === 'ed25519' && !('bytes' in artifact)) {
      fail('an Ed25519 signature covers the whole artifact and cannot be checked against a digest; pass the file itself');
    }
    const digest = artifactDigest(artifact, c.hashAlg);
    if (!digest) fail(`the bundle records a ${HASH_ALG_NAME[c.hashAlg]} digest, but only a ${givenAlgs(artifact)} digest of the artifact was given`);
    if (!digest.equals(c.digest)) fail('artifact digest does not match the bundle');
    verifyArtifactSignature(key, artifact, c.signature);
    return { kind: 'messageSignature', warnings };
  }

  if (!verifySignature(key, pae(c.payloadType, c.payload), c.signature)) fail('signature does not verify with the given key');
  const result: KeyVerificationResult = { kind: 'dsse', payload: c.payload, payloadType: c.payloadType, warnings };
  if (c.payloadType === IN_TOTO_PAYLOAD_TYPE) {
    result.statement = parseStatement(c.payload);
    if (artifact) checkSubjects(result.statement, artifact);
  } else if (artifact) {
    fail(`the envelope's payload type "${c.payloadType}" is not an in-toto statement, so it cannot name the artifact`);
  }
  return result;
}

/** Some subject must carry the artifact's digest, in an algorithm we know and can compute. */
export function checkSubjects(statement: Statement, artifact: Artifact): void {
  if (statement.subject.length === 0) fail('the statement has no subjects');
  for (const alg of ['sha256', 'sha384', 'sha512'] as const) {
    const wanted = statement.subject.filter((s) => typeof s.digest[alg] === 'string');
    if (wanted.length === 0) continue;
    const d = artifactDigest(artifact, alg);
    if (!d) continue;
    const hex = d.toString('hex');
    if (wanted.some((s) => s.digest[alg]!.toLowerCase() === hex)) return;
  }
  fail('artifact digest does not match any subject of the statement');
}

/** A legacy cosign blob bundle (`LocalSignedPayload`). */
export interface LegacyBlobBundle {
  signature: Buffer;
  /** PEM of the certificate or public key, when present (accepted raw or base64-wrapped). */
  certPem?: string;
  /** The Rekor bundle object as read (SignedEntryTimestamp + Payload), for the log layer. */
  rekorBundle?: Record<string, unknown>;
}

export function parseLegacyBlobBundle(doc: Record<string, unknown>): LegacyBlobBundle {
  if (typeof doc.base64Signature !== 'string' || doc.base64Signature === '') {
    throw new SignetError('MALFORMED', 'legacy bundle has no base64Signature');
  }
  const signature = decodeBase64Strict(doc.base64Signature.trim(), 'legacy bundle base64Signature');
  const out: LegacyBlobBundle = { signature };
  if (doc.cert !== undefined && doc.cert !== null && doc.cert !== '') {
    if (typeof doc.cert !== 'string') throw new SignetError('MALFORMED', 'legacy bundle "cert" is not a string');
    const s = doc.cert.trim();
    out.certPem = s.startsWith('-----BEGIN') ? s : decodeBase64Strict(s, 'legacy bundle cert').toString('utf8');
    if (!out.certPem.includes('-----BEGIN')) throw new SignetError('MALFORMED', 'legacy bundle "cert" is neither PEM nor base64 of PEM');
  }
  if (doc.rekorBundle !== undefined && doc.rekorBundle !== null) {
    if (typeof doc.rekorBundle !== 'object' || Array.isArray(doc.rekorBundle)) throw new SignetError('MALFORMED', 'legacy bundle "rekorBundle" is not an object');
    out.rekorBundle = doc.rekorBundle as Record<string, unknown>;
  }
  return out;
}

/**
 * A `--signature` value or file content: base64 (what `sign-blob` prints), or the raw DER/Ed25519
 * bytes written by `--b64=false`.
 */
export function decodeSignatureInput(input: Buffer): Buffer {
  const text = input.toString('latin1').trim();
  if (text.length > 0 && /^[A-Za-z0-9+/=_-]+$/.test(text)) {
    try {
      const sig = decodeBase64Strict(text, 'signature');
      if (sig.length > 0) return sig;
    } catch {
      // fall through to raw bytes
    }
  }
  if (input.length === 0) throw new SignetError('MALFORMED', 'the signature is empty');
  return input;
}

export interface TlogPolicy {
  /** --insecure-ignore-tlog */
  ignoreTlog: boolean;
  /** Number of log entries (or legacy Rekor bundles) the signature came with. */
  entries: number;
  /** Whether a trusted root is configured to verify log entries with. */
  logConfigured: boolean;
}

/** Without a trusted root, the only way to verify is to say explicitly that the log is skipped. */
export function checkTlogPolicy(p: TlogPolicy): void {
  if (p.ignoreTlog) return;
  if (!p.logConfigured) {
    throw new SignetError(
      'TLOG',
      p.entries === 0
        ? 'no transparency log entry to verify; pass --insecure-ignore-tlog to verify the signature only'
        : 'no trusted root to verify the transparency log entry with: pass --trusted-root, or --insecure-ignore-tlog to verify the signature only',
    );
  }
}
