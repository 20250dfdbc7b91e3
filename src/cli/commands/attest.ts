/** `signet attest-blob` and `signet verify-blob-attestation`: in-toto attestations about files. */
import { promises as fs } from 'node:fs';
import { Option, type Command } from 'commander';
import { SignetError } from '../../errors.js';
import { FILE_LIMITS, ioError, writeFileAtomic } from '../../fsutil.js';
import { loadPublicKey, loadSigner, type PasswordSource } from '../../keys/index.js';
import { loadTrustedRoot } from '../../sigstore/trustedroot.js';
import { keyedTimestampUrls, tlogTarget } from '../../sigstore/tlog-target.js';
import { readPassword } from '../password.js';
import { boolOpt, examples, opt, ui } from '../common.js';
import { addTlogSignOptions, type TlogSignFlags } from './log.js';
import {
  addKeylessSignOptions,
  addKeylessVerifyOptions,
  hasIdentityFlags,
  identityPolicyFromFlags,
  keylessSignerFromFlags,
  keylessTrust,
  sctFlag,
  type KeylessSignFlags,
  timestampAuthorities,
  timestampTls,
  readTimestampFile,
  addTimestampClientOptions,
  refuseCaFlagsWithKey,
  type KeyedSignFlags,
  type KeylessVerifyFlags,
} from './blob.js';
import { digestFile, readBlob, readSmallFile } from '../../cosign/blob-io.js';
import { checkBlobTlog } from '../../cosign/sign-blob.js';
import { attestBlob, blobAttestationStatement, checkSha256Hex } from '../../cosign/attest-blob.js';
import { checkStatementFile, PREDICATE_TYPE_ALIASES, resolvePredicateType } from '../../cosign/predicate.js';
import {
  checkAttestationPlan,
  checkClaimsInput,
  parseEnvelopeSignature,
  readAttestationBundle,
  verifyBlobAttestation,
  type AttestationEvidence,
  type VerifyBlobAttestationOptions,
} from '../../cosign/verify-blob-attestation.js';
import type { BlobArtifact } from '../../cosign/verify-blob.js';
import type { HashAlg } from '../../sigstore/index.js';

const TLOG_SKIP_WARNING =
  'Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the signature.';

const TYPE_HELP = `predicate type: ${Object.keys(PREDICATE_TYPE_ALIASES).join('|')} or a URI`;

interface AttestBlobFlags extends TlogSignFlags, KeylessSignFlags, KeyedSignFlags {
  key?: string;
  predicate?: string;
  statement?: string;
  type: string;
  hash?: string;
  bundle?: string;
  newBundleFormat: boolean;
  outputSignature?: string;
  outputAttestation?: string;
  outputCertificate?: string;
  yes: boolean;
}

interface VerifyBlobAttestationFlags extends KeylessVerifyFlags {
  key?: string;
  bundle?: string;
  signature?: string;
  type: string;
  checkClaims: boolean;
  digest?: string;
  digestAlg: string;
  insecureIgnoreTlog: boolean;
  trustedRoot?: string;
  rfc3161Timestamp?: string;
}

/** When the blob or predicate comes from standard input, the key password must come from COSIGN_PASSWORD. */
function passwordSource(stdinTaken: boolean): PasswordSource {
  return () => {
    if (stdinTaken && process.env.COSIGN_PASSWORD === undefined && !process.stdin.isTTY) {
      throw new SignetError('USAGE', 'standard input is already read, so set the key password in COSIGN_PASSWORD');
    }
    return readPassword({ confirm: false });
  };
}

async function checkFile(path: string, what: string): Promise<void> {
  if (path === '-') return;
  const st = await fs.stat(path).catch((e: unknown) => {
    throw ioError(`${what} ${path}`, e);
  });
  if (st.isDirectory()) throw new SignetError('IO', `${what} ${path}: is a directory`);
}

/** The statement to sign: the --statement file as it is, or one built around --predicate for the blob. */
async function statementFromFlags(file: string, flags: AttestBlobFlags): Promise<Buffer> {
  if (flags.statement) {
    ui.info(`Using statement from: ${flags.statement}`);
    const bytes = await readSmallFile(flags.statement, 'statement');
    const st = checkStatementFile(bytes, flags.statement);
    if (flags.type !== 'custom' && resolvePredicateType(flags.type) !== st.predicateType) {
      ui.warn(`--type ${flags.type} is ignored with --statement: the statement's predicate type is ${st.predicateType}`);
    }
    return bytes;
  }
  const predicatePath = flags.predicate!;
  if (predicatePath === '-' && file === '-' && !flags.hash) throw new SignetError('USAGE', 'the blob and the predicate cannot both come from standard input');
  let sha256Hex: string;
  if (flags.hash) {
    sha256Hex = checkSha256Hex(flags.hash);
  } else {
    await checkFile(file, 'blob');
    if (file !== '-') ui.info(`Using payload from: ${file}`);
    sha256Hex = (await digestFile(file, ['sha256'])).sha256!.toString('hex');
  }
  const predicate = predicatePath === '-' ? await readBlob('-') : await readSmallFile(predicatePath, 'predicate');
  return blobAttestationStatement({ path: file, sha256Hex, type: flags.type, predicate });
}

export async function attestBlobAction(file: string, flags: AttestBlobFlags): Promise<void> {
  // Usage errors first, before any file is read, key decrypted or service asked.
  if (!!flags.predicate === !!flags.statement) throw new SignetError('USAGE', 'one of --predicate or --statement must be set');
  resolvePredicateType(flags.type);
  if (flags.newBundleFormat && !flags.bundle) throw new SignetError('USAGE', 'must specify --bundle with --new-bundle-format');
  if (!flags.key && !flags.newBundleFormat) throw new SignetError('USAGE', 'keyless attest-blob writes a Sigstore bundle: drop --new-bundle-format=false (the legacy format needs --key)');
  if (flags.hash) checkSha256Hex(flags.hash);
  const tlog = flags.key ? await tlogTarget(flags) : undefined;
  let timestampUrls = flags.key ? await keyedTimestampUrls(flags) : [];
  if (flags.key && !flags.newBundleFormat && timestampUrls.length > 0) {
    if (flags.timestampServerUrl !== undefined) throw new SignetError('USAGE', 'the legacy attestation bundle has no place for an RFC 3161 timestamp: use --new-bundle-format with --timestamp-server-url');
    ui.warn('the legacy attestation bundle has no place for an RFC 3161 timestamp: the signing config\'s timestamp authority is not used');
    timestampUrls = [];
  }
  const tsaTls = flags.key ? await timestampTls(flags) : undefined;
  if (tsaTls && flags.key && timestampUrls.length === 0) throw new SignetError('USAGE', 'the --timestamp-client-* and --timestamp-server-name flags need a timestamp authority: pass --timestamp-server-url or a signing config listing one');
  if (flags.key) checkBlobTlog(tlog, flags.newBundleFormat);
  if (flags.statement) await checkFile(flags.statement, 'statement');
  if (flags.predicate && flags.predicate !== '-') await checkFile(flags.predicate, 'predicate');

  const statement = await statementFromFlags(file, flags);
  const stdinTaken = flags.predicate === '-' || (file === '-' && !flags.hash && !flags.statement);
  const keyless = flags.key ? undefined : await keylessSignerFromFlags(flags);
  const r = await attestBlob(
    statement,
    keyless ? { keyless } : { signer: await loadSigner(flags.key!, passwordSource(stdinTaken)), newBundleFormat: flags.newBundleFormat, ...(tlog ? { tlog } : {}), timestampUrls, ...(tsaTls ? { timestampTls: tsaTls } : {}) },
  );
  const logIndex = r.tlogEntries[0]?.logIndex ?? (r.rekorBundle?.Payload as { logIndex?: unknown } | undefined)?.logIndex;
  if (logIndex !== undefined) ui.info(`tlog entry created with index: ${String(logIndex)}`);
  if (r.timestamps.length > 0) ui.info(`RFC 3161 timestamp${r.timestamps.length > 1 ? 's' : ''} obtained from ${(keyless ? keyless.services.tsaUrls : timestampUrls).join(', ')}`);

  // Everything signed and logged: only now is anything written.
  if (flags.bundle) {
    await writeFileAtomic(flags.bundle, r.bundle ?? r.legacyBundle!);
    ui.info(`Wrote bundle to file ${flags.bundle}`);
  }
  if (flags.outputAttestation) {
    await writeFileAtomic(flags.outputAttestation, r.statement);
    ui.info(`Attestation written in ${flags.outputAttestation}`);
  }
  if (flags.outputCertificate) {
    if (keyless) {
      await writeFileAtomic(flags.outputCertificate, keyless.certificatePem);
      ui.info(`Certificate written to file ${flags.outputCertificate}`);
    } else {
      ui.warn('Could not output signer certificate: signed with a key, not a certificate');
    }
  }
  if (flags.outputSignature) {
    await writeFileAtomic(flags.outputSignature, r.envelopeJson);
    ui.info(`Signature written in ${flags.outputSignature}`);
  } else if (flags.key) {
    // cosign prints the signed envelope when it is not written to a file.
    ui.out(r.envelopeJson.toString('utf8') + '\n');
  }
}

const DIGEST_ALGS: Record<string, HashAlg> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

/** The artifact: the file, or `--digest`/`--digestAlg` when no file is given, or none (claims unchecked). */
async function artifactFromFlags(file: string | undefined, flags: VerifyBlobAttestationFlags): Promise<BlobArtifact | undefined> {
  const alg = DIGEST_ALGS[flags.digestAlg];
  if (!alg) throw new SignetError('USAGE', `--digestAlg "${flags.digestAlg}" is not one of sha256, sha384, sha512`);
  if (file !== undefined) {
    if (flags.digest) ui.warn('Ignoring provided digest and digestAlg in favor of provided blob');
    await checkFile(file, 'blob');
    return { path: file };
  }
  if (!flags.digest) return undefined;
  const len = { sha256: 64, sha384: 96, sha512: 128 }[alg];
  if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(flags.digest)) throw new SignetError('USAGE', `--digest "${flags.digest}" is not a ${alg} hex digest (${len} hexadecimal characters)`);
  return { digest: Buffer.from(flags.digest, 'hex'), hashAlg: alg };
}

export async function verifyBlobAttestationAction(file: string | undefined, flags: VerifyBlobAttestationFlags): Promise<void> {
  if (!flags.bundle && !flags.signature) throw new SignetError('USAGE', 'please specify the attestation with --bundle (or a DSSE envelope with --signature)');
  if (flags.bundle && flags.signature) throw new SignetError('USAGE', '--bundle and --signature cannot be used together');
  if (flags.key && hasIdentityFlags(flags)) throw new SignetError('USAGE', '--key and --certificate-identity/--certificate-oidc-issuer cannot be used together');
  refuseCaFlagsWithKey(flags);
  if (!flags.key && flags.signature) throw new SignetError('USAGE', 'keyless verification needs the certificate: pass --bundle (a Sigstore bundle), not --signature');
  resolvePredicateType(flags.type);
  const identity = flags.key ? undefined : identityPolicyFromFlags(flags);
  const artifact = await artifactFromFlags(file, flags);
  checkClaimsInput(flags.checkClaims, artifact !== undefined);

  const evidence: AttestationEvidence = flags.bundle
    ? await readAttestationBundle(flags.bundle)
    : parseEnvelopeSignature(await readSmallFile(flags.signature!, 'signature', FILE_LIMITS.small), flags.signature!);
  if (flags.rfc3161Timestamp) {
    if (evidence.kind === 'bundle') throw new SignetError('USAGE', '--rfc3161-timestamp goes with --signature or a legacy bundle: a Sigstore bundle carries its own timestamps');
    evidence.timestamps = [await readTimestampFile(flags.rfc3161Timestamp)];
  }
  const base: VerifyBlobAttestationOptions = {
    evidence,
    evidenceName: flags.bundle ?? flags.signature!,
    type: flags.type,
    checkClaims: flags.checkClaims,
    ignoreTlog: flags.insecureIgnoreTlog,
    useSignedTimestamps: flags.useSignedTimestamps,
    onWarning: (w) => ui.warn(w),
  };
  // Refused before the warning, the key, the trusted root and the artifact are read.
  checkAttestationPlan({ ...base, keyed: flags.key !== undefined, logConfigured: flags.trustedRoot !== undefined, haveArtifact: artifact !== undefined });
  const o: VerifyBlobAttestationOptions = flags.key
    ? {
        ...base,
        key: await loadPublicKey(flags.key, passwordSource(file === '-')),
        ...(flags.trustedRoot && !flags.insecureIgnoreTlog ? { trustedRoot: await loadTrustedRoot(flags.trustedRoot) } : {}),
        ...(await timestampAuthorities(flags).then((tsas) => (tsas ? { tsas } : {}))),
      }
    : { ...base, identity: identity!, trust: await keylessTrust(flags), ...(sctFlag(flags) !== undefined ? { ignoreSct: true } : {}) };
  if (flags.insecureIgnoreTlog) ui.warn(TLOG_SKIP_WARNING);
  const r = await verifyBlobAttestation(artifact, o);
  if (r.tlogVerified) ui.info('tlog entry verified offline');
  ui.info('Verified OK');
}

export function registerAttestCommands(program: Command): void {
  const attest = program
    .command('attest-blob')
    .description('sign an in-toto attestation about a file (a predicate wrapped in a statement naming the file\'s sha256), writing a Sigstore bundle')
    .argument('<file>', 'the file the attestation is about (- for standard input); its base name becomes the subject name')
    .addOption(opt('--predicate <file>', 'the predicate file (- for standard input)'))
    .addOption(opt('--statement <file>', 'an in-toto statement to sign as it is, instead of --predicate'))
    .addOption(opt('--type <type>', TYPE_HELP, 'custom'))
    .addOption(opt('--hash <hex>', 'the sha256 of the file in hex, to attest a file that is not here'))
    .addOption(opt('--key <ref>', 'private key: a file path or env://VAR (cosign encrypted key format); without it, keyless'))
    .addOption(opt('--bundle <file>', 'write the attestation bundle to this file (required with the new bundle format)'))
    .addOption(boolOpt('--new-bundle-format', 'write a Sigstore bundle (v0.3); false writes cosign\'s legacy bundle (with --key)', true))
    .addOption(boolOpt('--tlog-upload', 'upload the attestation to a transparency log', true))
    .addOption(opt('--output-signature <file>', 'also write the signed DSSE envelope (JSON) to this file instead of standard output'))
    .addOption(opt('--output-attestation <file>', 'also write the signed in-toto statement to this file'))
    .addOption(opt('--output-certificate <file>', 'keyless: also write the signing certificate (PEM) to this file'))
    .addOption(boolOpt('-y, --yes', 'skip confirmation prompts'));
  addTlogSignOptions(attest);
  addKeylessSignOptions(attest);
  addTimestampClientOptions(attest);
  examples(attest, [
    'signet attest-blob --predicate provenance.json --type slsaprovenance1 --bundle app.att.sigstore.json app.tar.gz   # keyless, public-good services',
    'signet attest-blob --signing-config DIR/signing_config.json --identity-token "$(signet dev token --server URL --email me@example.com)" --predicate sbom.cdx.json --type cyclonedx --bundle a.att.json a.tar.gz',
    'signet attest-blob --key cosign.key --rekor-url http://127.0.0.1:3000 --predicate result.txt --bundle a.att.json a.tar.gz',
    'COSIGN_PASSWORD=… signet attest-blob --key cosign.key --tlog-upload=false --statement statement.json --bundle a.att.json a.tar.gz',
    'signet attest-blob --key cosign.key --tlog-upload=false --hash <sha256 hex> --predicate vex.json --type openvex --bundle a.att.json a.tar.gz',
  ]);
  attest.action((file: string, flags: AttestBlobFlags) => attestBlobAction(file, flags));

  const verify = program
    .command('verify-blob-attestation')
    .description('verify an attestation about a file (or a digest): its signature and evidence as verify-blob does, that its statement names the file, and its predicate type')
    .argument('[file]', 'the file the attestation is about (omit it and pass --digest to verify by digest)')
    .addOption(opt('--bundle <file>', 'Sigstore bundle (or cosign legacy bundle) holding the attestation'))
    .addOption(opt('--signature <file>', 'with --key: a bare DSSE envelope (JSON, or base64 of it) instead of a bundle'))
    .addOption(opt('--rfc3161-timestamp <file>', 'with --signature or a legacy bundle: the RFC 3161 timestamp over the envelope\'s signature (cosign\'s JSON)'))
    .addOption(opt('--type <type>', TYPE_HELP + '; the statement\'s predicateType must be this', 'custom'))
    .addOption(boolOpt('--check-claims', 'check that the statement names the file (or --digest) among its subjects', true))
    .addOption(opt('--digest <hex>', 'the artifact\'s digest in hex, when the file is not given'))
    .addOption(new Option('--digestAlg <alg>', 'the algorithm of --digest: sha256, sha384 or sha512').env('COSIGN_DIGESTALG').default('sha256'))
    .addOption(opt('--key <ref>', 'public key: a file path or env://VAR (PEM public key, certificate, or cosign private key)'))
    .addOption(boolOpt('--insecure-ignore-tlog', 'do not require transparency-log evidence for the attestation'))
    .addOption(opt('--trusted-root <file>', 'trusted_root.json: the CAs, logs and TSAs to trust (keyless default: the pinned public-good root)'));
  addKeylessVerifyOptions(verify);
  examples(verify, [
    'signet verify-blob-attestation --certificate-identity me@example.com --certificate-oidc-issuer https://accounts.google.com --type slsaprovenance1 --bundle app.att.sigstore.json app.tar.gz',
    'signet verify-blob-attestation --certificate-identity me@example.com --certificate-oidc-issuer URL --type cyclonedx --bundle a.att.json --digest <sha256 hex> --digestAlg sha256',
    'signet verify-blob-attestation --key cosign.pub --trusted-root trusted_root.json --bundle a.att.json a.tar.gz',
    'signet verify-blob-attestation --key cosign.pub --insecure-ignore-tlog --type https://example.com/my-predicate/v1 --bundle a.att.json a.tar.gz',
  ]);
  verify.action((file: string | undefined, flags: VerifyBlobAttestationFlags) => verifyBlobAttestationAction(file, flags));
}
