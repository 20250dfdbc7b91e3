/** `signet attest` / `verify-attestation` (images) and `attest-blob` / `verify-blob-attestation` (files): in-toto attestations. */
import { promises as fs } from 'node:fs';
import { Option, type Command } from 'commander';
import { SignetError } from '../../errors.js';
import { FILE_LIMITS, ioError, writeFileAtomic } from '../../fsutil.js';
import { loadPublicKey, loadSigner, type PasswordSource } from '../../keys/index.js';
import { loadTrustedRoot } from '../../sigstore/trustedroot.js';
import { keyedTimestampUrls, tlogTarget } from '../../sigstore/tlog-target.js';
import { readPassword } from '../password.js';
import { addRegistryOptions, boolOpt, examples, opt, parsePositiveInt, ui, type RegistryFlags, signatureRepository, dockerMediaTypes } from '../common.js';
import { registryClient } from '../registry.js';
import { attestImages } from '../../cosign/attest.js';
import { LayoutImageReader, LayoutSource } from '../../cosign/save-load.js';
import { verifyImageAttestations, type AttestationOutcome, type VerifiedAttestation, type VerifyAttestationsOptions } from '../../cosign/verify-attestation.js';
import { githubActionsProvenance, inGithubActions } from '../../cosign/slsa-github.js';
import { loadPolicies } from '../../policy/index.js';
import type { AttestationPolicy } from '../../policy/types.js';
import type { KeylessSigner } from '../../sigstore/sign-keyless.js';
import type { Signer } from '../../keys/index.js';
import { addTlogSignOptions, TLOG_VERIFIED_LINE, type TlogSignFlags } from './log.js';
import {
  addKeylessSignOptions,
  addKeylessVerifyOptions,
  hasIdentityFlags,
  identityPolicyFromFlags,
  keylessSignerFromFlags,
  keylessTrust,
  refuseTimestampWithKey,
  CERTIFICATE_VERIFIED_LINE,
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

interface AttestFlags extends RegistryFlags, TlogSignFlags, KeylessSignFlags {
  key?: string;
  predicate?: string;
  type: string;
  recursive: boolean;
  replace: boolean;
  newBundleFormat: boolean;
  yes: boolean;
}

interface VerifyAttestationFlags extends RegistryFlags, KeylessVerifyFlags {
  key?: string;
  localImage?: boolean;
  type: string;
  checkClaims: boolean;
  insecureIgnoreTlog: boolean;
  policy?: string[];
  output: string;
  maxWorkers: string;
}

/** The predicate bytes: the file (`-` for standard input), or the GitHub Actions provenance for slsaprovenance1. */
async function imagePredicate(flags: AttestFlags): Promise<Buffer> {
  if (flags.predicate) {
    if (flags.predicate === '-') {
      ui.info('Using payload from: standard input');
      return readBlob('-');
    }
    await checkFile(flags.predicate, 'predicate');
    ui.info(`Using payload from: ${flags.predicate}`);
    return readSmallFile(flags.predicate, 'predicate');
  }
  if (resolvePredicateType(flags.type) === resolvePredicateType('slsaprovenance1') && inGithubActions(process.env)) {
    ui.info('Using the SLSA v1 provenance of this GitHub Actions run');
    return Buffer.from(JSON.stringify(githubActionsProvenance(process.env)));
  }
  throw new SignetError('USAGE', 'predicate cannot be empty: pass --predicate FILE (inside GitHub Actions, --type slsaprovenance1 builds the provenance itself)');
}

export async function attestAction(images: string[], flags: AttestFlags): Promise<void> {
  // Usage errors first, before any file is read, key decrypted or service asked.
  resolvePredicateType(flags.type);
  if (!flags.predicate && !(resolvePredicateType(flags.type) === resolvePredicateType('slsaprovenance1') && inGithubActions(process.env))) {
    throw new SignetError('USAGE', 'predicate cannot be empty: pass --predicate FILE (inside GitHub Actions, --type slsaprovenance1 builds the provenance itself)');
  }
  let tlog: Awaited<ReturnType<typeof tlogTarget>>;
  if (flags.key) {
    refuseTimestampWithKey(flags);
    tlog = await tlogTarget(flags);
  }
  const predicate = await imagePredicate(flags);
  let signer: Signer;
  let keyless: KeylessSigner | undefined;
  if (flags.key) {
    signer = await loadSigner(flags.key, passwordSource(flags.predicate === '-'));
  } else {
    keyless = await keylessSignerFromFlags(flags);
    signer = keyless.signer;
  }
  const results = await attestImages({
    client: registryClient(flags),
    signer,
    images,
    predicate,
    type: flags.type,
    recursive: flags.recursive,
    replace: flags.replace,
    newBundleFormat: flags.newBundleFormat,
    signatureRepository: signatureRepository(),
    dockerMediaTypes: dockerMediaTypes(),
    onEvent: (m) => ui.info(m),
    ...(tlog ? { tlog } : {}),
    ...(keyless ? { keyless } : {}),
  });
  for (const r of results) if (r.replaced) ui.info(`Replaced ${r.replaced} attestation${r.replaced > 1 ? 's' : ''} of predicate type ${r.predicateType} on ${r.input}`);
}

function printAttestations(o: AttestationOutcome, flags: VerifyAttestationFlags, policies: AttestationPolicy[]): void {
  const v = o.result!;
  const lines = [`\nVerification for ${v.input} --`, 'The following checks were performed on each of these signatures:'];
  if (flags.checkClaims) lines.push('  - The cosign claims were validated');
  if (!flags.insecureIgnoreTlog) lines.push(`  - ${TLOG_VERIFIED_LINE}`);
  if (flags.key) lines.push('  - The signatures were verified against the specified public key');
  else {
    if (!flags.insecureIgnoreTlog) lines.push('  - The signatures were integrated into the transparency log when the certificate was valid');
    lines.push(`  - ${CERTIFICATE_VERIFIED_LINE}`);
  }
  if (policies.length > 0) lines.push(`  - The attestations passed the policies: ${policies.map((p) => p.name).join(', ')}`);
  ui.info(lines.join('\n'));
  for (const a of v.attestations) ui.out(flags.output === 'text' ? summary(v.input, v.digest, a) : a.envelopeJson.toString('utf8') + '\n');
}

/** `-o text`: who signed, what about, and each policy's verdict. */
function summary(input: string, digest: string, a: VerifiedAttestation): string {
  const signer = a.identity ? `${a.identity.subject ?? '(no subject)'} (issuer ${a.identity.issuer ?? 'unknown'})` : 'the given key';
  const subjects = a.statement.subject.map((s) => `${s.name ?? ''}@sha256:${s.digest.sha256 ?? '?'}`).join(', ');
  const lines = [
    `${input} (${digest})`,
    `  source:         ${a.source === 'referrer' ? 'bundle referrer' : 'legacy .att'} ${a.location}`,
    `  signed by:      ${signer}`,
    `  predicate type: ${a.predicateType}`,
    `  subject:        ${subjects}`,
    a.tlog ? `  log entries:    ${a.tlog.map((t) => `index ${t.logIndex}`).join(', ')}` : `  log entries:    ${a.tlogVerified} verified`,
    ...a.verdicts.map((p) => `  policy ${p.policy}: ${p.ok ? 'pass' : `FAIL (${p.reason ?? ''})`}`),
  ];
  return lines.join('\n') + '\n';
}

export async function verifyAttestationAction(images: string[], flags: VerifyAttestationFlags): Promise<void> {
  if (flags.output !== 'json' && flags.output !== 'text') throw new SignetError('USAGE', `unknown output format "${flags.output}" (json or text)`);
  const maxWorkers = parsePositiveInt(flags.maxWorkers);
  if (flags.key && hasIdentityFlags(flags)) throw new SignetError('USAGE', '--key and --certificate-identity/--certificate-oidc-issuer cannot be used together');
  resolvePredicateType(flags.type);
  const identity = flags.key ? undefined : identityPolicyFromFlags(flags);
  const policies = flags.policy && flags.policy.length > 0 ? await loadPolicies(flags.policy) : [];
  const key = flags.key ? await loadPublicKey(flags.key, () => readPassword({ confirm: false })) : undefined;
  const trustedRoot = flags.key && flags.trustedRoot && !flags.insecureIgnoreTlog ? await loadTrustedRoot(flags.trustedRoot) : undefined;
  const trust = flags.key ? undefined : await keylessTrust(flags);
  if (flags.insecureIgnoreTlog) ui.warn(TLOG_SKIP_WARNING);
  const verifyWith = (client: VerifyAttestationsOptions['client'], refs: string[]): Promise<AttestationOutcome[]> => verifyImageAttestations({
    client,
    images: refs,
    ...(key ? { key } : {}),
    ...(identity ? { identity } : {}),
    ...(trust ? { trust } : {}),
    ...(trustedRoot ? { trustedRoot } : {}),
    ignoreSct: sctFlag(flags),
    useSignedTimestamps: flags.useSignedTimestamps,
    checkClaims: flags.checkClaims,
    ignoreTlog: flags.insecureIgnoreTlog,
    type: flags.type,
    policies,
    signatureRepository: signatureRepository(),
    maxWorkers,
  });
  // --local-image: each argument is an OCI layout, read through the registry reader interface (as verify --local-image).
  const outcomes = flags.localImage
    ? await Promise.all(
        images.map(async (dir) => {
          const reader = new LayoutImageReader(await LayoutSource.open(dir));
          const [o] = await verifyWith(reader, [reader.reference]);
          return { ...o!, input: dir, ...(o!.result ? { result: { ...o!.result, input: dir } } : {}) };
        }),
      )
    : await verifyWith(registryClient(flags), images);
  let firstError: SignetError | undefined;
  for (const o of outcomes) {
    if (o.result) {
      printAttestations(o, flags, policies);
      continue;
    }
    firstError ??= o.error;
    if (o.validationErrors) {
      ui.info(`There are ${o.validationErrors.length} number of errors occurred during the validation:`);
      for (const v of o.validationErrors) ui.info(`- ${v}`);
    }
    if (outcomes.length > 1) ui.info(`Error: ${o.input}: ${o.error!.message}`);
  }
  if (firstError) {
    if (outcomes.length > 1) {
      const failed = outcomes.filter((o) => o.error).length;
      throw new SignetError(firstError.code, `${failed} of ${outcomes.length} images failed attestation verification`);
    }
    if (outcomes[0]?.validationErrors) throw new SignetError(firstError.code, `${outcomes[0].validationErrors.length} validation errors occurred`);
    throw firstError;
  }
}

export function registerAttestCommands(program: Command): void {
  const att = program
    .command('attest')
    .description('attest images: sign an in-toto statement (a predicate about each image digest) and store it in the registry')
    .argument('<image...>', 'image references (tags are resolved to digests)')
    .addOption(opt('--predicate <file>', 'the predicate file (- for standard input)'))
    .addOption(opt('--type <type>', TYPE_HELP, 'custom'))
    .addOption(opt('--key <ref>', 'private key: a file path or env://VAR (cosign encrypted key format); without it, keyless'))
    .addOption(boolOpt('-r, --recursive', 'if an image is an index, also attest every image it lists'))
    .addOption(boolOpt('--replace', 'legacy format: replace the attestations of the same predicate type'))
    .addOption(boolOpt('--new-bundle-format', 'store a Sigstore bundle as an OCI 1.1 referrer (cosign v3); false writes the legacy .att image', true))
    .addOption(boolOpt('--tlog-upload', 'upload the attestation to a transparency log', true))
    .addOption(boolOpt('-y, --yes', 'skip confirmation prompts'));
  addTlogSignOptions(att);
  addKeylessSignOptions(att);
  addRegistryOptions(att);
  examples(att, [
    'signet attest --predicate provenance.json --type slsaprovenance1 registry.example/app@sha256:…   # keyless, public-good services',
    'signet attest --signing-config DIR/signing_config.json --identity-token token.txt --predicate sbom.cdx.json --type cyclonedx registry.example/app:v1',
    'signet attest --key cosign.key --rekor-url http://127.0.0.1:3000 --predicate vuln.json --type vuln registry.example/app:v1',
    'signet attest --key cosign.key --tlog-upload=false --new-bundle-format=false --replace --predicate vex.json --type openvex registry.example/app:v1',
    'signet attest --key cosign.key --tlog-upload=false -r --predicate result.json --type https://example.com/test/v1 registry.example/app:v1',
    'signet attest --type slsaprovenance1 ghcr.io/owner/app@sha256:…   # inside GitHub Actions: the run\'s own provenance',
  ]);
  att.action((images: string[], flags: AttestFlags) => attestAction(images, flags));

  const va = program
    .command('verify-attestation')
    .description('verify the attestations of images (with a key, or keyless against a signer identity), check their predicate type and policies, and print each verified envelope as JSON')
    .argument('<image...>', 'image references')
    .addOption(boolOpt('--local-image', 'the arguments are OCI layout directories written by save (or cosign save): verify with no registry'))
    .addOption(opt('--key <ref>', 'public key: a file path or env://VAR (PEM public key, certificate, or cosign private key)'))
    .addOption(opt('--type <type>', TYPE_HELP + '; only attestations of this predicate type are kept', 'custom'))
    .addOption(boolOpt('--check-claims', 'check that the statement names the image digest among its subjects', true))
    .addOption(new Option('--policy <file>', 'a policy every kept attestation must pass (.cue, .rego or .cel; repeatable)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .addOption(boolOpt('--insecure-ignore-tlog', 'do not require transparency-log evidence for the attestations'))
    .addOption(opt('--trusted-root <file>', 'trusted_root.json: the CAs, logs and TSAs to trust (keyless default: the pinned public-good root)'))
    .addOption(opt('-o, --output <format>', 'json (each verified envelope, one per line) or text (a short summary per attestation)', 'json'))
    .addOption(opt('--max-workers <n>', 'how many images to verify at once', '10'));
  addKeylessVerifyOptions(va);
  addRegistryOptions(va);
  examples(va, [
    'signet verify-attestation --type slsaprovenance1 --certificate-identity-regexp \'^https://github.com/owner/repo/\' --certificate-oidc-issuer https://token.actions.githubusercontent.com ghcr.io/owner/app:v1',
    'signet verify-attestation --key cosign.pub --trusted-root trusted_root.json --type cyclonedx registry.example/app:v1',
    'signet verify-attestation --key cosign.pub --insecure-ignore-tlog --type vuln --policy no-critical.cel registry.example/app:v1',
    'signet verify-attestation --key cosign.pub --insecure-ignore-tlog -o text img1 img2 img3',
    'signet save --dir ./app-layout registry.example/app:v1 && signet verify-attestation --key cosign.pub --trusted-root trusted_root.json --type slsaprovenance1 --local-image ./app-layout   # no registry needed',
  ]);
  va.action((images: string[], flags: VerifyAttestationFlags) => verifyAttestationAction(images, flags));


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
