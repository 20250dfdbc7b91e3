/**
 * Verifying a blob (`verify-blob`) against a Sigstore bundle, cosign's legacy bundle or a bare
 * signature: with a key (the log evidence checked offline against a trusted root, or skipped on
 * request), or keyless (the bundle engine under an identity policy). `verifyBlobEvidence` is pure;
 * `verifyBlob` also digests a file artifact (blob-io.ts), reading only the digests the evidence needs.
 */
import { SignetError } from '../errors.js';
import { decodePemBlocks, publicKeyInfo, type PublicKeyInfo } from '../keys/index.js';
import { certificatePublicKey, parseCertificate, verifyCertificateChain } from '../sigstore/certificate.js';
import { certificateIdentity, checkIdentity } from '../sigstore/identity.js';
import { verifySct } from '../sigstore/sct.js';
import {
  checkTlogPolicy,
  IN_TOTO_PAYLOAD_TYPE,
  parseBundle,
  parseLegacyBlobBundle,
  parseStatement,
  verifyArtifactSignature,
  verifyBundleWithKey,
  type Artifact,
  type HashAlg,
  type ParsedBundle,
} from '../sigstore/index.js';
import type { IdentityPolicy } from '../sigstore/identity.js';
import { checkEntriesWitnessed, verifyBundleTlog, verifyRekorBundle, type SignedMaterial, type WitnessPolicy } from '../sigstore/tlog.js';
import type { TrustedRoot } from '../sigstore/trustedroot.js';
import { sctIgnored, verifySignatureTimestamps, type TrustMaterial } from '../sigstore/verifier.js';
import type { TimestampAuthority } from '../sigstore/timestamp-verify.js';
import { digestFile, readBlob, readSmallFile } from './blob-io.js';
import { verifyKeylessBundle } from './verify.js';
import { step } from './keyless-verify.js';

/** What a blob's signature came with: a Sigstore bundle, or a signature (from a legacy bundle or alone). */
export type BlobEvidence =
  | { kind: 'bundle'; bundle: ParsedBundle }
  | {
      kind: 'signature';
      signature: Buffer;
      tlogEntries: number;
      rekorBundle?: Record<string, unknown>;
      timestamps?: Buffer[];
      /** The signing certificate (DER): a legacy bundle's `cert` when it holds one, or `--certificate`. */
      certificate?: Buffer;
    };

/** `--bundle` holds either a Sigstore bundle or cosign's legacy `{"base64Signature":…}`; tell them apart by shape. */
export function parseBlobBundle(bytes: Buffer, path: string): BlobEvidence {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', `bundle ${path} is not valid JSON`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new SignetError('MALFORMED', `bundle ${path} is not a JSON object`);
  const o = doc as Record<string, unknown>;
  try {
    if ('mediaType' in o) return { kind: 'bundle', bundle: parseBundle(bytes) };
    if ('base64Signature' in o) {
      const legacy = parseLegacyBlobBundle(o);
      // `cert` holds the certificate (keyless, or a key with its certificate) or, signed with a bare key, the public key.
      const cert = legacy.certPem ? decodePemBlocks(legacy.certPem).find((b) => b.label === 'CERTIFICATE') : undefined;
      return {
        kind: 'signature',
        signature: legacy.signature,
        tlogEntries: legacy.rekorBundle ? 1 : 0,
        ...(legacy.rekorBundle ? { rekorBundle: legacy.rekorBundle } : {}),
        ...(cert ? { certificate: Buffer.from(cert.der) } : {}),
      };
    }
  } catch (e) {
    if (e instanceof SignetError) throw new SignetError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
  throw new SignetError('MALFORMED', `${path} is neither a Sigstore bundle (no mediaType) nor a cosign bundle (no base64Signature)`);
}

/** A bundle file (Sigstore or legacy), size-capped and parsed. */
export async function readBlobBundle(path: string): Promise<BlobEvidence> {
  return parseBlobBundle(await readSmallFile(path, 'bundle'), path);
}

/** Which digests of the artifact the evidence needs: the bundle's, the key's, and any the statement names. */
export function neededDigests(evidence: BlobEvidence, key?: PublicKeyInfo): HashAlg[] {
  const algs = new Set<HashAlg>();
  if (key?.hash) algs.add(key.hash);
  if (evidence.kind === 'bundle') {
    const c = evidence.bundle.content;
    if (c.kind === 'messageSignature') algs.add(c.hashAlg);
    else if (c.payloadType === IN_TOTO_PAYLOAD_TYPE) {
      algs.add('sha256');
      try {
        for (const s of parseStatement(c.payload).subject) for (const a of ['sha256', 'sha384', 'sha512'] as const) if (s.digest[a]) algs.add(a);
      } catch {
        // verification reports a malformed statement after checking the signature
      }
    }
  }
  return [...algs];
}

/** What a legacy rekorBundle's hashedrekord must name: the artifact, by the digest the key signs with. */
export function legacyContent(artifact: Artifact, key: PublicKeyInfo): SignedMaterial['content'] {
  if ('bytes' in artifact) return { kind: 'bytes', data: artifact.bytes };
  const alg = key.hash ?? 'sha512';
  const d = 'digests' in artifact ? artifact.digests[alg] : artifact.hashAlg === alg ? artifact.digest : undefined;
  if (!d) throw new SignetError('TLOG', `the log entry names a ${alg} digest, which was not computed for this artifact`);
  return { kind: 'digest', hashAlg: alg, digest: d };
}

/**
 * What certificate verification needs: a Sigstore bundle with a certificate, or a signature with its
 * certificate (a legacy bundle's `cert`, or `--certificate`); key-signed evidence is refused.
 * `name` is the bundle's in messages.
 */
export function keylessBlobBundle(evidence: BlobEvidence, name = 'the bundle'): ParsedBundle | Extract<BlobEvidence, { kind: 'signature' }> {
  if (evidence.kind !== 'bundle') {
    if (!evidence.certificate) throw new SignetError('NO_CERTIFICATE', `${name} carries no certificate (it was signed with a key): verify it with --key, or pass --certificate`);
    return evidence;
  }
  if (evidence.bundle.verificationMaterial.kind === 'publicKey') {
    throw new SignetError('NO_CERTIFICATE', `${name} was signed with a key and carries no certificate: verify it with --key`);
  }
  return evidence.bundle;
}

export interface VerifyBlobOptions {
  evidence: BlobEvidence;
  /** The evidence's name in messages (the bundle's path). */
  evidenceName?: string;
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
  /**
   * Keyed: the timestamp authorities RFC 3161 timestamps are verified against (the trusted root's, or
   * `--timestamp-certificate-chain`'s). Required with useSignedTimestamps; without them, timestamps the
   * signature carries are not checked.
   */
  tsas?: readonly TimestampAuthority[];
  /** Called with each warning as it arises (they are also returned). */
  onWarning?: (warning: string) => void;
  /** --witness-policy: the log entries must carry checkpoints cosigned by this quorum of witnesses. */
  witnessPolicy?: WitnessPolicy;
}

export interface BlobVerification {
  warnings: string[];
  /** Keyed with a trusted root: the log evidence was verified offline. */
  tlogVerified: boolean;
}

/** The artifact: its bytes or digests, or a file (`-`: standard input) digested in one streaming pass. */
export type BlobArtifact = Artifact | { path: string };

/** The RFC 3161 timestamps a keyed signature came with: the bundle's, or those given beside a bare signature. */
function evidenceTimestamps(e: BlobEvidence): Buffer[] {
  return e.kind === 'bundle' ? e.bundle.rfc3161Timestamps : (e.timestamps ?? []);
}

function checkKeyedPolicy(o: VerifyBlobOptions): void {
  // A demanded proof that is not there: refused before anything else is read or checked.
  if (o.useSignedTimestamps && evidenceTimestamps(o.evidence).length === 0) verifySignatureTimestamps(Buffer.alloc(0), [], undefined, 1);
  checkTlogPolicy({
    ignoreTlog: o.ignoreTlog === true,
    entries: o.evidence.kind === 'bundle' ? o.evidence.bundle.tlogEntries.length : o.evidence.tlogEntries,
    logConfigured: o.trustedRoot !== undefined,
  });
}

/** Verify a blob's signature and its evidence. Pure; throws a SignetError naming the first failed check. */
export function verifyBlobEvidence(artifact: Artifact, o: VerifyBlobOptions): BlobVerification {
  const warnings: string[] = [];
  const warn = (w: string): void => {
    warnings.push(w);
    o.onWarning?.(w);
  };
  const { evidence, key } = o;
  if (o.witnessPolicy) {
    if (o.ignoreTlog) throw new SignetError('USAGE', '--witness-policy is about the log\'s checkpoints: it cannot be used with --insecure-ignore-tlog');
    if (key && !o.trustedRoot) throw new SignetError('USAGE', '--witness-policy needs the log\'s key: pass --trusted-root');
    // Only a bundle's inclusion proof carries a checkpoint; a legacy Rekor bundle has a SET alone.
    if (evidence.kind !== 'bundle') throw new SignetError('TLOG', 'the signature\'s log evidence is a Rekor bundle (a SET) without a checkpoint, so no witness cosignatures: the witness policy cannot be met');
  }
  if (!key) {
    const bundle = keylessBlobBundle(evidence, o.evidenceName);
    if (!o.trust || !o.identity) throw new SignetError('USAGE', 'keyless verification needs trust material and an identity policy');
    if (!('raw' in bundle)) {
      verifyCertificateSignature(artifact, bundle, o);
      return { warnings, tlogVerified: !o.ignoreTlog };
    }
    const r = verifyKeylessBundle(bundle, artifact, {
      trust: o.trust,
      identity: o.identity,
      ignoreTlog: o.ignoreTlog === true,
      ignoreSct: o.ignoreSct,
      useSignedTimestamps: o.useSignedTimestamps === true,
      ...(o.witnessPolicy ? { witnessPolicy: o.witnessPolicy } : {}),
    });
    for (const w of r.warnings) warn(w);
    return { warnings, tlogVerified: false };
  }
  checkKeyedPolicy(o);
  const trustedRoot = o.ignoreTlog ? undefined : o.trustedRoot;
  if (evidence.kind === 'signature') {
    verifyArtifactSignature(key, artifact, evidence.signature);
  } else {
    const result = verifyBundleWithKey(evidence.bundle, key, artifact);
    for (const w of result.warnings) warn(w);
  }
  const signature = evidence.kind === 'bundle' ? evidence.bundle.content.signature : evidence.signature;
  verifySignatureTimestamps(signature, evidenceTimestamps(evidence), o.tsas, o.useSignedTimestamps ? 1 : 0);
  // Offline: the evidence the signature came with, checked against the trusted root; no log is asked.
  if (trustedRoot) {
    if (evidence.kind === 'bundle') {
      const entries = verifyBundleTlog(evidence.bundle, { publicKeySpki: key.spkiDer }, trustedRoot);
      if (o.witnessPolicy) checkEntriesWitnessed(entries, o.witnessPolicy);
    }
    else if (!evidence.rekorBundle) throw new SignetError('TLOG', 'the signature comes without a transparency log entry (no rekorBundle); pass --insecure-ignore-tlog to verify the signature only');
    else verifyRekorBundle(evidence.rekorBundle, { signature: evidence.signature, publicKeySpki: key.spkiDer, content: legacyContent(artifact, key) }, trustedRoot);
  }
  return { warnings, tlogVerified: trustedRoot !== undefined };
}

/**
 * A bare signature with its certificate (cosign's legacy blob bundle, or `--signature` with
 * `--certificate`), checked as the bundle engine checks a certificate: verified times (the Rekor
 * bundle's integrated time, RFC 3161 timestamps; now only when the log is ignored), the chain at each,
 * SCTs, the signature with the certificate's key, then the identity policy.
 */
function verifyCertificateSignature(artifact: Artifact, e: Extract<BlobEvidence, { kind: 'signature' }>, o: VerifyBlobOptions): void {
  const trust = o.trust!;
  const leaf = step('certificate', () => parseCertificate(e.certificate!, 'signing certificate'));
  const info = step('certificate', () => publicKeyInfo(certificatePublicKey(leaf)));
  const times: Date[] = [];
  if (!o.ignoreTlog) {
    if (!e.rekorBundle) throw new SignetError('TLOG', 'the signature comes without a transparency log entry (no rekorBundle); pass --insecure-ignore-tlog to verify without the log');
    const v = step('transparency log entry', () => verifyRekorBundle(e.rekorBundle!, { signature: e.signature, certificate: leaf.der, content: legacyContent(artifact, info) }, trust.root));
    times.push(new Date(v.integratedTime! * 1000));
  }
  times.push(...verifySignatureTimestamps(e.signature, e.timestamps ?? [], trust.tsas, o.useSignedTimestamps ? 1 : 0));
  if (times.length === 0) times.push(new Date());
  const chain = step('certificate chain', () => verifyCertificateChain(leaf, trust.cas, times));
  if (!sctIgnored(trust, o.ignoreSct)) step('SCT', () => verifySct(leaf, chain.chain[1]!, trust.ctlogs, 1));
  step('artifact signature', () => verifyArtifactSignature(info, artifact, e.signature));
  step('identity policy', () => checkIdentity(certificateIdentity(leaf), o.identity!));
}

/** `verifyBlobEvidence` for an artifact that may be a file: what can be refused without reading it is refused first. */
export async function verifyBlob(artifact: BlobArtifact, o: VerifyBlobOptions): Promise<BlobVerification> {
  if (o.key) checkKeyedPolicy(o);
  else keylessBlobBundle(o.evidence, o.evidenceName);
  const ev = o.evidence;
  const key = o.key ?? (ev.kind === 'signature' && ev.certificate ? step('certificate', () => publicKeyInfo(certificatePublicKey(parseCertificate(ev.certificate!, 'signing certificate')))) : undefined);
  let a: Artifact;
  if (!('path' in artifact)) a = artifact;
  else if (key?.kind === 'ed25519') a = { bytes: await readBlob(artifact.path) };
  else a = { digests: await digestFile(artifact.path, neededDigests(o.evidence, key)) };
  return verifyBlobEvidence(a, o);
}
