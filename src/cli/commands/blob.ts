/** `signet sign-blob` and `signet verify-blob`: signatures over files, in Sigstore bundles or cosign's legacy forms. */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { SignetError } from '../../errors.js';
import { FILE_LIMITS, ioError, readFileLimited, writeFileAtomic } from '../../fsutil.js';
import { loadPublicKey, loadSigner, type PasswordSource, type PublicKeyInfo } from '../../keys/index.js';
import {
  buildMessageSignatureBundle,
  checkTlogPolicy,
  decodeSignatureInput,
  IN_TOTO_PAYLOAD_TYPE,
  parseBundle,
  parseLegacyBlobBundle,
  parseStatement,
  verifyArtifactSignature,
  verifyBundleWithKey,
  type Artifact,
  type HashAlg,
} from '../../sigstore/index.js';
import { readPassword } from '../password.js';
import { hashedrekordV001, RekorV1Client, rekorBundleAnnotation, uploadToTlog } from '../../sigstore/rekor-client.js';
import { verifyBundleTlog, verifyRekorBundle, type SignedMaterial } from '../../sigstore/tlog.js';
import { loadTrustedRoot } from '../../sigstore/trustedroot.js';
import { addTlogSignOptions, tlogTarget, type TlogSignFlags } from './log.js';
import { boolOpt, examples, opt, ui } from '../common.js';
import { prepareKeyless, signBlobKeyless, type KeylessSigner } from '../../sigstore/sign-keyless.js';
import { verifyKeylessBundle } from '../../cosign/verify.js';
import { certificateClaims } from '../../cosign/keyless-verify.js';
import { certificateIdentity, validateIdentityPolicy, type IdentityPolicy } from '../../sigstore/identity.js';
import { loadPublicGoodTrustedRoot } from '../../sigstore/tuf.js';
import { prepareTrust, type TrustMaterial } from '../../sigstore/verifier.js';

const TLOG_SKIP_WARNING =
  'Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the signature.';

// ---------------------------------------------------------------------------------------------------
// Keyless flags, shared with `sign` / `verify` (image.ts)

export interface KeylessSignFlags {
  tlogUpload: boolean;
  rekorUrl?: string;
  signingConfig?: string;
  fulcioUrl?: string;
  timestampServerUrl?: string;
  identityToken?: string;
  oidcIssuer?: string;
  oidcClientId?: string;
}

export function addKeylessSignOptions(cmd: Command): Command {
  return cmd
    .addOption(opt('--fulcio-url <url>', 'certificate authority (Fulcio API) for keyless signing; overrides the signing config'))
    .addOption(opt('--timestamp-server-url <url>', 'RFC 3161 timestamp authority (…/api/v1/timestamp); overrides the signing config'))
    .addOption(opt('--identity-token <token|file>', 'OIDC identity token for keyless signing, or a file holding it (else SIGSTORE_ID_TOKEN, GitHub Actions, or a browser login)'))
    .addOption(opt('--oidc-issuer <url>', 'OIDC issuer for the interactive login (default: the signing config\'s)'))
    .addOption(opt('--oidc-client-id <id>', 'OIDC client ID for the interactive login', 'sigstore'));
}

/** The certified ephemeral signer for a keyless `sign` / `sign-blob`: nothing is signed before this succeeds. */
export async function keylessSignerFromFlags(flags: KeylessSignFlags): Promise<KeylessSigner> {
  const ks = await prepareKeyless({
    ...(flags.signingConfig !== undefined ? { signingConfigPath: flags.signingConfig } : {}),
    overrides: {
      tlogUpload: flags.tlogUpload,
      ...(flags.fulcioUrl !== undefined ? { caUrl: flags.fulcioUrl } : {}),
      ...(flags.rekorUrl !== undefined ? { rekorUrl: flags.rekorUrl } : {}),
      ...(flags.timestampServerUrl !== undefined ? { tsaUrl: flags.timestampServerUrl } : {}),
    },
    ...(flags.identityToken !== undefined ? { identityToken: flags.identityToken } : {}),
    ...(flags.oidcIssuer !== undefined ? { oidcIssuer: flags.oidcIssuer } : {}),
    ...(flags.oidcClientId !== undefined ? { oidcClientId: flags.oidcClientId } : {}),
    // A browser login only makes sense for a person at a terminal; scripts get the "no token" error.
    interactive: process.stderr.isTTY === true,
    log: (m) => ui.info(m),
  });
  const id = certificateClaims(certificateIdentity(ks.certificate));
  ui.info(`Signing as ${id.Subject ?? '(no subject)'} (issuer ${id.Issuer ?? 'unknown'}) with a certificate from ${ks.services.caUrl}`);
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
    .addOption(boolOpt('--use-signed-timestamps', 'require a verified RFC 3161 timestamp for each signature'));
}

/** True when any identity flag was given (with --key, that is a usage error). */
export function hasIdentityFlags(f: KeylessVerifyFlags): boolean {
  return [f.certificateIdentity, f.certificateIdentityRegexp, f.certificateOidcIssuer, f.certificateOidcIssuerRegexp].some((v) => v !== undefined && v !== '');
}

/** The identity policy from the flags; USAGE naming the flags when identity or issuer is missing. */
export function identityPolicyFromFlags(f: KeylessVerifyFlags): IdentityPolicy {
  const p: IdentityPolicy = {};
  const set = (k: keyof IdentityPolicy, v: string | undefined): void => {
    if (v !== undefined && v !== '') p[k] = v;
  };
  set('identity', f.certificateIdentity);
  set('identityRegexp', f.certificateIdentityRegexp);
  set('issuer', f.certificateOidcIssuer);
  set('issuerRegexp', f.certificateOidcIssuerRegexp);
  set('githubWorkflowTrigger', f.certificateGithubWorkflowTrigger);
  set('githubWorkflowSha', f.certificateGithubWorkflowSha);
  set('githubWorkflowName', f.certificateGithubWorkflowName);
  set('githubWorkflowRepository', f.certificateGithubWorkflowRepository);
  set('githubWorkflowRef', f.certificateGithubWorkflowRef);
  validateIdentityPolicy(p);
  return p;
}

/** --trusted-root, else the pinned public-good root (no network). */
export async function keylessTrust(f: { trustedRoot?: string; insecureIgnoreSct?: boolean }): Promise<TrustMaterial> {
  const root = f.trustedRoot ? await loadTrustedRoot(f.trustedRoot) : await loadPublicGoodTrustedRoot({ offline: true });
  const trust = prepareTrust(root);
  if (trust.ctlogs.length === 0 && !f.insecureIgnoreSct) {
    ui.info('Note: the trusted root lists no CT logs, so certificates are not checked for SCTs.');
  }
  return trust;
}

/** --insecure-ignore-sct when given; otherwise the trusted root decides (see sctIgnored). */
export function sctFlag(f: { insecureIgnoreSct: boolean }): boolean | undefined {
  return f.insecureIgnoreSct ? true : undefined;
}

export const CERTIFICATE_VERIFIED_LINE = 'The code-signing certificate was verified using trusted certificate authority certificates';

interface SignBlobFlags extends TlogSignFlags, KeylessSignFlags {
  key?: string;
  bundle?: string;
  outputSignature?: string;
  outputCertificate?: string;
  newBundleFormat: boolean;
  b64: boolean;
  yes: boolean;
}

interface VerifyBlobFlags extends KeylessVerifyFlags {
  key?: string;
  bundle?: string;
  signature?: string;
  insecureIgnoreTlog: boolean;
  trustedRoot?: string;
}


async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** The whole blob (`-` is stdin). Needed for signing: a Signer takes the data, not a digest. */
async function readBlob(path: string): Promise<Buffer> {
  try {
    return path === '-' ? await readStdin() : await fs.readFile(path);
  } catch (e) {
    throw ioError(path === '-' ? 'standard input' : path, e);
  }
}

/** Digests of a file in one streaming pass, so verifying a large file never holds it in memory. */
async function digestFile(path: string, algs: Iterable<HashAlg>): Promise<Partial<Record<HashAlg, Buffer>>> {
  const hashes = [...new Set(algs)].map((a) => [a, createHash(a)] as const);
  try {
    const input = path === '-' ? process.stdin : createReadStream(path);
    for await (const chunk of input) for (const [, h] of hashes) h.update(chunk as Buffer);
  } catch (e) {
    throw ioError(path === '-' ? 'standard input' : path, e);
  }
  return Object.fromEntries(hashes.map(([a, h]) => [a, h.digest()]));
}

/** A bundle or signature file, refused from its size when larger than its limit (FILE_LIMITS). */
function readSmallFile(path: string, what: 'bundle' | 'signature file'): Promise<Buffer> {
  return readFileLimited(path, what === 'bundle' ? FILE_LIMITS.bundle : FILE_LIMITS.small, `${what} ${path}`);
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

/** The digest algorithm a key signs with; Ed25519 has none of its own, and sigstore records SHA2_512 for it. */
function messageDigestAlg(key: PublicKeyInfo): HashAlg {
  return key.hash ?? 'sha512';
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
  const ks = await keylessSignerFromFlags(flags);
  const r = await signBlobKeyless(ks, data);
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
  await writeFileAtomic(flags.bundle, r.bundle);
  ui.info(`Wrote bundle to file ${flags.bundle}`);
}

export async function signBlobAction(file: string, flags: SignBlobFlags): Promise<void> {
  if (!flags.key) return signBlobKeylessAction(file, flags);
  if (flags.newBundleFormat && !flags.bundle) throw new SignetError('USAGE', 'must specify --bundle with --new-bundle-format');
  const tlog = await tlogTarget(flags);
  if (tlog && !flags.newBundleFormat && tlog.majorApiVersion !== 1) {
    throw new SignetError('USAGE', 'the legacy bundle format records Rekor v1 entries only: use --new-bundle-format or a Rekor v1 URL');
  }
  const fromStdin = file === '-';
  if (!fromStdin) {
    const st = await fs.stat(file).catch((e: unknown) => {
      throw ioError(file, e);
    });
    if (st.isDirectory()) throw new SignetError('IO', `${file}: is a directory`);
  }
  const signer = await loadSigner(flags.key, passwordSource(fromStdin));
  const data = await readBlob(file);
  const hashAlg = messageDigestAlg(signer.publicKey);
  const digest = createHash(hashAlg).update(data).digest();
  const signature = signer.sign(data);

  // Log first: when the upload fails, no file is written.
  let tlogEntries: unknown[] = [];
  let rekorBundle: Record<string, unknown> | undefined;
  if (tlog && flags.newBundleFormat) {
    tlogEntries = [await uploadToTlog(tlog, { kind: 'digest', hashAlg, digest, signature, key: signer.publicKey })];
  } else if (tlog) {
    const { entry } = await new RekorV1Client({ baseUrl: tlog.url }).createEntry(hashedrekordV001({ hashAlg, digest, signature, verifierPem: signer.publicKey.pem }));
    rekorBundle = JSON.parse(rekorBundleAnnotation(entry)) as Record<string, unknown>;
  }
  if (tlog) ui.info(`tlog entry created with index: ${String((tlogEntries[0] as { logIndex?: unknown } | undefined)?.logIndex ?? (rekorBundle?.Payload as { logIndex?: unknown } | undefined)?.logIndex)}`);

  if (flags.outputSignature) {
    await writeFileAtomic(flags.outputSignature, flags.b64 ? signature.toString('base64') : signature);
    ui.info(`Signature wrote in the file ${flags.outputSignature}`);
  }
  if (flags.newBundleFormat) {
    const bundle = buildMessageSignatureBundle({ digest, hashAlg, signature, publicKeyHint: signer.publicKey.hint, tlogEntries });
    await writeFileAtomic(flags.bundle!, bundle);
    ui.info(`Wrote bundle to file ${flags.bundle}`);
    return;
  }
  if (flags.bundle) {
    // cosign's LocalSignedPayload; for a key, `cert` holds base64 of the public key PEM.
    const legacy = { base64Signature: signature.toString('base64'), cert: Buffer.from(signer.publicKey.pem).toString('base64'), ...(rekorBundle ? { rekorBundle } : {}) };
    await writeFileAtomic(flags.bundle, JSON.stringify(legacy));
    ui.info(`Wrote bundle to file ${flags.bundle}`);
  }
  if (!flags.outputSignature) ui.out(signature.toString('base64') + '\n');
}

type BlobEvidence =
  | { kind: 'bundle'; bundle: ReturnType<typeof parseBundle> }
  | { kind: 'signature'; signature: Buffer; tlogEntries: number; rekorBundle?: Record<string, unknown> };

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
      return { kind: 'signature', signature: legacy.signature, tlogEntries: legacy.rekorBundle ? 1 : 0, ...(legacy.rekorBundle ? { rekorBundle: legacy.rekorBundle } : {}) };
    }
  } catch (e) {
    if (e instanceof SignetError) throw new SignetError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
  throw new SignetError('MALFORMED', `${path} is neither a Sigstore bundle (no mediaType) nor a cosign bundle (no base64Signature)`);
}

/** `--signature`: a file holding the signature, or the base64 signature itself. */
async function readSignatureFlag(value: string): Promise<Buffer> {
  let st;
  try {
    st = await fs.stat(value);
  } catch {
    st = undefined;
  }
  if (st?.isFile()) return decodeSignatureInput(await readSmallFile(value, 'signature file'));
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(value) && value.length >= 16) return decodeSignatureInput(Buffer.from(value));
  throw new SignetError('IO', `signature ${value}: no such file, and not a base64 signature`);
}

/** Which digests of the artifact the evidence needs: the bundle's, the key's, and any the statement names. */
function neededDigests(evidence: BlobEvidence, key?: PublicKeyInfo): HashAlg[] {
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

/** `sha256:<hex>` names a digest only when no file of that name exists. */
async function artifactTarget(target: string): Promise<Buffer | undefined> {
  let artifactDigest: Buffer | undefined;
  if (target !== '-') {
    const exists = await fs.stat(target).then(
      (s) => s,
      () => undefined,
    );
    if (!exists) {
      const m = /^sha256:([0-9a-fA-F]{64})$/.exec(target);
      if (!m) throw new SignetError('IO', `${target}: no such file`);
      artifactDigest = Buffer.from(m[1]!, 'hex');
    } else if (exists.isDirectory()) {
      throw new SignetError('IO', `${target}: is a directory`);
    }
  }
  return artifactDigest;
}

/** Keyless `verify-blob`: a Sigstore bundle with a certificate, checked by the engine under the identity policy. */
async function verifyBlobKeylessAction(target: string, flags: VerifyBlobFlags): Promise<void> {
  const identity = identityPolicyFromFlags(flags);
  if (flags.signature) throw new SignetError('USAGE', 'keyless verification needs the certificate: pass --bundle (a Sigstore bundle), not --signature');
  if (!flags.bundle) throw new SignetError('USAGE', 'keyless verification needs --bundle (a Sigstore bundle carrying the certificate)');
  const artifactDigest = await artifactTarget(target);
  const evidence = parseBlobBundle(await readSmallFile(flags.bundle, 'bundle'), flags.bundle);
  if (evidence.kind !== 'bundle') throw new SignetError('USAGE', `${flags.bundle} is a legacy cosign bundle; keyless verification of legacy blob bundles is not supported: use a Sigstore bundle`);
  if (evidence.bundle.verificationMaterial.kind === 'publicKey') {
    throw new SignetError('NO_CERTIFICATE', `${flags.bundle} was signed with a key and carries no certificate: verify it with --key`);
  }
  const trust = await keylessTrust(flags);
  if (flags.insecureIgnoreTlog) ui.warn(TLOG_SKIP_WARNING);
  const artifact: Artifact = artifactDigest ? { digest: artifactDigest, hashAlg: 'sha256' } : { digests: await digestFile(target, neededDigests(evidence)) };
  const r = verifyKeylessBundle(evidence.bundle, artifact, {
    trust,
    identity,
    ignoreTlog: flags.insecureIgnoreTlog,
    ignoreSct: sctFlag(flags),
    useSignedTimestamps: flags.useSignedTimestamps,
  });
  for (const w of r.warnings) ui.warn(w);
  ui.info('Verified OK');
}

export async function verifyBlobAction(target: string, flags: VerifyBlobFlags): Promise<void> {
  if (!flags.key) return verifyBlobKeylessAction(target, flags);
  if (hasIdentityFlags(flags)) throw new SignetError('USAGE', '--key and --certificate-identity/--certificate-oidc-issuer cannot be used together');
  if (!flags.bundle && !flags.signature) throw new SignetError('USAGE', 'pass --bundle or --signature');
  if (flags.bundle && flags.signature) throw new SignetError('USAGE', '--bundle and --signature cannot be used together');
  const artifactDigest = await artifactTarget(target);

  const evidence: BlobEvidence = flags.bundle
    ? parseBlobBundle(await readSmallFile(flags.bundle, 'bundle'), flags.bundle)
    : { kind: 'signature', signature: await readSignatureFlag(flags.signature!), tlogEntries: 0 };
  const key = await loadPublicKey(flags.key, passwordSource(target === '-'));

  checkTlogPolicy({
    ignoreTlog: flags.insecureIgnoreTlog,
    entries: evidence.kind === 'bundle' ? evidence.bundle.tlogEntries.length : evidence.tlogEntries,
    logConfigured: flags.trustedRoot !== undefined,
  });
  if (flags.insecureIgnoreTlog) ui.warn(TLOG_SKIP_WARNING);
  const trustedRoot = !flags.insecureIgnoreTlog && flags.trustedRoot ? await loadTrustedRoot(flags.trustedRoot) : undefined;

  let artifact: Artifact;
  if (artifactDigest) artifact = { digest: artifactDigest, hashAlg: 'sha256' };
  else if (key.kind === 'ed25519') artifact = { bytes: await readBlob(target) };
  else artifact = { digests: await digestFile(target, neededDigests(evidence, key)) };

  if (evidence.kind === 'signature') {
    verifyArtifactSignature(key, artifact, evidence.signature);
  } else {
    const result = verifyBundleWithKey(evidence.bundle, key, artifact);
    for (const w of result.warnings) ui.warn(w);
  }
  // Offline: the evidence the signature came with, checked against the trusted root; no log is asked.
  if (trustedRoot) {
    if (evidence.kind === 'bundle') verifyBundleTlog(evidence.bundle, { publicKeySpki: key.spkiDer }, trustedRoot);
    else if (!evidence.rekorBundle) throw new SignetError('TLOG', 'the signature comes without a transparency log entry (no rekorBundle); pass --insecure-ignore-tlog to verify the signature only');
    else verifyRekorBundle(evidence.rekorBundle, { signature: evidence.signature, publicKeySpki: key.spkiDer, content: legacyContent(artifact, key) }, trustedRoot);
    ui.info('tlog entry verified offline');
  }
  ui.info('Verified OK');
}

/** What a legacy rekorBundle's hashedrekord must name: the artifact, by the digest the key signs with. */
function legacyContent(artifact: Artifact, key: PublicKeyInfo): SignedMaterial['content'] {
  if ('bytes' in artifact) return { kind: 'bytes', data: artifact.bytes };
  const alg = key.hash ?? 'sha512';
  const d = 'digests' in artifact ? artifact.digests[alg] : artifact.hashAlg === alg ? artifact.digest : undefined;
  if (!d) throw new SignetError('TLOG', `the log entry names a ${alg} digest, which was not computed for this artifact`);
  return { kind: 'digest', hashAlg: alg, digest: d };
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
    .addOption(opt('--output-certificate <file>', 'keyless: also write the signing certificate (PEM) to this file'))
    .addOption(boolOpt('-y, --yes', 'skip confirmation prompts'));
  addTlogSignOptions(signBlob);
  addKeylessSignOptions(signBlob);
  examples(signBlob, [
    'signet sign-blob --bundle artifact.sigstore.json artifact.tar.gz   # keyless, public-good services',
    'signet sign-blob --signing-config DIR/signing_config.json --identity-token "$(signet dev token --server URL --email me@example.com)" --bundle a.sigstore.json a.tar.gz',
    'signet sign-blob --key cosign.key --rekor-url http://127.0.0.1:3000 --bundle artifact.sigstore.json artifact.tar.gz',
    'COSIGN_PASSWORD=… signet sign-blob --key cosign.key --tlog-upload=false --bundle artifact.sigstore.json artifact.tar.gz',
    'cat artifact | signet sign-blob --key cosign.key --tlog-upload=false --bundle artifact.sigstore.json -',
    'signet sign-blob --key cosign.key --tlog-upload=false --new-bundle-format=false artifact.tar.gz > artifact.sig',
  ]);
  signBlob.action((file: string, flags: SignBlobFlags) => signBlobAction(file, flags));

  const verifyBlob = program
    .command('verify-blob')
    .description('verify the signature of a file (or of a sha256 digest) with a public key, or keyless against a signer identity')
    .argument('<file>', 'the file, - for standard input, or sha256:<hex> to verify a digest only')
    .addOption(opt('--key <ref>', 'public key: a file path or env://VAR (PEM public key, certificate, or cosign private key)'))
    .addOption(opt('--bundle <file>', 'Sigstore bundle or cosign legacy bundle holding the signature'))
    .addOption(opt('--signature <file|base64>', 'signature file, or the base64 signature itself (legacy)'))
    .addOption(boolOpt('--insecure-ignore-tlog', 'do not require transparency-log evidence for the signature'))
    .addOption(opt('--trusted-root <file>', 'trusted_root.json: the CAs, logs and TSAs to trust (keyless default: the pinned public-good root)'));
  addKeylessVerifyOptions(verifyBlob);
  examples(verifyBlob, [
    'signet verify-blob --certificate-identity me@example.com --certificate-oidc-issuer https://accounts.google.com --bundle a.sigstore.json a.tar.gz',
    'signet verify-blob --trusted-root DIR/trusted_root.json --insecure-ignore-sct --certificate-identity-regexp \'@example\\.com$\' --certificate-oidc-issuer URL --bundle a.sigstore.json a.tar.gz',
    'signet verify-blob --key cosign.pub --trusted-root trusted_root.json --bundle artifact.sigstore.json artifact.tar.gz',
    'signet verify-blob --key cosign.pub --insecure-ignore-tlog --bundle artifact.sigstore.json artifact.tar.gz',
    'signet verify-blob --key cosign.pub --insecure-ignore-tlog --bundle artifact.sigstore.json sha256:<hex>',
    'signet verify-blob --key cosign.pub --insecure-ignore-tlog --signature artifact.sig artifact.tar.gz',
  ]);
  verifyBlob.action((target: string, flags: VerifyBlobFlags) => verifyBlobAction(target, flags));
}
