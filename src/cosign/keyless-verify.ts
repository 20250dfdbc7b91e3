/**
 * Keyless verification of cosign's legacy `.sig` layers, whose proofs live in annotations rather than a
 * bundle: the same checks, in the same order, as the bundle engine (sigstore/verifier.ts) — verified
 * times (the Rekor bundle's SET-signed integrated time, the RFC 3161 timestamp over the signature), the
 * certificate chain at every one of them, embedded SCTs, the signature with the leaf key, then the
 * identity policy. Pure: no I/O.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { SignetError } from '../errors.js';
import { decodePemBlocks } from '../keys/index.js';
import { certificatePublicKey, parseCertificate, verifyCertificateChain, type ParsedCertificate } from '../sigstore/certificate.js';
import { certificateIdentity, checkIdentity, type FulcioIdentity, type IdentityPolicy } from '../sigstore/identity.js';
import { verifySct } from '../sigstore/sct.js';
import { verifyTimestamp } from '../sigstore/timestamp-verify.js';
import { verifyRekorBundle, type VerifiedTlogEntry } from '../sigstore/tlog.js';
import type { TrustMaterial } from '../sigstore/verifier.js';
import { decodeBase64Strict } from '../sigstore/encoding.js';
import { pae } from '../sigstore/dsse.js';
import { ANNOTATION } from './storage.js';

export interface LegacyKeylessInput {
  annotations: Record<string, string>;
  payload: Buffer;
  signature: Buffer;
  trust: TrustMaterial;
  identity: IdentityPolicy;
  ignoreTlog: boolean;
  ignoreSct: boolean;
  useSignedTimestamps: boolean;
  /** The time used when there is neither log nor timestamp (only with ignoreTlog); default now. */
  now?: Date;
  /**
   * A `.att` layer: `payload` is the envelope as stored, `signature` its DSSE signature over the PAE of
   * this payload type and statement; the log entry is a dsse (or intoto) entry, and the RFC 3161
   * timestamp covers the stored envelope (as cosign's verifier reads it) or the signature.
   */
  dsse?: { payloadType: string; payload: Buffer };
}

export interface LegacyKeylessResult {
  identity: FulcioIdentity;
  tlog?: VerifiedTlogEntry[];
  /** What cosign adds to the output's `optional`: the verified Rekor bundle and timestamp. */
  optional: Record<string, unknown>;
}

function fail(msg: string, cause?: unknown): never {
  throw new SignetError('VERIFICATION', msg, cause === undefined ? undefined : { cause });
}

/** Run one check, naming it in the message; USAGE passes through, TLOG stays TLOG. */
export function step<T>(name: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SignetError && e.code !== 'USAGE') throw new SignetError(e.code === 'TLOG' ? 'TLOG' : 'VERIFICATION', `${name}: ${e.message}`, { cause: e });
    throw e;
  }
}

function leafFromAnnotation(pem: string): ParsedCertificate {
  const blocks = decodePemBlocks(pem).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) fail('certificate: the dev.sigstore.cosign/certificate annotation holds no PEM certificate');
  return step('certificate', () => parseCertificate(blocks[0]!.der, 'signing certificate'));
}

function hashFor(key: KeyObject): 'sha256' | 'sha384' | 'sha512' | null {
  if (key.asymmetricKeyType === 'ed25519') return null;
  if (key.asymmetricKeyType === 'ec') {
    const c = key.asymmetricKeyDetails?.namedCurve;
    return c === 'secp384r1' ? 'sha384' : c === 'secp521r1' ? 'sha512' : 'sha256';
  }
  return 'sha256';
}

export function checkLegacyKeyless(i: LegacyKeylessInput): LegacyKeylessResult {
  const pem = i.annotations[ANNOTATION.certificate];
  if (!pem) throw new SignetError('NO_CERTIFICATE', 'signature has no certificate (no dev.sigstore.cosign/certificate annotation): it was made with a key');
  const leaf = leafFromAnnotation(pem);
  const key = step('certificate', () => certificatePublicKey(leaf));
  const optional: Record<string, unknown> = {};

  // 1. verified times.
  const times: Date[] = [];
  let tlog: VerifiedTlogEntry[] | undefined;
  if (!i.ignoreTlog) {
    const annotation = i.annotations[ANNOTATION.bundle];
    if (!annotation) throw new SignetError('TLOG', 'transparency log: signature has no Rekor bundle (dev.sigstore.cosign/bundle annotation); pass --insecure-ignore-tlog to verify without the log');
    const v = step('transparency log entry', () =>
      verifyRekorBundle(
        annotation,
        {
          signature: i.signature,
          certificate: leaf.der,
          content: i.dsse ? { kind: 'dsse', payloadType: i.dsse.payloadType, payload: i.dsse.payload, envelopeBytes: i.payload } : { kind: 'bytes', data: i.payload },
        },
        i.trust.root,
      ),
    );
    tlog = [v];
    times.push(new Date(v.integratedTime! * 1000));
    optional.Bundle = JSON.parse(annotation) as unknown;
  }
  const tsAnnotation = i.annotations[ANNOTATION.rfc3161];
  if (tsAnnotation) {
    const der = step('RFC 3161 timestamp', () => {
      let doc: unknown;
      try {
        doc = JSON.parse(tsAnnotation);
      } catch {
        throw new SignetError('MALFORMED', 'the dev.sigstore.cosign/rfc3161timestamp annotation is not JSON');
      }
      const b64 = (doc as { SignedRFC3161Timestamp?: unknown } | null)?.SignedRFC3161Timestamp;
      if (typeof b64 !== 'string') throw new SignetError('MALFORMED', 'the dev.sigstore.cosign/rfc3161timestamp annotation has no SignedRFC3161Timestamp');
      return decodeBase64Strict(b64, 'SignedRFC3161Timestamp');
    });
    const r = step('RFC 3161 timestamp', () => {
      if (!i.dsse) return verifyTimestamp(der, { signature: i.signature, authorities: i.trust.tsas });
      // cosign's verifier timestamps an attestation's stored envelope; its v3 writer, the signature.
      try {
        return verifyTimestamp(der, { signature: i.payload, authorities: i.trust.tsas });
      } catch {
        return verifyTimestamp(der, { signature: i.signature, authorities: i.trust.tsas });
      }
    });
    times.push(r.time);
    optional.RFC3161Timestamp = JSON.parse(tsAnnotation) as unknown;
  } else if (i.useSignedTimestamps) {
    fail('timestamps: the signature has no RFC 3161 timestamp (dev.sigstore.cosign/rfc3161timestamp), which --use-signed-timestamps requires');
  }
  if (times.length === 0) times.push(i.now ?? new Date());

  // 2, 3. the certificate at every verified time, its SCTs.
  const chain = step('certificate chain', () => verifyCertificateChain(leaf, i.trust.cas, times));
  if (!i.ignoreSct) {
    step('SCT', () => verifySct(leaf, chain.chain[1]!, i.trust.ctlogs, 1));
  }

  // 5. the signature over the payload, with the certificate's key.
  let ok = false;
  try {
    ok = cryptoVerify(hashFor(key), i.dsse ? pae(i.dsse.payloadType, i.dsse.payload) : i.payload, key, i.signature);
  } catch {
    ok = false;
  }
  if (!ok) fail('signature: the signature does not verify with the certificate\'s key');

  // 6. who signed.
  const identity = step('certificate identity', () => certificateIdentity(leaf));
  step('identity policy', () => checkIdentity(identity, i.identity));
  return { identity, optional, ...(tlog ? { tlog } : {}) };
}

const ARC = '1.3.6.1.4.1.57264.1.';
const GITHUB_CLAIMS = [
  ['githubWorkflowTrigger', 2],
  ['githubWorkflowSha', 3],
  ['githubWorkflowName', 4],
  ['githubWorkflowRepository', 5],
  ['githubWorkflowRef', 6],
] as const;

/**
 * What cosign adds to `optional` for a certificate signature: `Subject` (first SAN), `Issuer` (also under
 * its OID), and the GitHub workflow claims under both their friendly names and OIDs.
 */
export function certificateClaims(id: FulcioIdentity): Record<string, string> {
  const out: Record<string, string> = {};
  if (id.subject !== undefined) out.Subject = id.subject;
  if (id.issuer !== undefined) {
    out.Issuer = id.issuer;
    out[`${ARC}1`] = id.issuer;
  }
  for (const [name, n] of GITHUB_CLAIMS) {
    const v = id.extensions[name];
    if (v !== undefined) {
      out[name] = v;
      out[`${ARC}${n}`] = v;
    }
  }
  return out;
}
