/**
 * Keyless signing into a Sigstore bundle: an ephemeral key, a short-lived certificate for it from a
 * Fulcio-compatible CA (traded for an OIDC token), the signature logged in Rekor and countersigned by
 * every selected RFC 3161 TSA. The services come from a signing config. Network I/O lives in the
 * clients this composes; nothing is written to disk here.
 */
import { createHash } from 'node:crypto';
import { SignetError } from '../errors.js';
import type { KeyKind } from '../keys/index.js';
import { buildDsseBundle, buildMessageSignatureBundle, type TlogEntryJSON } from './bundle.js';
import { envelopeToJSON, pae, signDsse } from './dsse.js';
import { ephemeralSigner, requestCertificate } from './fulcio-client.js';
import { uploadToTlog } from './rekor-client.js';
import { selectServices, type SigningConfig } from './signing-config.js';
import { requestTimestamp } from './tsa-client.js';

export type KeylessContent = { kind: 'blob'; data: Buffer } | { kind: 'dsse'; payloadType: string; payload: Buffer };

export interface KeylessSignOptions {
  /** The OIDC identity token (a JWT). */
  token: string;
  signingConfig: SigningConfig;
  content: KeylessContent;
  keyKind?: KeyKind;
  /** Time used to select services (default now). */
  now?: Date;
}

export interface KeylessSignResult {
  /** The v0.3 bundle bytes, to be stored as they are. */
  bundle: Buffer;
  certificate: Buffer;
  tlogEntries: TlogEntryJSON[];
  timestamps: Buffer[];
}

export async function signBundleKeyless(o: KeylessSignOptions): Promise<KeylessSignResult> {
  if (!o.token) throw new SignetError('USAGE', 'keyless signing needs an identity token');
  const services = selectServices(o.signingConfig, o.now ?? new Date());
  if (!services.ca) throw new SignetError('USAGE', 'the signing config lists no certificate authority valid now');
  if (services.tlogs.length === 0 && services.tsas.length === 0) {
    // Without either, nothing would prove when the signature was made while the certificate was valid.
    throw new SignetError('USAGE', 'the signing config lists neither a transparency log nor a timestamp authority valid now');
  }
  const signer = ephemeralSigner(o.keyKind);
  const issued = await requestCertificate(services.ca, { token: o.token, signer });
  if (issued.detachedSct) throw new SignetError('VERIFICATION', 'the CA returned a detached SCT; only certificates with embedded SCTs are supported');

  let signature: Buffer;
  const tlogEntries: TlogEntryJSON[] = [];
  const timestamps: Buffer[] = [];
  if (o.content.kind === 'blob') {
    const hashAlg = signer.publicKey.hash ?? 'sha512';
    const digest = createHash(hashAlg).update(o.content.data).digest();
    signature = signer.sign(o.content.data);
    // Timestamps first (as sigstore clients do): the TSA time does not depend on the log.
    for (const url of services.tsas) timestamps.push(await requestTimestamp(url, signature));
    for (const t of services.tlogs) {
      tlogEntries.push(await uploadToTlog({ url: t.url, majorApiVersion: t.majorApiVersion as 1 | 2 }, { kind: 'digest', hashAlg, digest, signature, key: signer.publicKey }));
    }
    const bundle = buildMessageSignatureBundle({ digest, hashAlg, signature, certificate: issued.leafDer, tlogEntries, rfc3161Timestamps: timestamps });
    return { bundle, certificate: issued.leafDer, tlogEntries, timestamps };
  }
  const envelope = signDsse(signer, o.content.payloadType, o.content.payload);
  signature = envelope.signatures[0]!.sig;
  for (const url of services.tsas) timestamps.push(await requestTimestamp(url, signature));
  const envelopeJson = envelopeToJSON(envelope).toString('utf8');
  const preAuth = pae(envelope.payloadType, envelope.payload);
  for (const t of services.tlogs) {
    tlogEntries.push(await uploadToTlog({ url: t.url, majorApiVersion: t.majorApiVersion as 1 | 2 }, { kind: 'dsse', envelopeJson, pae: preAuth, signature, key: signer.publicKey }));
  }
  const bundle = buildDsseBundle({ envelope, certificate: issued.leafDer, tlogEntries, rfc3161Timestamps: timestamps });
  return { bundle, certificate: issued.leafDer, tlogEntries, timestamps };
}
