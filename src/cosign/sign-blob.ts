/**
 * Signing a blob (`sign-blob`): with a key, into a Sigstore bundle (v0.3, the log entry from Rekor v1 or
 * v2) or cosign's legacy forms (the bare signature, or a LocalSignedPayload carrying a Rekor v1 bundle);
 * keyless, into a bundle carrying the certificate, the log entries and the RFC 3161 timestamps. The log
 * is written first and nothing is returned until every step has succeeded: callers store the results
 * only then. Nothing here writes files or prints.
 */
import { createHash } from 'node:crypto';
import { SignetError } from '../errors.js';
import type { PublicKeyInfo, Signer } from '../keys/index.js';
import { buildMessageSignatureBundle, type HashAlg, type TlogEntryJSON } from '../sigstore/index.js';
import { hashedrekordV001, RekorV1Client, rekorBundleAnnotation, uploadToTlog, type TlogTarget } from '../sigstore/rekor-client.js';
import { signBlobKeyless, type KeylessSigner } from '../sigstore/sign-keyless.js';
import { requestTimestamp, type TsaTlsOptions } from '../sigstore/tsa-client.js';
import { encodePem } from '../keys/index.js';

export interface SignBlobWithKeyOptions {
  signer: Signer;
  /** The log to record the signature in (see sigstore/tlog-target.ts); none: not logged. */
  tlog?: TlogTarget;
  /** true (default): a Sigstore bundle; false: cosign's legacy signature / LocalSignedPayload. */
  newBundleFormat?: boolean;
  /** RFC 3161 timestamp authorities (full …/api/v1/timestamp URLs) to timestamp the signature with. */
  timestampUrls?: string[];
  /** TLS settings for https timestamp authorities. */
  timestampTls?: TsaTlsOptions;
  /**
   * The signing key's certificate (DER), from the organisation's CA: the bundle carries it instead of
   * a key hint, the log entry names it, and the legacy bundle's `cert` holds it. The caller checks it
   * certifies the signer's key (pki.ts `checkCertificateKey`).
   */
  certificate?: Buffer;
}

export interface SignBlobKeylessOptions {
  /** The certified ephemeral signer (sigstore/keyless.ts `keylessSigner`); its services say where to log and timestamp. */
  keyless: KeylessSigner;
}

export type SignBlobOptions = SignBlobWithKeyOptions | SignBlobKeylessOptions;

export interface BlobSignature {
  signature: Buffer;
  hashAlg: HashAlg;
  /** The blob's digest under hashAlg. */
  digest: Buffer;
  /** The log entries created (Sigstore bundle format). */
  tlogEntries: TlogEntryJSON[];
  /** DER TimeStampResp, one per TSA. */
  timestamps: Buffer[];
  /** The Sigstore bundle bytes; absent in the legacy format. */
  bundle?: Buffer;
  /** Legacy format: the Rekor v1 bundle of the entry created, when logged. */
  rekorBundle?: Record<string, unknown>;
  /** Legacy format: cosign's LocalSignedPayload JSON (`--bundle` without --new-bundle-format). */
  legacyBundle?: string;
}

/** The digest algorithm a key signs with; Ed25519 has none of its own, and sigstore records SHA2_512 for it. */
export function messageDigestAlg(key: PublicKeyInfo): HashAlg {
  return key.hash ?? 'sha512';
}

/** The legacy format records Rekor v1 entries only: refuse anything else before anything is signed. */
export function checkBlobTlog(tlog: TlogTarget | undefined, newBundleFormat: boolean): void {
  if (tlog && !newBundleFormat && tlog.majorApiVersion !== 1) {
    throw new SignetError('USAGE', 'the legacy bundle format records Rekor v1 entries only: use --new-bundle-format or a Rekor v1 URL');
  }
}

/** Sign a blob, log it (and timestamp it, keyless) and build what is to be stored. */
export async function signBlob(data: Buffer, o: SignBlobOptions): Promise<BlobSignature> {
  if ('keyless' in o) {
    const r = await signBlobKeyless(o.keyless, data);
    return { signature: r.signature, hashAlg: r.hashAlg, digest: r.digest, tlogEntries: r.tlogEntries, timestamps: r.timestamps, bundle: r.bundle };
  }
  const { signer, tlog, certificate } = o;
  const newBundleFormat = o.newBundleFormat !== false;
  checkBlobTlog(tlog, newBundleFormat);
  const hashAlg = messageDigestAlg(signer.publicKey);
  const digest = createHash(hashAlg).update(data).digest();
  const signature = await signer.sign(data);
  const verifierPem = certificate ? encodePem('CERTIFICATE', certificate) : signer.publicKey.pem;

  // Log and timestamp first (both at once): when either fails, nothing is returned to be written.
  const timestamped = Promise.all((o.timestampUrls ?? []).map((url) => requestTimestamp(url, signature, o.timestampTls ? { tls: o.timestampTls } : {})));
  let tlogEntries: TlogEntryJSON[] = [];
  let rekorBundle: Record<string, unknown> | undefined;
  const logged = (async (): Promise<void> => {
    if (tlog && newBundleFormat) {
      tlogEntries = [await uploadToTlog(tlog, { kind: 'digest', hashAlg, digest, signature, key: signer.publicKey, ...(certificate ? { certificate } : {}) })];
    } else if (tlog) {
      const { entry } = await new RekorV1Client({ baseUrl: tlog.url }).createEntry(hashedrekordV001({ hashAlg, digest, signature, verifierPem }));
      rekorBundle = JSON.parse(rekorBundleAnnotation(entry)) as Record<string, unknown>;
    }
  })();
  const [timestamps] = await Promise.all([timestamped, logged]);
  if (newBundleFormat) {
    const material = certificate ? { certificate } : { publicKeyHint: signer.publicKey.hint };
    const bundle = buildMessageSignatureBundle({ digest, hashAlg, signature, ...material, tlogEntries, rfc3161Timestamps: timestamps });
    return { signature, hashAlg, digest, tlogEntries, timestamps, bundle };
  }
  // cosign's LocalSignedPayload: `cert` holds base64 of the certificate PEM, or of the public key PEM.
  const legacy = { base64Signature: signature.toString('base64'), cert: Buffer.from(verifierPem).toString('base64'), ...(rekorBundle ? { rekorBundle } : {}) };
  return { signature, hashAlg, digest, tlogEntries, timestamps, ...(rekorBundle ? { rekorBundle } : {}), legacyBundle: JSON.stringify(legacy) };
}
