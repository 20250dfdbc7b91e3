/** `signet sign` and `signet verify` for container images. */
import type { Command } from 'commander';
import { SignetError } from '../../errors.js';
import { loadPublicKey, loadSigner } from '../../keys/index.js';
import { signImages } from '../../cosign/sign.js';
import { verifyImages, type ImageVerification } from '../../cosign/verify.js';
import { readPassword } from '../password.js';
import { addRegistryOptions, boolOpt, collectKeyValue, examples, opt, parsePositiveInt, ui, type RegistryFlags } from '../common.js';
import { registryClient } from '../registry.js';
import { loadTrustedRoot } from '../../sigstore/trustedroot.js';
import { addTlogSignOptions, TLOG_VERIFIED_LINE, tlogTarget, type TlogSignFlags } from './log.js';

interface SignFlags extends RegistryFlags, TlogSignFlags {
  key?: string;
  annotations?: Record<string, string>;
  recursive: boolean;
  yes: boolean;
  newBundleFormat: boolean;
  tlogUpload: boolean;
  upload: boolean;
}

export function registerImageCommands(program: Command): void {
  const sign = program
    .command('sign')
    .description('sign the manifests of container images, storing the signatures in the registry')
    .argument('<image...>', 'image references (tags are resolved to digests)')
    .addOption(opt('--key <ref>', 'private key: a file path or env://VAR (cosign encrypted key format)'))
    .option('-a, --annotations <key=value>', 'extra key=value pairs to sign (repeatable)', collectKeyValue)
    .addOption(boolOpt('-r, --recursive', 'if an image is an index, also sign every image it lists'))
    .addOption(boolOpt('-y, --yes', 'skip confirmation prompts'))
    .addOption(boolOpt('--new-bundle-format', 'store a Sigstore bundle as an OCI 1.1 referrer (cosign v3); false writes the legacy .sig tag', true))
    .addOption(boolOpt('--tlog-upload', 'upload the signature to a transparency log', true))
    .addOption(boolOpt('--upload', 'push the signature to the registry', true));
  addTlogSignOptions(sign);
  addRegistryOptions(sign);
  examples(sign, [
    'signet sign --key cosign.key --rekor-url http://127.0.0.1:3000 registry.example/app@sha256:…',
    'signet sign --key cosign.key --signing-config signing_config.json registry.example/app:v1',
    'COSIGN_PASSWORD=… signet sign --key cosign.key --tlog-upload=false registry.example/app@sha256:…',
    'signet sign --key cosign.key --tlog-upload=false -a build=42 -r registry.example/app:v1',
    'signet sign --key env://COSIGN_PRIVATE_KEY --tlog-upload=false --new-bundle-format=false registry.example/app:v1',
    'COSIGN_REPOSITORY=registry.example/signatures signet sign --key cosign.key --tlog-upload=false registry.example/app:v1',
  ]);
  sign.action(async (images: string[], flags: SignFlags) => {
    if (!flags.key) {
      throw new SignetError('USAGE', 'keyless signing is not available yet: pass --key');
    }
    const tlog = await tlogTarget(flags);
    if (!flags.upload) {
      throw new SignetError('USAGE', '--upload=false is not supported yet: signatures are always pushed');
    }
    const signer = await loadSigner(flags.key, () => readPassword({ confirm: false }));
    const results = await signImages({
      client: registryClient(flags),
      signer,
      images,
      annotations: flags.annotations,
      recursive: flags.recursive,
      newBundleFormat: flags.newBundleFormat,
      signatureRepository: process.env.COSIGN_REPOSITORY || undefined,
      dockerMediaTypes: ['1', 'true'].includes(process.env.COSIGN_DOCKER_MEDIA_TYPES ?? ''),
      onEvent: (m) => ui.info(m),
      tlog,
    });
    for (const r of results) if (r.unchanged) ui.info(`${r.input}: an identical signature was already present; nothing added`);
  });

  const verify = program
    .command('verify')
    .description('verify the signatures of container images, printing the verified payloads as JSON')
    .argument('<image...>', 'image references')
    .addOption(opt('--key <ref>', 'public key: a file path or env://VAR (PEM public key, certificate, or cosign private key)'))
    .option('-a, --annotations <key=value>', 'require these signed annotations (repeatable)', collectKeyValue)
    .addOption(boolOpt('--check-claims', 'check that the signed claims name the image digest', true))
    .addOption(boolOpt('--insecure-ignore-tlog', 'do not require transparency-log evidence for the signatures'))
    .addOption(opt('--trusted-root <file>', 'trusted_root.json listing the transparency logs whose entries are accepted'))
    .addOption(opt('-o, --output <format>', 'output format: json or text', 'json'))
    .addOption(opt('--max-workers <n>', 'how many images to verify at once', '10'));
  addRegistryOptions(verify);
  examples(verify, [
    'signet verify --key cosign.pub --trusted-root trusted_root.json registry.example/app:v1',
    'signet verify --key cosign.pub --insecure-ignore-tlog registry.example/app:v1',
    'signet verify --key cosign.pub --insecure-ignore-tlog -a build=42 registry.example/app@sha256:…',
    'signet verify --key cosign.pub --insecure-ignore-tlog -o text img1 img2 img3',
  ]);
  verify.action(async (images: string[], flags: RegistryFlags & { key?: string; annotations?: Record<string, string>; checkClaims: boolean; insecureIgnoreTlog: boolean; trustedRoot?: string; output: string; maxWorkers: string }) => {
    if (!flags.key) {
      throw new SignetError('USAGE', 'keyless verification is not available yet: pass --key');
    }
    if (flags.output !== 'json' && flags.output !== 'text') throw new SignetError('USAGE', `unknown output format "${flags.output}" (json or text)`);
    const maxWorkers = parsePositiveInt(flags.maxWorkers);
    const key = await loadPublicKey(flags.key, () => readPassword({ confirm: false }));
    const trustedRoot = flags.trustedRoot && !flags.insecureIgnoreTlog ? await loadTrustedRoot(flags.trustedRoot) : undefined;
    if (flags.insecureIgnoreTlog) {
      ui.warn('Skipping tlog verification is an insecure practice that lacks transparency and auditability verification for the signature.');
    }
    const outcomes = await verifyImages({
      client: registryClient(flags),
      key,
      images,
      annotations: flags.annotations,
      checkClaims: flags.checkClaims,
      ignoreTlog: flags.insecureIgnoreTlog,
      trustedRoot,
      signatureRepository: process.env.COSIGN_REPOSITORY || undefined,
      maxWorkers,
    });
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

function printVerification(v: ImageVerification, flags: { annotations?: Record<string, string>; checkClaims: boolean; insecureIgnoreTlog: boolean; output: string }): void {
  const lines = [`\nVerification for ${v.input} --`, 'The following checks were performed on each of these signatures:'];
  if (flags.checkClaims && flags.annotations && Object.keys(flags.annotations).length > 0) lines.push('  - The specified annotations were verified.');
  if (flags.checkClaims) lines.push('  - The cosign claims were validated');
  if (!flags.insecureIgnoreTlog) lines.push(`  - ${TLOG_VERIFIED_LINE}`);
  lines.push('  - The signatures were verified against the specified public key');
  ui.info(lines.join('\n'));
  if (flags.output === 'text') {
    for (const s of v.verified) ui.out(s.payload.toString('utf8') + '\n');
  } else {
    ui.out('\n' + JSON.stringify(v.verified.map((s) => s.claims)) + '\n');
  }
}
