/** `signet sign-blob` and `signet verify-blob`: signatures over files, in Sigstore bundles or cosign's legacy forms. */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { SignetError } from '../../errors.js';
import { parseWitnessPolicy, type WitnessPolicy } from '../../tlog/witness-policy.js';
import { ioError, writeFileAtomic } from '../../fsutil.js';
import { encodePem, loadPublicKey, loadSigner, type PasswordSource, type PublicKeyInfo } from '../../keys/index.js';
import { checkTlogPolicy } from '../../sigstore/index.js';
import { readPassword } from '../password.js';
import { addTlogSignOptions, type TlogSignFlags } from './log.js';
import { boolOpt, examples, opt, ui } from '../common.js';
import { checkBlobTlog, signBlob } from '../../cosign/sign-blob.js';
import { artifactTarget, readBlob, readSignatureFlag } from '../../cosign/blob-io.js';
import { keylessBlobBundle, parseBlobBundle, readBlobBundle, verifyBlob, verifyBlobEvidence, type BlobEvidence } from '../../cosign/verify-blob.js';
import { loadTrustedRoot } from '../../sigstore/trustedroot.js';
import { prepareTrust } from '../../sigstore/verifier.js';
import type { KeylessSigner } from '../../sigstore/sign-keyless.js';
import type { IdentityPolicy } from '../../sigstore/identity.js';
import { configuredTrustedRoot, identityPolicy, keylessSigner, keylessTrust as keylessTrustMaterial, signerIdentity, type KeylessSignOptions } from '../../sigstore/keyless.js';
import type { TrustMaterial } from '../../sigstore/verifier.js';
import type { TimestampAuthority } from '../../sigstore/timestamp-verify.js';
import { FILE_LIMITS } from '../../fsutil.js';
import { readSmallFile } from '../../cosign/blob-io.js';
import type { CertificateAuthority } from '../../sigstore/certificate.js';
import { authoritiesFromChain, authoritiesFromPools, certificatesFromPem, checkCertificateKey, checkSigningChain, parseTimestampJson, timestampAuthorityFromChain, timestampJson } from '../../cosign/pki.js';
import type { TsaTlsOptions } from '../../sigstore/tsa-client.js';
import { keyedTimestampUrls, tlogTarget } from '../../sigstore/tlog-target.js';

const TLOG_SKIP_WARNING =
  'Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the signature.';

// ---------------------------------------------------------------------------------------------------
// Keyless flags, shared with `sign` / `verify` (image.ts)

/** The keyless flags are the library's options, less what the CLI decides itself (terminal, progress). */
export type KeylessSignFlags = Omit<KeylessSignOptions, 'interactive' | 'log'>;

export function addKeylessSignOptions(cmd: Command): Command {
  return cmd
    .addOption(opt('--fulcio-url <url>', 'certificate authority (Fulcio API) for keyless signing; overrides the signing config'))
    .addOption(opt('--timestamp-server-url <url>', 'RFC 3161 timestamp authority (…/api/v1/timestamp); overrides the signing config'))
    .addOption(opt('--identity-token <token|file>', 'OIDC identity token for keyless signing, or a file holding it (else SIGSTORE_ID_TOKEN, GitHub Actions, or a browser login)'))
    .addOption(opt('--oidc-issuer <url>', 'OIDC issuer for the interactive login (default: the signing config\'s)'))
    .addOption(opt('--oidc-client-id <id>', 'OIDC client ID for the interactive login', 'sigstore'))
    .addOption(opt('--oidc-client-secret-file <file>', 'file holding the OIDC client secret (confidential clients; needed by --fulcio-auth-flow=client_credentials)'))
    .addOption(opt('--oidc-redirect-url <url>', 'the browser login\'s loopback redirect URL (default http://localhost:0/auth/callback, any free port)'))
    .addOption(opt('--oidc-provider <name>', 'take the identity token from this ambient provider only: envvar, github-actions, buildkite-agent or filesystem'))
    .addOption(boolOpt('--oidc-disable-ambient-providers', 'do not look for ambient identity tokens (SIGSTORE_ID_TOKEN, GitHub Actions, Buildkite, /var/run/sigstore/cosign/oidc-token)'))
    .addOption(opt('--fulcio-auth-flow <flow>', 'how to get the identity token: normal (browser), device (RFC 8628 code), token (given or ambient only), client_credentials (--oidc-client-secret-file)'));
}

/**
 * For keyed flows that do not timestamp yet: a flag that is silently dropped would leave a signature
 * without the timestamp its signer asked for. (sign, sign-blob and attest-blob timestamp keyed signatures.)
 */
export function refuseTimestampWithKey(flags: KeylessSignFlags): void {
  if (flags.timestampServerUrl !== undefined) {
    throw new SignetError('USAGE', '--timestamp-server-url (or COSIGN_TIMESTAMP_SERVER_URL) is not supported with --key yet for this command: the signature would carry no timestamp; leave it out or sign keyless');
  }
}

/** What keyed signing adds to a signature beyond the key: timestamps, and the organisation's certificate. */
export interface KeyedSignFlags {
  timestampServerUrl?: string;
  signingConfig?: string;
  timestampClientCacert?: string;
  timestampClientCert?: string;
  timestampClientKey?: string;
  timestampServerName?: string;
  certificate?: string;
  certificateChain?: string;
}

/** cosign's TSA client TLS flags (shared by keyed and keyless signing). */
export function addTimestampClientOptions(cmd: Command): Command {
  return cmd
    .addOption(opt('--timestamp-client-cacert <file>', 'PEM CA certificates to verify the timestamp authority\'s TLS certificate with'))
    .addOption(opt('--timestamp-client-cert <file>', 'PEM client certificate for mutual TLS with the timestamp authority'))
    .addOption(opt('--timestamp-client-key <file>', 'PEM private key of --timestamp-client-cert'))
    .addOption(opt('--timestamp-server-name <name>', 'the name the timestamp authority\'s TLS certificate must carry (SNI), instead of the URL\'s host'));
}

/** `--certificate`/`--certificate-chain` for keyed signing with the organisation's CA. */
export function addCertificateSignOptions(cmd: Command): Command {
  return cmd
    .addOption(opt('--certificate <file>', 'with --key: the key\'s PEM certificate from your CA, stored with the signature'))
    .addOption(opt('--certificate-chain <file>', 'with --certificate: PEM chain of CA certificates, the certificate\'s issuer first and the root last'));
}

/** The TLS settings of the TSA flags, or undefined when none was given. */
export async function timestampTls(f: KeyedSignFlags): Promise<TsaTlsOptions | undefined> {
  if ((f.timestampClientCert === undefined) !== (f.timestampClientKey === undefined)) {
    throw new SignetError('USAGE', '--timestamp-client-cert and --timestamp-client-key go together');
  }
  const read = (path: string, flag: string): Promise<Buffer> => readSmallFile(path, flag, FILE_LIMITS.small);
  const tls: TsaTlsOptions = {};
  if (f.timestampClientCacert) tls.ca = await read(f.timestampClientCacert, '--timestamp-client-cacert');
  if (f.timestampClientCert) tls.cert = await read(f.timestampClientCert, '--timestamp-client-cert');
  if (f.timestampClientKey) tls.key = await read(f.timestampClientKey, '--timestamp-client-key');
  if (f.timestampServerName) tls.serverName = f.timestampServerName;
  return Object.keys(tls).length > 0 ? tls : undefined;
}

export interface KeyedSigningExtras {
  timestampUrls: string[];
  timestampTls?: TsaTlsOptions;
  certificate?: Buffer;
  chain?: Buffer[];
}

/**
 * Everything keyed signing needs besides the key, checked before anything is signed: the TSAs (from
 * --timestamp-server-url or the signing config) and their TLS settings; the certificate, which must
 * certify the key, and its chain, which must lead from it to a self-signed root.
 */
export async function keyedSigningExtras(f: KeyedSignFlags, key: PublicKeyInfo, stored?: Buffer): Promise<KeyedSigningExtras> {
  const out: KeyedSigningExtras = { timestampUrls: await keyedTimestampUrls(f) };
  const tls = await timestampTls(f);
  if (tls) {
    if (out.timestampUrls.length === 0) throw new SignetError('USAGE', 'the --timestamp-client-* and --timestamp-server-name flags need a timestamp authority: pass --timestamp-server-url or a signing config listing one');
    out.timestampTls = tls;
  }
  // A certificate stored with the key (a PKCS#11 token's) is the signing certificate, as in cosign,
  // which also refuses to let --certificate override it.
  if (stored && f.certificate) throw new SignetError('USAGE', `the PKCS#11 token holds a certificate for this key, and --certificate ${f.certificate} would override it: drop --certificate (the token's certificate is attached)`);
  if (f.certificateChain && !f.certificate && !stored) throw new SignetError('USAGE', '--certificate-chain needs --certificate (the signing certificate it leads from), or a certificate stored with the key in its PKCS#11 token');
  let leaf = stored;
  if (f.certificate) {
    const [given, ...rest] = await readCertificates(f.certificate, '--certificate');
    if (rest.length > 0) throw new SignetError('USAGE', `--certificate ${f.certificate} holds ${rest.length + 1} certificates: pass the signing certificate alone, and its CAs with --certificate-chain`);
    leaf = given!;
  }
  if (leaf) {
    checkCertificateKey(leaf, key);
    out.certificate = leaf;
    if (f.certificateChain) {
      out.chain = await readCertificates(f.certificateChain, '--certificate-chain');
      checkSigningChain(leaf, out.chain);
    }
  }
  return out;
}

/** The certified ephemeral signer for a keyless `sign` / `sign-blob`: nothing is signed before this succeeds. */
export async function keylessSignerFromFlags(flags: KeylessSignFlags & KeyedSignFlags): Promise<KeylessSigner> {
  const tls = await timestampTls(flags);
  const ks = await keylessSigner({
    ...flags,
    // A browser login only makes sense for a person at a terminal; scripts get the "no token" error.
    interactive: process.stderr.isTTY === true,
    log: (m) => ui.info(m),
  });
  if (tls) {
    if (ks.services.tsaUrls.length === 0) throw new SignetError('USAGE', 'the --timestamp-client-* and --timestamp-server-name flags need a timestamp authority: pass --timestamp-server-url or a signing config listing one');
    ks.services.tsaTls = tls;
  }
  const id = signerIdentity(ks);
  ui.info(`Signing as ${id.subject ?? '(no subject)'} (issuer ${id.issuer ?? 'unknown'}) with a certificate from ${ks.services.caUrl}`);
  return ks;
}

export interface KeylessVerifyFlags {
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  certificateOidcIssuerRegexp?: string;
  certificateGithubWorkflowTrigger?: string;
  certificateGithubWorkflowSha?: string;
  certificateGithubWorkflowName?: string;
  certificateGithubWorkflowRepository?: string;
  certificateGithubWorkflowRef?: string;
  insecureIgnoreSct: boolean;
  useSignedTimestamps: boolean;
  trustedRoot?: string;
  timestampCertificateChain?: string;
  certificateChain?: string;
  caRoots?: string;
  caIntermediates?: string;
  /** --allow-certificate-chain: a bundle's own certificate chain is accepted and its intermediates used. */
  allowCertificateChain?: boolean;
  /** --offline: no TUF refresh (verification itself never calls the log). */
  offline?: boolean;
}

export function addKeylessVerifyOptions(cmd: Command): Command {
  return cmd
    .addOption(opt('--certificate-identity <identity>', 'keyless: the signer identity the certificate must name exactly (email, URI, …)'))
    .addOption(opt('--certificate-identity-regexp <regexp>', 'keyless: a regular expression the certificate identity must match'))
    .addOption(opt('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer the certificate must name exactly'))
    .addOption(opt('--certificate-oidc-issuer-regexp <regexp>', 'keyless: a regular expression the certificate OIDC issuer must match'))
    .addOption(opt('--certificate-github-workflow-trigger <event>', 'keyless: required GitHub workflow trigger claim'))
    .addOption(opt('--certificate-github-workflow-sha <sha>', 'keyless: required GitHub workflow commit SHA claim'))
    .addOption(opt('--certificate-github-workflow-name <name>', 'keyless: required GitHub workflow name claim'))
    .addOption(opt('--certificate-github-workflow-repository <repo>', 'keyless: required GitHub workflow repository claim'))
    .addOption(opt('--certificate-github-workflow-ref <ref>', 'keyless: required GitHub workflow ref claim'))
    .addOption(boolOpt('--insecure-ignore-sct', 'keyless: do not require an embedded signed certificate timestamp'))
    .addOption(boolOpt('--use-signed-timestamps', 'require a verified RFC 3161 timestamp for each signature (keyed too)'))
    .addOption(boolOpt('--offline', 'verify from the signatures\' own evidence and the trusted root alone: no transparency log lookups (Signet never makes any) and no TUF refresh'))
    .addOption(opt('--certificate-chain <file>', 'your own CA: PEM chain the signing certificate must lead to, its issuer first and the root last (instead of the trusted root\'s CAs)'))
    .addOption(opt('--ca-roots <file>', 'your own CA: PEM root certificates to anchor signing certificates at (instead of the trusted root\'s CAs)'))
    .addOption(opt('--ca-intermediates <file>', 'with --ca-roots: PEM intermediate CA certificates between the roots and the signing certificates'))
    .addOption(boolOpt('--allow-certificate-chain', 'accept a bundle that carries its signing certificate\'s chain (x509CertificateChain, refused in v0.3 bundles otherwise) and use its intermediates to reach a trusted root CA; the roots still come from the trusted root'))
    .addOption(opt('--timestamp-certificate-chain <file>', 'PEM chain of the timestamp authority (its signing certificate first, the root last) to verify RFC 3161 timestamps with, instead of the trusted root\'s'));
}

/** `--witness-policy FILE`: which witnesses must have cosigned the checkpoints of the log entries. */
export function addWitnessPolicyOption(cmd: Command): Command {
  return cmd.addOption(
    opt('--witness-policy <file>', 'demand witness cosignatures on the log checkpoints in the signatures\' bundles: a policy in Sigsum\'s format (witness NAME VKEY, group NAME any|all|K MEMBER..., quorum NAME)'),
  );
}

/** The parsed `--witness-policy` file, if one was given. */
export async function witnessPolicyFromFlags(flags: { witnessPolicy?: string }): Promise<WitnessPolicy | undefined> {
  if (!flags.witnessPolicy) return undefined;
  const text = (await readSmallFile(flags.witnessPolicy, '--witness-policy', FILE_LIMITS.small)).toString('utf8');
  return parseWitnessPolicy(text, `--witness-policy ${flags.witnessPolicy}`);
}

/** A PEM file of certificates (1 MiB cap), parsed; `flag` names it in errors. */
export async function readCertificates(path: string, flag: string): Promise<Buffer[]> {
  return certificatesFromPem((await readSmallFile(path, flag, FILE_LIMITS.small)).toString('utf8'), `${flag} ${path}`);
}

/**
 * The timestamp authorities RFC 3161 timestamps of keyed signatures are verified against:
 * --timestamp-certificate-chain, else the trusted root's (--trusted-root, or with --use-signed-timestamps
 * the pinned public-good root, as keyless). Undefined when neither is asked for: timestamps go unchecked.
 */
export async function timestampAuthorities(f: { timestampCertificateChain?: string; trustedRoot?: string; useSignedTimestamps?: boolean }): Promise<TimestampAuthority[] | undefined> {
  if (f.timestampCertificateChain) return [timestampAuthorityFromChain(await readCertificates(f.timestampCertificateChain, '--timestamp-certificate-chain'))];
  if (!f.trustedRoot && !f.useSignedTimestamps) return undefined;
  return [...(await keylessTrustMaterial(f)).tsas];
}

/** `--rfc3161-timestamp FILE`: cosign's `{"SignedRFC3161Timestamp":…}` beside a bare signature. */
export async function readTimestampFile(path: string): Promise<Buffer> {
  return parseTimestampJson((await readSmallFile(path, '--rfc3161-timestamp', FILE_LIMITS.small)).toString('utf8'), `--rfc3161-timestamp ${path}`);
}

/** With --key the key is the trust anchor: CA flags would be silently unused, so they are refused. */
export function refuseCaFlagsWithKey(f: KeylessVerifyFlags & { key?: string }): void {
  if (!f.key) return;
  const given = (['certificateChain', 'caRoots', 'caIntermediates'] as const).filter((k) => f[k]);
  if (given.length > 0) throw new SignetError('USAGE', '--certificate-chain, --ca-roots and --ca-intermediates verify certificates against your CA: they cannot be used with --key');
}

/** True when any identity flag was given (with --key, that is a usage error). */
export function hasIdentityFlags(f: KeylessVerifyFlags): boolean {
  return [f.certificateIdentity, f.certificateIdentityRegexp, f.certificateOidcIssuer, f.certificateOidcIssuerRegexp].some((v) => v !== undefined && v !== '');
}

/** The identity policy from the flags; USAGE naming the flags when identity or issuer is missing. */
export function identityPolicyFromFlags(f: KeylessVerifyFlags): IdentityPolicy {
  return identityPolicy({
    identity: f.certificateIdentity,
    identityRegexp: f.certificateIdentityRegexp,
    issuer: f.certificateOidcIssuer,
    issuerRegexp: f.certificateOidcIssuerRegexp,
    githubWorkflowTrigger: f.certificateGithubWorkflowTrigger,
    githubWorkflowSha: f.certificateGithubWorkflowSha,
    githubWorkflowName: f.certificateGithubWorkflowName,
    githubWorkflowRepository: f.certificateGithubWorkflowRepository,
    githubWorkflowRef: f.certificateGithubWorkflowRef,
  });
}

/** --trusted-root, else the pinned public-good root (no network); a note when SCTs cannot be checked. */
export async function keylessTrust(f: {
  trustedRoot?: string;
  insecureIgnoreSct?: boolean;
  timestampCertificateChain?: string;
  certificateChain?: string;
  caRoots?: string;
  caIntermediates?: string;
  offline?: boolean;
  allowCertificateChain?: boolean;
}): Promise<TrustMaterial> {
  const cas = await ownAuthorities(f);
  let trust = await keylessTrustMaterial(f);
  if (f.timestampCertificateChain) trust = { ...trust, tsas: (await timestampAuthorities(f))! };
  if (cas) trust = { ...trust, cas };
  if (f.allowCertificateChain) trust = { ...trust, allowCertificateChain: true };
  if (trust.ctlogs.length === 0 && !f.insecureIgnoreSct) {
    ui.info('Note: the trusted root lists no CT logs, so certificates are not checked for SCTs.');
  }
  return trust;
}

/**
 * The organisation's CAs from --certificate-chain, or --ca-roots with --ca-intermediates: they replace
 * the trusted root's CAs (its logs, CT logs and TSAs stay). Undefined when none is given.
 */
export async function ownAuthorities(f: { certificateChain?: string; caRoots?: string; caIntermediates?: string }): Promise<CertificateAuthority[] | undefined> {
  if (f.certificateChain && (f.caRoots || f.caIntermediates)) throw new SignetError('USAGE', '--certificate-chain and --ca-roots/--ca-intermediates cannot be used together');
  if (f.caIntermediates && !f.caRoots) throw new SignetError('USAGE', '--ca-intermediates needs --ca-roots (the roots the intermediates lead to)');
  if (f.certificateChain) return authoritiesFromChain(await readCertificates(f.certificateChain, '--certificate-chain'));
  if (!f.caRoots) return undefined;
  const roots = await readCertificates(f.caRoots, '--ca-roots');
  const intermediates = f.caIntermediates ? await readCertificates(f.caIntermediates, '--ca-intermediates') : [];
  return authoritiesFromPools(roots, intermediates);
}

/** --insecure-ignore-sct when given; otherwise the trusted root decides (see sctIgnored). */
export function sctFlag(f: { insecureIgnoreSct: boolean }): boolean | undefined {
  return f.insecureIgnoreSct ? true : undefined;
}

export const CERTIFICATE_VERIFIED_LINE = 'The code-signing certificate was verified using trusted certificate authority certificates';

interface SignBlobFlags extends TlogSignFlags, KeylessSignFlags, KeyedSignFlags {
  key?: string;
  rfc3161Timestamp?: string;
  /** --trusted-root: verify the new bundle against it before anything is written. */
  trustedRoot?: string;
  bundle?: string;
  outputSignature?: string;
  outputCertificate?: string;
  newBundleFormat: boolean;
  b64: boolean;
  yes: boolean;
}

interface VerifyBlobFlags extends KeylessVerifyFlags {
  key?: string;
  witnessPolicy?: string;
  certificate?: string;
  rfc3161Timestamp?: string;
  bundle?: string;
  signature?: string;
  insecureIgnoreTlog: boolean;
  trustedRoot?: string;
}

/** Reading the blob from stdin leaves no stdin for a password: it must then come from COSIGN_PASSWORD. */
function passwordSource(blobFromStdin: boolean): PasswordSource {
  return () => {
    if (blobFromStdin && process.env.COSIGN_PASSWORD === undefined && !process.stdin.isTTY) {
      throw new SignetError('USAGE', 'the blob is read from standard input, so set the key password in COSIGN_PASSWORD');
    }
    return readPassword({ confirm: false });
  };
}

/** cosign v3's sign --trusted-root: the new signature must verify before any file is written. */
function checkedAfterSigning(rootPath: string, verify: () => unknown): void {
  try {
    verify();
  } catch (e) {
    if (!(e instanceof SignetError)) throw e;
    throw new SignetError('VERIFICATION', `the new signature does not verify against --trusted-root ${rootPath}, so nothing was written: ${e.message}`, { cause: e });
  }
}

/** Keyless `sign-blob`: certificate, timestamp and log entry first; the bundle is written only after all succeeded. */
async function signBlobKeylessAction(file: string, flags: SignBlobFlags): Promise<void> {
  if (!flags.newBundleFormat || !flags.bundle) {
    throw new SignetError('USAGE', 'keyless sign-blob writes a Sigstore bundle: pass --bundle FILE (the legacy format needs --key)');
  }
  if (file !== '-') {
    const st = await fs.stat(file).catch((e: unknown) => {
      throw ioError(file, e);
    });
    if (st.isDirectory()) throw new SignetError('IO', `${file}: is a directory`);
  }
  const data = await readBlob(file);
  const root = flags.trustedRoot ? await loadTrustedRoot(flags.trustedRoot) : undefined;
  const ks = await keylessSignerFromFlags(flags);
  const r = await signBlob(data, { keyless: ks });
  if (root) {
    const id = signerIdentity(ks);
    checkedAfterSigning(flags.trustedRoot!, () =>
      verifyBlobEvidence({ bytes: data }, {
        evidence: parseBlobBundle(r.bundle!, 'the new bundle'),
        trust: prepareTrust(root),
        identity: identityPolicy({ identity: id.subject, issuer: id.issuer }),
        ignoreTlog: r.tlogEntries.length === 0,
      }),
    );
  }
  for (const e of r.tlogEntries) ui.info(`tlog entry created with index: ${String(e.logIndex)}`);
  if (r.timestamps.length > 0) ui.info(`RFC 3161 timestamp${r.timestamps.length > 1 ? 's' : ''} obtained from ${ks.services.tsaUrls.join(', ')}`);
  if (flags.outputSignature) {
    await writeFileAtomic(flags.outputSignature, flags.b64 ? r.signature.toString('base64') : r.signature);
    ui.info(`Signature wrote in the file ${flags.outputSignature}`);
  }
  if (flags.outputCertificate) {
    await writeFileAtomic(flags.outputCertificate, ks.certificatePem);
    ui.info(`Certificate wrote in the file ${flags.outputCertificate}`);
  }
  await writeFileAtomic(flags.bundle, r.bundle!);
  ui.info(`Wrote bundle to file ${flags.bundle}`);
}

export async function signBlobAction(file: string, flags: SignBlobFlags): Promise<void> {
  if (!flags.key) {
    if (flags.certificate || flags.certificateChain) throw new SignetError('USAGE', '--certificate and --certificate-chain go with --key (keyless signing gets its certificate from the CA)');
    return signBlobKeylessAction(file, flags);
  }
  if (flags.newBundleFormat && !flags.bundle) throw new SignetError('USAGE', 'must specify --bundle with --new-bundle-format');
  const tlog = await tlogTarget(flags);
  checkBlobTlog(tlog, flags.newBundleFormat);
  const fromStdin = file === '-';
  if (!fromStdin) {
    const st = await fs.stat(file).catch((e: unknown) => {
      throw ioError(file, e);
    });
    if (st.isDirectory()) throw new SignetError('IO', `${file}: is a directory`);
  }
  if (flags.trustedRoot && !flags.newBundleFormat && !flags.bundle) throw new SignetError('USAGE', '--trusted-root checks the bundle after signing: pass --bundle FILE');
  const root = flags.trustedRoot ? await loadTrustedRoot(flags.trustedRoot) : undefined;
  const signer = await loadSigner(flags.key, passwordSource(fromStdin));
  const extras = await keyedSigningExtras(flags, signer.publicKey, signer.certificate);
  if (flags.rfc3161Timestamp && extras.timestampUrls.length === 0) throw new SignetError('USAGE', '--rfc3161-timestamp needs a timestamp authority: pass --timestamp-server-url or a signing config listing one');
  const data = await readBlob(file);
  const r = await signBlob(data, { signer, newBundleFormat: flags.newBundleFormat, ...(tlog ? { tlog } : {}), ...extras });
  const { signature, rekorBundle } = r;
  if (root) {
    checkedAfterSigning(flags.trustedRoot!, () =>
      verifyBlobEvidence({ bytes: data }, {
        evidence: parseBlobBundle(r.bundle ?? Buffer.from(r.legacyBundle!), 'the new bundle'),
        key: signer.publicKey,
        ...(tlog ? { trustedRoot: root } : { ignoreTlog: true }),
      }),
    );
  }
  if (tlog) ui.info(`tlog entry created with index: ${String(r.tlogEntries[0]?.logIndex ?? (rekorBundle?.Payload as { logIndex?: unknown } | undefined)?.logIndex)}`);
  if (r.timestamps.length > 0) ui.info(`RFC 3161 timestamp${r.timestamps.length > 1 ? 's' : ''} obtained from ${extras.timestampUrls.join(', ')}`);
  if (flags.rfc3161Timestamp) {
    await writeFileAtomic(flags.rfc3161Timestamp, timestampJson(r.timestamps[0]!));
    ui.info(`RFC3161 timestamp written to file ${flags.rfc3161Timestamp}`);
  }
  if (flags.outputCertificate && extras.certificate) {
    await writeFileAtomic(flags.outputCertificate, encodePem('CERTIFICATE', extras.certificate));
    ui.info(`Certificate wrote in the file ${flags.outputCertificate}`);
  }

  if (flags.outputSignature) {
    await writeFileAtomic(flags.outputSignature, flags.b64 ? signature.toString('base64') : signature);
    ui.info(`Signature wrote in the file ${flags.outputSignature}`);
  }
  if (flags.newBundleFormat) {
    await writeFileAtomic(flags.bundle!, r.bundle!);
    ui.info(`Wrote bundle to file ${flags.bundle}`);
    return;
  }
  if (flags.bundle) {
    await writeFileAtomic(flags.bundle, r.legacyBundle!);
    ui.info(`Wrote bundle to file ${flags.bundle}`);
  }
  if (!flags.outputSignature) ui.out(signature.toString('base64') + '\n');
}

/**
 * Certificate `verify-blob`: a Sigstore bundle with a certificate (the engine), or a signature with its
 * certificate — a legacy bundle's `cert`, or `--signature` with `--certificate` — under the identity policy.
 */
async function verifyBlobKeylessAction(target: string, flags: VerifyBlobFlags): Promise<void> {
  const identity = identityPolicyFromFlags(flags);
  if (flags.bundle && flags.signature) throw new SignetError('USAGE', '--bundle and --signature cannot be used together');
  if (flags.signature && !flags.certificate) throw new SignetError('USAGE', 'verifying --signature without --key needs the signing certificate: pass --certificate (or a bundle carrying it)');
  if (!flags.bundle && !flags.signature) throw new SignetError('USAGE', 'certificate verification needs --bundle (carrying the certificate), or --signature with --certificate');
  const artifactDigest = await artifactTarget(target);
  const evidence: BlobEvidence = flags.bundle
    ? await readBlobBundle(flags.bundle)
    : { kind: 'signature', signature: await readSignatureFlag(flags.signature!), tlogEntries: 0 };
  if (flags.certificate) {
    const [given, ...rest] = await readCertificates(flags.certificate, '--certificate');
    if (rest.length > 0) throw new SignetError('USAGE', `--certificate ${flags.certificate} holds ${rest.length + 1} certificates: pass the signing certificate alone, and its CAs with --certificate-chain`);
    const carried = evidence.kind === 'bundle'
      ? (evidence.bundle.verificationMaterial.kind === 'certificate' ? evidence.bundle.verificationMaterial.certificate : evidence.bundle.verificationMaterial.kind === 'x509CertificateChain' ? evidence.bundle.verificationMaterial.certificates[0] : undefined)
      : evidence.certificate;
    if (carried && !carried.equals(given!)) throw new SignetError('VERIFICATION', `--certificate ${flags.certificate} is not the certificate the signature carries`);
    if (evidence.kind === 'signature') evidence.certificate = given!;
  }
  if (flags.rfc3161Timestamp) {
    if (evidence.kind === 'bundle') throw new SignetError('USAGE', '--rfc3161-timestamp goes with --signature or a legacy bundle: a Sigstore bundle carries its own timestamps');
    evidence.timestamps = [await readTimestampFile(flags.rfc3161Timestamp)];
  }
  keylessBlobBundle(evidence, flags.bundle ?? flags.signature);
  const witnessPolicy = await witnessPolicyFromFlags(flags);
  const trust = await keylessTrust(flags);
  if (flags.insecureIgnoreTlog) ui.warn(TLOG_SKIP_WARNING);
  await verifyBlob(artifactDigest ? { digest: artifactDigest, hashAlg: 'sha256' } : { path: target }, {
    evidence,
    evidenceName: flags.bundle,
    trust,
    identity,
    ignoreTlog: flags.insecureIgnoreTlog,
    ignoreSct: sctFlag(flags),
    useSignedTimestamps: flags.useSignedTimestamps,
    ...(witnessPolicy ? { witnessPolicy } : {}),
    onWarning: (w) => ui.warn(w),
  });
  ui.info('Verified OK');
}

export async function verifyBlobAction(target: string, flags: VerifyBlobFlags): Promise<void> {
  if (!flags.key) return verifyBlobKeylessAction(target, flags);
  if (hasIdentityFlags(flags)) throw new SignetError('USAGE', '--key and --certificate-identity/--certificate-oidc-issuer cannot be used together');
  if (flags.certificate) throw new SignetError('USAGE', '--key and --certificate cannot be used together: the key or the certificate is what the signature is verified with');
  refuseCaFlagsWithKey(flags);
  if (!flags.bundle && !flags.signature) throw new SignetError('USAGE', 'pass --bundle or --signature');
  if (flags.bundle && flags.signature) throw new SignetError('USAGE', '--bundle and --signature cannot be used together');
  const artifactDigest = await artifactTarget(target);

  const evidence: BlobEvidence = flags.bundle
    ? await readBlobBundle(flags.bundle)
    : { kind: 'signature', signature: await readSignatureFlag(flags.signature!), tlogEntries: 0 };
  if (flags.rfc3161Timestamp) {
    if (evidence.kind === 'bundle') throw new SignetError('USAGE', '--rfc3161-timestamp goes with --signature or a legacy bundle: a Sigstore bundle carries its own timestamps');
    evidence.timestamps = [await readTimestampFile(flags.rfc3161Timestamp)];
  }
  const key = await loadPublicKey(flags.key, passwordSource(target === '-'));

  // No log evidence and no way to check it: refused before the warning, the root and the artifact are read.
  // --trusted-root, else the TUF cache's after `initialize`.
  const trustedRoot = flags.insecureIgnoreTlog ? undefined : await configuredTrustedRoot(flags.trustedRoot, { offline: flags.offline });
  checkTlogPolicy({
    ignoreTlog: flags.insecureIgnoreTlog,
    entries: evidence.kind === 'bundle' ? evidence.bundle.tlogEntries.length : evidence.tlogEntries,
    logConfigured: flags.trustedRoot !== undefined || trustedRoot !== undefined,
  });
  if (flags.insecureIgnoreTlog) ui.warn(TLOG_SKIP_WARNING);
  const tsas = await timestampAuthorities(flags);
  const witnessPolicy = await witnessPolicyFromFlags(flags);

  const r = await verifyBlob(artifactDigest ? { digest: artifactDigest, hashAlg: 'sha256' } : { path: target }, {
    evidence,
    evidenceName: flags.bundle,
    key,
    ignoreTlog: flags.insecureIgnoreTlog,
    ...(trustedRoot ? { trustedRoot } : {}),
    useSignedTimestamps: flags.useSignedTimestamps,
    ...(tsas ? { tsas } : {}),
    ...(witnessPolicy ? { witnessPolicy } : {}),
    onWarning: (w) => ui.warn(w),
  });
  if (r.tlogVerified) ui.info('tlog entry verified offline');
  ui.info('Verified OK');
}

export function registerBlobCommands(program: Command): void {
  const signBlob = program
    .command('sign-blob')
    .description('sign a file (or standard input), writing a Sigstore bundle; without --key, keyless with a short-lived certificate')
    .argument('<file>', 'the file to sign, or - for standard input')
    .addOption(opt('--key <ref>', 'private key: a file path or env://VAR (cosign encrypted key format)'))
    .addOption(opt('--bundle <file>', 'write the signature bundle to this file (required with the new bundle format)'))
    .addOption(opt('--output-signature <file>', 'also write the signature to this file'))
    .addOption(boolOpt('--new-bundle-format', 'write a Sigstore bundle (v0.3); false writes cosign\'s legacy bundle / prints the signature', true))
    .addOption(boolOpt('--tlog-upload', 'upload the signature to a transparency log', true))
    .addOption(boolOpt('--b64', 'write --output-signature base64-encoded (false: raw bytes)', true))
    .addOption(opt('--output-certificate <file>', 'also write the signing certificate (PEM) to this file (keyless, or --certificate)'))
    .addOption(opt('--rfc3161-timestamp <file>', 'with --key and a timestamp authority: also write the RFC 3161 timestamp (cosign\'s JSON) to this file, for the legacy format'))
    .addOption(opt('--trusted-root <file>', 'verify the new bundle against this trusted_root.json before writing anything (as cosign v3)'))
    .addOption(boolOpt('-y, --yes', 'skip confirmation prompts'));
  addTlogSignOptions(signBlob);
  addKeylessSignOptions(signBlob);
  addTimestampClientOptions(signBlob);
  addCertificateSignOptions(signBlob);
  examples(signBlob, [
    'signet sign-blob --bundle artifact.sigstore.json artifact.tar.gz   # keyless, public-good services',
    'signet sign-blob --signing-config DIR/signing_config.json --identity-token "$(signet dev token --server URL --email me@example.com)" --bundle a.sigstore.json a.tar.gz',
    'signet sign-blob --key cosign.key --rekor-url http://127.0.0.1:3000 --bundle artifact.sigstore.json artifact.tar.gz',
    'COSIGN_PASSWORD=… signet sign-blob --key cosign.key --tlog-upload=false --bundle artifact.sigstore.json artifact.tar.gz',
    'cat artifact | signet sign-blob --key cosign.key --tlog-upload=false --bundle artifact.sigstore.json -',
    'signet sign-blob --key cosign.key --tlog-upload=false --new-bundle-format=false artifact.tar.gz > artifact.sig',
    'signet sign-blob --key cosign.key --signing-config DIR/signing_config.json --bundle a.sigstore.json a.tar.gz   # logged and timestamped (the config\'s TSA)',
    'signet sign-blob --key cosign.key --tlog-upload=false --timestamp-server-url https://tsa.example/api/v1/timestamp --timestamp-client-cacert tsa-ca.pem --new-bundle-format=false --output-signature a.sig --rfc3161-timestamp a.tsr.json a.tar.gz',
    'signet sign-blob --key leaf.key --certificate leaf.pem --certificate-chain ca-chain.pem --tlog-upload=false --bundle a.sigstore.json a.tar.gz   # your own CA',
    'signet sign-blob --key "pkcs11:token=ci;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so" --bundle a.sigstore.json a.tar.gz   # the token\'s certificate for the key goes in the bundle',
  ]);
  signBlob.action((file: string, flags: SignBlobFlags) => signBlobAction(file, flags));

  const verifyBlob = program
    .command('verify-blob')
    .description('verify the signature of a file (or of a sha256 digest) with a public key, or keyless against a signer identity')
    .argument('<file>', 'the file, - for standard input, or sha256:<hex> to verify a digest only')
    .addOption(opt('--key <ref>', 'public key: a file path or env://VAR (PEM public key, certificate, or cosign private key)'))
    .addOption(opt('--bundle <file>', 'Sigstore bundle or cosign legacy bundle holding the signature'))
    .addOption(opt('--signature <file|base64>', 'signature file, or the base64 signature itself (legacy)'))
    .addOption(opt('--certificate <file>', 'without --key: the signing certificate (PEM) for --signature, or the one the bundle must carry'))
    .addOption(opt('--rfc3161-timestamp <file>', 'with --signature or a legacy bundle: the RFC 3161 timestamp (cosign\'s JSON, as sign-blob --rfc3161-timestamp writes it)'))
    .addOption(boolOpt('--insecure-ignore-tlog', 'do not require transparency-log evidence for the signature'))
    .addOption(opt('--trusted-root <file>', 'trusted_root.json: the CAs, logs and TSAs to trust (keyless default: the pinned public-good root)'));
  addKeylessVerifyOptions(verifyBlob);
  addWitnessPolicyOption(verifyBlob);
  examples(verifyBlob, [
    'signet verify-blob --certificate-identity me@example.com --certificate-oidc-issuer https://accounts.google.com --bundle a.sigstore.json a.tar.gz',
    'signet verify-blob --trusted-root DIR/trusted_root.json --insecure-ignore-sct --certificate-identity-regexp \'@example\\.com$\' --certificate-oidc-issuer URL --bundle a.sigstore.json a.tar.gz',
    'signet verify-blob --key cosign.pub --trusted-root trusted_root.json --bundle artifact.sigstore.json artifact.tar.gz',
    'signet verify-blob --key cosign.pub --insecure-ignore-tlog --bundle artifact.sigstore.json artifact.tar.gz',
    'signet verify-blob --key cosign.pub --insecure-ignore-tlog --bundle artifact.sigstore.json sha256:<hex>',
    'signet verify-blob --key cosign.pub --insecure-ignore-tlog --signature artifact.sig artifact.tar.gz',
    'signet verify-blob --trusted-root trusted_root.json --allow-certificate-chain --certificate-identity signer@example.org --certificate-oidc-issuer-regexp \'.*\' --bundle a.sigstore.json a.tar.gz   # a bundle carrying its own intermediates',
    'signet verify-blob --key cosign.pub --trusted-root trusted_root.json --use-signed-timestamps --bundle a.sigstore.json a.tar.gz',
    'signet verify-blob --key cosign.pub --insecure-ignore-tlog --use-signed-timestamps --timestamp-certificate-chain tsa-chain.pem --signature a.sig --rfc3161-timestamp a.tsr.json a.tar.gz',
    'signet verify-blob --certificate-chain ca-chain.pem --certificate-identity signer@example.org --certificate-oidc-issuer-regexp \'.*\' --insecure-ignore-sct --insecure-ignore-tlog --bundle a.sigstore.json a.tar.gz   # your own CA',
  ]);
  verifyBlob.action((target: string, flags: VerifyBlobFlags) => verifyBlobAction(target, flags));
}
