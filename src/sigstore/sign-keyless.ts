/**
 * Keyless signing: an ephemeral key and a short-lived certificate for it from a Fulcio-compatible CA
 * (traded for an OIDC token), then per signature an RFC 3161 timestamp over the signature bytes and a
 * log entry that names the certificate. One certificate serves every signature of a command (as cosign
 * signs all images of one run with it). The services come from a signing config, each replaceable by a
 * flag. Nothing here writes anything: callers store the results only once every step has succeeded.
 */
import { createHash } from 'node:crypto';
import { SignetError } from '../errors.js';
import { encodePem, type KeyKind, type Signer } from '../keys/index.js';
import { envelopeToJSON, pae, signDsse, type DsseEnvelope } from './dsse.js';
import { buildDsseBundle, buildMessageSignatureBundle, type TlogEntryJSON } from './bundle.js';
import { ephemeralSigner, requestCertificate } from './fulcio-client.js';
import { uploadToTlog, type TlogTarget, type UploadMaterial } from './rekor-client.js';
import { loadSigningConfig, publicGoodSigningConfig, selectServices, type SigningConfig } from './signing-config.js';
import { getIdentityToken } from './identity-token.js';
import { requestTimestamp, type TsaTlsOptions } from './tsa-client.js';
import type { HashAlg } from './encoding.js';

export interface KeylessServices {
  caUrl: string;
  /** Logs to record every signature in (empty with --tlog-upload=false). */
  tlogs: TlogTarget[];
  /** TSA endpoints (full URL of …/api/v1/timestamp). */
  tsaUrls: string[];
  /** TLS settings for https TSAs (cosign's --timestamp-client-* flags). */
  tsaTls?: TsaTlsOptions;
}

export interface ServiceOverrides {
  /** --fulcio-url */
  caUrl?: string;
  /** --rekor-url (always Rekor v1 API) */
  rekorUrl?: string;
  /** --timestamp-server-url */
  tsaUrl?: string;
  /** --tlog-upload (default true) */
  tlogUpload?: boolean;
  now?: Date;
}

function checkHttpUrl(url: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SignetError('USAGE', `${flag} ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new SignetError('USAGE', `${flag} ${url} is not an http(s) URL`);
  return url;
}

/**
 * The services to sign with: the signing config's selection at `now`, each kind replaced by an explicit
 * flag when given. Refuses combinations whose signatures could never verify: no CA; neither log nor TSA
 * (no trusted time for the certificate); a Rekor v2 log without a TSA (v2 entries carry no signed time).
 */
export function resolveKeylessServices(config: SigningConfig, o: ServiceOverrides = {}): KeylessServices {
  const selected = selectServices(config, o.now ?? new Date());
  const caUrl = o.caUrl !== undefined ? checkHttpUrl(o.caUrl, '--fulcio-url') : selected.ca;
  if (!caUrl) throw new SignetError('USAGE', 'no certificate authority: the signing config lists none valid now; pass --fulcio-url');
  let tlogs: TlogTarget[] = [];
  if (o.tlogUpload !== false) {
    if (o.rekorUrl !== undefined) tlogs = [{ url: checkHttpUrl(o.rekorUrl, '--rekor-url'), majorApiVersion: 1 }];
    else tlogs = selected.tlogs.filter((t) => t.majorApiVersion === 1 || t.majorApiVersion === 2).map((t) => ({ url: t.url, majorApiVersion: t.majorApiVersion as 1 | 2 }));
  }
  const tsaUrls = o.tsaUrl !== undefined ? [checkHttpUrl(o.tsaUrl, '--timestamp-server-url')] : selected.tsas;
  if (tlogs.length === 0 && tsaUrls.length === 0) {
    throw new SignetError(
      'USAGE',
      o.tlogUpload === false
        ? 'keyless signing without a transparency log needs a timestamp authority (--timestamp-server-url, or a signing config listing one): nothing else would prove the certificate was valid when signing'
        : 'the signing config lists neither a transparency log nor a timestamp authority valid now',
    );
  }
  if (tlogs.some((t) => t.majorApiVersion === 2) && tsaUrls.length === 0) {
    throw new SignetError('USAGE', 'Rekor v2 entries carry no signed time, so keyless signing with Rekor v2 needs a timestamp authority (--timestamp-server-url, or a signing config listing one)');
  }
  return { caUrl, tlogs, tsaUrls };
}

/** An ephemeral key with its certificate, valid for a few minutes. */
export interface KeylessSigner {
  signer: Signer;
  /** DER leaf. */
  certificate: Buffer;
  /** DER intermediates then root, as the CA sent them. */
  chain: Buffer[];
  certificatePem: string;
  /** PEM of the chain, "" when the CA sent none (what cosign stores in `dev.sigstore.cosign/chain`). */
  chainPem: string;
  services: KeylessServices;
}

/** Generate the ephemeral key and trade the identity token for its certificate. */
export async function obtainKeylessSigner(services: KeylessServices, token: string, opts: { keyKind?: KeyKind } = {}): Promise<KeylessSigner> {
  if (!token) throw new SignetError('USAGE', 'keyless signing needs an identity token');
  const signer = ephemeralSigner(opts.keyKind);
  const issued = await requestCertificate(services.caUrl, { token, signer });
  if (issued.detachedSct) {
    throw new SignetError('VERIFICATION', 'the certificate authority answered with a detached SCT; only certificates with embedded SCTs (or none) are supported');
  }
  return {
    signer,
    certificate: issued.leafDer,
    chain: issued.chainDer,
    certificatePem: encodePem('CERTIFICATE', issued.leafDer),
    chainPem: issued.chainDer.map((d) => encodePem('CERTIFICATE', d)).join(''),
    services,
  };
}

export interface SignatureEvidence {
  tlogEntries: TlogEntryJSON[];
  /** DER TimeStampResp, one per TSA. */
  timestamps: Buffer[];
}

/**
 * Timestamp the signature and log it with the certificate as verifier. `material` is what the log records; its key and certificate are filled in.
 */
export async function timestampAndLog(
  ks: KeylessSigner,
  signature: Buffer,
  material: { kind: 'digest'; hashAlg: HashAlg; digest: Buffer } | { kind: 'dsse'; envelopeJson: string; pae: Buffer },
): Promise<SignatureEvidence> {
  // Independent of each other, so both go out at once (the TSA's time does not depend on the log). The
  // log entry goes out first: it is the long pole (it waits for the log's next commit), and a server
  // that gets both at once starts on it before spending its turn on the timestamp.
  const m: UploadMaterial = { ...material, signature, key: ks.signer.publicKey, certificate: ks.certificate };
  const logged = Promise.all(ks.services.tlogs.map((t) => uploadToTlog(t, m)));
  const tls = ks.services.tsaTls;
  const timestamped = Promise.all(ks.services.tsaUrls.map((url) => requestTimestamp(url, signature, tls ? { tls } : {})));
  const [tlogEntries, timestamps] = await Promise.all([logged, timestamped]);
  return { tlogEntries, timestamps };
}

export interface KeylessBlobSignature extends SignatureEvidence {
  /** The v0.3 bundle bytes. */
  bundle: Buffer;
  signature: Buffer;
  hashAlg: HashAlg;
  digest: Buffer;
}

/** Sign a blob into a message-signature bundle carrying the certificate, the log entries and the timestamps. */
export async function signBlobKeyless(ks: KeylessSigner, data: Buffer): Promise<KeylessBlobSignature> {
  const hashAlg: HashAlg = ks.signer.publicKey.hash ?? 'sha512';
  const digest = createHash(hashAlg).update(data).digest();
  const signature = await ks.signer.sign(data);
  const evidence = await timestampAndLog(ks, signature, { kind: 'digest', hashAlg, digest });
  const bundle = buildMessageSignatureBundle({
    digest,
    hashAlg,
    signature,
    certificate: ks.certificate,
    tlogEntries: evidence.tlogEntries,
    rfc3161Timestamps: evidence.timestamps,
  });
  return { bundle, signature, hashAlg, digest, ...evidence };
}

export interface KeylessSetup {
  /** --signing-config: a file path; default the public-good services. */
  signingConfigPath?: string;
  /** A signing config already loaded (e.g. from the TUF cache); the path wins when both are given. */
  signingConfig?: SigningConfig;
  overrides?: ServiceOverrides;
  /** --identity-token (value or file). */
  identityToken?: string;
  /** --oidc-issuer: the interactive login's issuer (default: the signing config's OIDC URL). */
  oidcIssuer?: string;
  /** --oidc-client-id (default sigstore). */
  oidcClientId?: string;
  /** The client secret (--oidc-client-secret-file's content) for confidential clients. */
  oidcClientSecret?: string;
  /** --oidc-redirect-url for the browser login. */
  oidcRedirectUrl?: string;
  /** --oidc-provider: the one ambient provider to ask. */
  oidcProvider?: string;
  /** --oidc-disable-ambient-providers. */
  disableAmbientProviders?: boolean;
  /** --fulcio-auth-flow: normal, device, token or client_credentials. */
  fulcioAuthFlow?: string;
  /** Offer the browser login when no token is found (people at a terminal). */
  interactive?: boolean;
  log?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
}

/**
 * Everything before the first signature: services (config + flags), the identity token (cosign's order),
 * the ephemeral key and its certificate. Usage errors come before any network traffic.
 */
export async function prepareKeyless(o: KeylessSetup): Promise<KeylessSigner> {
  const config = o.signingConfigPath ? await loadSigningConfig(o.signingConfigPath) : (o.signingConfig ?? publicGoodSigningConfig());
  const services = resolveKeylessServices(config, o.overrides);
  const issuer = o.oidcIssuer ?? selectServices(config, o.overrides?.now ?? new Date()).oidc;
  const login = issuer
    ? {
        issuer,
        clientId: o.oidcClientId ?? 'sigstore',
        ...(o.oidcClientSecret !== undefined ? { clientSecret: o.oidcClientSecret } : {}),
        ...(o.oidcRedirectUrl !== undefined ? { redirectUrl: o.oidcRedirectUrl } : {}),
        ...(o.log ? { log: o.log } : {}),
      }
    : undefined;
  const token = await getIdentityToken({
    ...(o.identityToken !== undefined ? { identityToken: o.identityToken } : {}),
    ...(o.env ? { env: o.env } : {}),
    ...(o.oidcProvider !== undefined ? { provider: o.oidcProvider } : {}),
    ...(o.disableAmbientProviders ? { disableAmbient: true } : {}),
    ...(o.fulcioAuthFlow !== undefined ? { authFlow: o.fulcioAuthFlow } : {}),
    ...(login ? { login } : {}),
    ...(o.interactive && login ? { interactive: login } : {}),
  });
  return obtainKeylessSigner(services, token);
}

/** Sign a DSSE payload (an in-toto statement) into a bundle carrying the certificate, log entries and timestamps. */
export async function signDsseKeyless(ks: KeylessSigner, payloadType: string, payload: Buffer): Promise<{ bundle: Buffer; envelope: DsseEnvelope } & SignatureEvidence> {
  const envelope = await signDsse(ks.signer, payloadType, payload);
  const signature = envelope.signatures[0]!.sig;
  const evidence = await timestampAndLog(ks, signature, { kind: 'dsse', envelopeJson: envelopeToJSON(envelope).toString('utf8'), pae: pae(envelope.payloadType, envelope.payload) });
  const bundle = buildDsseBundle({ envelope, certificate: ks.certificate, tlogEntries: evidence.tlogEntries, rfc3161Timestamps: evidence.timestamps });
  return { bundle, envelope, ...evidence };
}

export type KeylessContent = { kind: 'blob'; data: Buffer } | { kind: 'dsse'; payloadType: string; payload: Buffer };

/** One bundle, keyless, from a token and a signing config (the conformance client's sign-bundle). */
export async function signBundleKeyless(o: { token: string; signingConfig: SigningConfig; content: KeylessContent; keyKind?: KeyKind; now?: Date }): Promise<{ bundle: Buffer; certificate: Buffer } & SignatureEvidence> {
  const ks = await obtainKeylessSigner(resolveKeylessServices(o.signingConfig, o.now ? { now: o.now } : {}), o.token, o.keyKind ? { keyKind: o.keyKind } : {});
  const signed = o.content.kind === 'blob' ? await signBlobKeyless(ks, o.content.data) : await signDsseKeyless(ks, o.content.payloadType, o.content.payload);
  return { bundle: signed.bundle, certificate: ks.certificate, tlogEntries: signed.tlogEntries, timestamps: signed.timestamps };
}
