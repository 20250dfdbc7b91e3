/** `signet sign` and `signet verify` for container images. */
import type { Command } from 'commander';
import { SignetError } from '../../errors.js';
import { loadPublicKey, loadSigner } from '../../keys/index.js';
import { signImages, type SignatureMaterial } from '../../cosign/sign.js';
import { writeFileAtomic } from '../../fsutil.js';
import { readSmallFile } from '../../cosign/blob-io.js';
import { verifyImages, type ImageVerification, type VerifyImagesOptions } from '../../cosign/verify.js';
import { readPassword } from '../password.js';
import { addRegistryOptions, boolOpt, collectKeyValue, examples, opt, parsePositiveInt, ui, type RegistryFlags, signatureRepository, dockerMediaTypes } from '../common.js';
import { registryClient } from '../registry.js';
import { LayoutImageReader, LayoutSource } from '../../cosign/save-load.js';
import { configuredTrustedRoot } from '../../sigstore/keyless.js';
import { addTlogSignOptions, TLOG_VERIFIED_LINE, type TlogSignFlags } from './log.js';
import { tlogTarget } from '../../sigstore/tlog-target.js';
import {
  addKeylessSignOptions,
  addKeylessVerifyOptions,
  addWitnessPolicyOption,
  witnessPolicyFromFlags,
  CERTIFICATE_VERIFIED_LINE,
  hasIdentityFlags,
  identityPolicyFromFlags,
  keylessSignerFromFlags,
  addCertificateSignOptions,
  addTimestampClientOptions,
  keyedSigningExtras,
  type KeyedSignFlags,
  keylessTrust,
  sctFlag,
  refuseCaFlagsWithKey,
  timestampAuthorities,
  type KeylessSignFlags,
  type KeylessVerifyFlags,
  type KeyedSigningExtras,
} from './blob.js';
import type { KeylessSigner } from '../../sigstore/sign-keyless.js';
import type { Signer } from '../../keys/index.js';

interface SignFlags extends RegistryFlags, TlogSignFlags, KeylessSignFlags, KeyedSignFlags {
  key?: string;
  annotations?: Record<string, string>;
  recursive: boolean;
  yes: boolean;
  newBundleFormat: boolean;
  tlogUpload: boolean;
  upload: boolean;
  outputPayload?: string;
  outputSignature?: string;
  outputCertificate?: string;
  bundle?: string;
  payload?: string;
}

export function registerImageCommands(program: Command): void {
  const sign = program
    .command('sign')
    .description('sign the manifests of container images, storing the signatures in the registry')
    .argument('<image...>', 'image references (tags are resolved to digests)')
    .addOption(opt('--key <ref>', 'private key: a file path or env://VAR (cosign encrypted key format); without it, keyless'))
    .option('-a, --annotations <key=value>', 'extra key=value pairs to sign (repeatable)', collectKeyValue)
    .addOption(boolOpt('-r, --recursive', 'if an image is an index, also sign every image it lists'))
    .addOption(boolOpt('-y, --yes', 'skip confirmation prompts'))
    .addOption(boolOpt('--new-bundle-format', 'store a Sigstore bundle as an OCI 1.1 referrer (cosign v3); false writes the legacy .sig tag', true))
    .addOption(boolOpt('--tlog-upload', 'upload the signature to a transparency log', true))
    .addOption(boolOpt('--upload', 'push the signature to the registry (false: only log it and write the --output-* / --bundle files)', true))
    .addOption(opt('--output-payload <file>', 'write the signed payload to FILE (the in-toto statement, or the simple-signing payload with --new-bundle-format=false)'))
    .addOption(opt('--output-signature <file>', 'write the signature to FILE, base64 (over the DSSE PAE of the payload, or over the payload itself in the legacy format)'))
    .addOption(opt('--output-certificate <file>', 'write the signing certificate to FILE, PEM (keyless, or --certificate)'))
    .addOption(opt('--bundle <file>', 'write everything needed to verify to FILE: the Sigstore bundle (legacy format: cosign\'s LocalSignedPayload)'))
    .addOption(opt('--payload <file>', 'sign this payload file instead of generating one (legacy .sig format, one image)'));
  addTlogSignOptions(sign);
  addKeylessSignOptions(sign);
  addTimestampClientOptions(sign);
  addCertificateSignOptions(sign);
  addRegistryOptions(sign);
  examples(sign, [
    'signet sign registry.example/app@sha256:…   # keyless, public-good services (browser login, SIGSTORE_ID_TOKEN or GitHub Actions)',
    'signet sign --signing-config DIR/signing_config.json --identity-token token.txt registry.example/app:v1',
    'signet sign --key cosign.key --rekor-url http://127.0.0.1:3000 registry.example/app@sha256:…',
    'signet sign --key cosign.key --signing-config signing_config.json registry.example/app:v1',
    'COSIGN_PASSWORD=… signet sign --key cosign.key --tlog-upload=false registry.example/app@sha256:…',
    'signet sign --key cosign.key --tlog-upload=false -a build=42 -r registry.example/app:v1',
    'signet sign --key cosign.key --rekor-url http://127.0.0.1:3000 --timestamp-server-url http://127.0.0.1:3000/api/v1/timestamp registry.example/app:v1',
    'signet sign --key leaf.key --certificate leaf.pem --certificate-chain ca-chain.pem --tlog-upload=false registry.example/app:v1   # your own CA',
    'signet sign --key "pkcs11:token=ci;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so" --certificate-chain ca-chain.pem registry.example/app:v1   # the token\'s certificate for the key is attached',
    'signet sign --key env://COSIGN_PRIVATE_KEY --tlog-upload=false --new-bundle-format=false registry.example/app:v1',
    'COSIGN_REPOSITORY=registry.example/signatures signet sign --key cosign.key --tlog-upload=false registry.example/app:v1',
    'signet sign --key cosign.key --upload=false --bundle app.sigstore.json --output-signature app.sig --output-payload app.payload registry.example/app:v1   # sign here, push elsewhere',
    'signet sign --key cosign.key --new-bundle-format=false --upload=false --output-signature sig.b64 --output-payload payload.json registry.example/app:v1   # then: signet attach signature --payload payload.json --signature sig.b64 registry.example/app:v1',
    'signet sign --key cosign.key --new-bundle-format=false --payload payload.json registry.example/app:v1   # payload from signet generate',
    'signet sign --key cosign.key --new-bundle-format=false --registry-referrers-mode=oci-1-1 registry.example/app:v1   # cosign\'s experimental OCI 1.1 signature referrer',
  ]);
  sign.action(async (images: string[], flags: SignFlags) => {
    const outputs = [flags.outputPayload, flags.outputSignature, flags.outputCertificate, flags.bundle].filter((f): f is string => !!f);
    if (outputs.length > 0 && (images.length > 1 || flags.recursive)) {
      throw new SignetError('USAGE', '--output-payload/--output-signature/--output-certificate/--bundle write one signature: sign one image, without --recursive');
    }
    if (new Set(outputs).size !== outputs.length) throw new SignetError('USAGE', 'the --output-* and --bundle files must be different files');
    const noCertificate = "--output-certificate: a key signs without a certificate here (pass --certificate, keep one beside the key in its PKCS#11 token, or sign keyless)";
    // A PKCS#11 key may have its certificate in the token: known once the key is loaded.
    if (flags.outputCertificate && !flags.certificate && flags.key && !flags.key.startsWith('pkcs11:')) throw new SignetError('USAGE', noCertificate);
    const payload = flags.payload ? await readSmallFile(flags.payload, '--payload') : undefined;
    let signer: Signer;
    let keyless: KeylessSigner | undefined;
    let tlog: Awaited<ReturnType<typeof tlogTarget>>;
    let extras: KeyedSigningExtras | undefined;
    if (flags.key) {
      tlog = await tlogTarget(flags);
      signer = await loadSigner(flags.key, () => readPassword({ confirm: false }));
      extras = await keyedSigningExtras(flags, signer.publicKey, signer.certificate);
      if (flags.outputCertificate && !extras.certificate) throw new SignetError('USAGE', noCertificate);
    } else {
      if (flags.certificate || flags.certificateChain) throw new SignetError('USAGE', '--certificate and --certificate-chain go with --key (keyless signing gets its certificate from the CA)');
      // Every image signed in this run shares one ephemeral key and certificate, as with cosign.
      keyless = await keylessSignerFromFlags(flags);
      signer = keyless.signer;
    }
    const results = await signImages({
      client: registryClient(flags),
      signer,
      images,
      annotations: flags.annotations,
      recursive: flags.recursive,
      newBundleFormat: flags.newBundleFormat,
      signatureRepository: signatureRepository(),
      dockerMediaTypes: dockerMediaTypes(),
      referrersMode: flags.registryReferrersMode === 'oci-1-1' ? 'oci-1-1' : 'legacy',
      onEvent: (m) => ui.info(m),
      ...(tlog ? { tlog } : {}),
      ...(keyless ? { keyless } : {}),
      ...(extras ?? {}),
      upload: flags.upload,
      ...(payload ? { payload } : {}),
    });
    // Written only once everything signed, logged and (unless --upload=false) pushed.
    const m = results[0]?.material;
    if (m) await writeSignatureFiles(m, flags);
    if (!flags.upload) ui.info(outputs.length > 0 ? 'Signature not uploaded (--upload=false)' : 'Signature not uploaded (--upload=false) and no --output-* or --bundle file asked for: nothing kept but the log entry, if any');
    for (const r of results) if (r.unchanged) ui.info(`${r.input}: an identical signature was already present; nothing added`);
  });

  const verify = program
    .command('verify')
    .description('verify the signatures of container images (with a key, or keyless against a signer identity), printing the verified payloads as JSON')
    .argument('<image...>', 'image references')
    .addOption(boolOpt('--local-image', 'the arguments are OCI layout directories written by save (or cosign save): verify with no registry'));
  addVerifyOptions(verify);
  examples(verify, [
    'signet verify --certificate-identity me@example.com --certificate-oidc-issuer https://accounts.google.com registry.example/app:v1',
    'signet verify --trusted-root DIR/trusted_root.json --insecure-ignore-sct --certificate-identity-regexp \'@example\\.com$\' --certificate-oidc-issuer URL registry.example/app:v1',
    'signet verify --key cosign.pub --trusted-root trusted_root.json registry.example/app:v1',
    'signet verify --key cosign.pub --insecure-ignore-tlog registry.example/app:v1',
    'signet verify --key cosign.pub --insecure-ignore-tlog -a build=42 registry.example/app@sha256:…',
    'signet verify --key cosign.pub --insecure-ignore-tlog -o text img1 img2 img3',
    'signet verify --key cosign.pub --trusted-root trusted_root.json --local-image ./app-layout',
    'signet verify --key cosign.pub --trusted-root trusted_root.json --use-signed-timestamps registry.example/app:v1',
    'signet verify --ca-roots root.pem --ca-intermediates intermediates.pem --certificate-identity signer@example.org --certificate-oidc-issuer-regexp \'.*\' --insecure-ignore-sct --insecure-ignore-tlog registry.example/app:v1   # your own CA',
  ]);
  verify.action(async (images: string[], flags: VerifyFlags) => {
    const options = await verifyOptionsFromFlags(flags);
    // --local-image: each argument is an OCI layout, read through the registry reader interface.
    const outcomes = flags.localImage
      ? await Promise.all(
          images.map(async (dir) => {
            const reader = new LayoutImageReader(await LayoutSource.open(dir));
            const [o] = await verifyImages({ ...options, client: reader, images: [reader.reference] });
            return { ...o!, input: dir, ...(o!.result ? { result: { ...o!.result, input: dir } } : {}) };
          }),
        )
      : await verifyImages({ ...options, images });
    let firstError: SignetError | undefined;
    for (const o of outcomes) {
      if (o.result) printVerification(o.result, flags);
      else {
        firstError ??= o.error;
        if (outcomes.length > 1) ui.info(`Error: ${o.input}: ${o.error!.message}`);
      }
    }
    if (firstError) {
      if (outcomes.length > 1) {
        const failed = outcomes.filter((o) => o.error).length;
        throw new SignetError(firstError.code, `${failed} of ${outcomes.length} images failed verification`);
      }
      throw firstError;
    }
  });
}

async function writeSignatureFiles(m: SignatureMaterial, flags: SignFlags): Promise<void> {
  if (flags.outputPayload) {
    await writeFileAtomic(flags.outputPayload, m.payload);
    ui.info(`Payload wrote in the file ${flags.outputPayload}`);
  }
  if (flags.outputSignature) {
    await writeFileAtomic(flags.outputSignature, m.signature.toString('base64'));
    ui.info(`Signature wrote in the file ${flags.outputSignature}`);
  }
  if (flags.outputCertificate && m.certificatePem) {
    await writeFileAtomic(flags.outputCertificate, m.certificatePem);
    ui.info(`Certificate wrote in the file ${flags.outputCertificate}`);
  }
  if (flags.bundle) {
    await writeFileAtomic(flags.bundle, m.bundle);
    ui.info(`Wrote bundle to file ${flags.bundle}`);
  }
}

export type VerifyFlags = RegistryFlags &
  KeylessVerifyFlags & { witnessPolicy?: string; localImage?: boolean; key?: string; annotations?: Record<string, string>; checkClaims: boolean; insecureIgnoreTlog: boolean; output: string; maxWorkers: string };

/** `verify`'s flags (key or identity, claims, log, trust, output, registry), shared by the commands that verify images. */
export function addVerifyOptions(cmd: Command, output: { default: 'json' | 'text'; description?: string } = { default: 'json' }): Command {
  cmd
    .addOption(opt('--key <ref>', 'public key: a file path or env://VAR (PEM public key, certificate, or cosign private key)'))
    .option('-a, --annotations <key=value>', 'require these signed annotations (repeatable)', collectKeyValue)
    .addOption(boolOpt('--check-claims', 'check that the signed claims name the image digest', true))
    .addOption(boolOpt('--insecure-ignore-tlog', 'do not require transparency-log evidence for the signatures'))
    .addOption(opt('--trusted-root <file>', 'trusted_root.json: the CAs, logs and TSAs to trust (keyless default: the pinned public-good root)'))
    .addOption(opt('-o, --output <format>', output.description ?? 'output format: json or text', output.default))
    .addOption(opt('--max-workers <n>', 'how many images to verify at once', '10'));
  addKeylessVerifyOptions(cmd);
  addWitnessPolicyOption(cmd);
  return addRegistryOptions(cmd);
}

/** `verifyImages`' options from `verify`'s flags (keys and trust loaded, usage checked), less the images. */
export async function verifyOptionsFromFlags(flags: VerifyFlags): Promise<Omit<VerifyImagesOptions, 'images'>> {
  if (flags.output !== 'json' && flags.output !== 'text') throw new SignetError('USAGE', `unknown output format "${flags.output}" (json or text)`);
  const maxWorkers = parsePositiveInt(flags.maxWorkers);
  if (flags.key && hasIdentityFlags(flags)) throw new SignetError('USAGE', '--key and --certificate-identity/--certificate-oidc-issuer cannot be used together');
  refuseCaFlagsWithKey(flags);
  const identity = flags.key ? undefined : identityPolicyFromFlags(flags);
  const key = flags.key ? await loadPublicKey(flags.key, () => readPassword({ confirm: false })) : undefined;
  const trustedRoot = flags.key && !flags.insecureIgnoreTlog ? await configuredTrustedRoot(flags.trustedRoot, { offline: flags.offline === true }) : undefined;
  const trust = flags.key ? undefined : await keylessTrust(flags);
  const tsas = flags.key ? await timestampAuthorities(flags) : undefined;
  const witnessPolicy = await witnessPolicyFromFlags(flags);
  if (flags.insecureIgnoreTlog) {
    ui.warn('Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the signature.');
  }
  return {
    client: registryClient(flags),
    ...(key ? { key } : {}),
    ...(identity ? { identity } : {}),
    ...(trust ? { trust } : {}),
    ignoreSct: sctFlag(flags),
    useSignedTimestamps: flags.useSignedTimestamps,
    ...(tsas ? { tsas } : {}),
    ...(witnessPolicy ? { witnessPolicy } : {}),
    annotations: flags.annotations,
    checkClaims: flags.checkClaims,
    ignoreTlog: flags.insecureIgnoreTlog,
    trustedRoot,
    signatureRepository: signatureRepository(),
    maxWorkers,
  };
}

function printVerification(v: ImageVerification, flags: { key?: string; annotations?: Record<string, string>; checkClaims: boolean; insecureIgnoreTlog: boolean; output: string }): void {
  const lines = [`\nVerification for ${v.input} --`, 'The following checks were performed on each of these signatures:'];
  if (flags.checkClaims && flags.annotations && Object.keys(flags.annotations).length > 0) lines.push('  - The specified annotations were verified.');
  if (flags.checkClaims) lines.push('  - The cosign claims were validated');
  if (!flags.insecureIgnoreTlog) lines.push(`  - ${TLOG_VERIFIED_LINE}`);
  if (flags.key) lines.push('  - The signatures were verified against the specified public key');
  else {
    if (!flags.insecureIgnoreTlog) lines.push('  - The signatures were integrated into the transparency log when the certificate was valid');
    lines.push(`  - ${CERTIFICATE_VERIFIED_LINE}`);
  }
  ui.info(lines.join('\n'));
  if (flags.output === 'text') {
    for (const s of v.verified) {
      if (s.identity) ui.info(`Certificate subject: ${s.identity.subject ?? ''}\nCertificate issuer URL: ${s.identity.issuer ?? ''}`);
      ui.out(s.payload.toString('utf8') + '\n');
    }
  } else {
    ui.out(JSON.stringify(v.verified.map((s) => s.claims)) + '\n');
  }
}
