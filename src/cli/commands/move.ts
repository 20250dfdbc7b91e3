/** `save`, `load`, `copy`, `attach signature|sbom|attestation` and `generate`: moving signed images and signing in two steps. */
import { setFlagsFromString } from 'node:v8';
import { Option, type Command } from 'commander';
import { SignetError } from '../../errors.js';
import { readFileLimited, FILE_LIMITS } from '../../fsutil.js';
import { copyImage, parseOnly, type TransferStats } from '../../cosign/copy.js';
import { loadImage, saveImage } from '../../cosign/save-load.js';
import { addRegistryOptions, boolOpt, collectKeyValue, examples, opt, ui, type RegistryFlags, signatureRepository, dockerMediaTypes } from '../common.js';
import { registryClient } from '../registry.js';

/**
 * Moving blobs makes short-lived garbage at the speed of the transfer (a few small objects per 64 KiB
 * piece). V8 answers the scavenges by doubling the young generation, up to 16 MiB a semi-space: RSS
 * for nothing kept. At its first size the scavenges keep up (1 GiB copy: peak RSS 114 -> 104 MiB, the
 * same speed). Set before the transfer starts; V8 reads the flag at each scavenge.
 */
function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}

// attach and generate need the signing side (sigstore/, keys/, ~15 MiB of the process): imported when
// one of them runs, so copy, save and load stay near the bare registry client's footprint.
const attachModule = (): Promise<typeof import('../../cosign/attach.js')> => import('../../cosign/attach.js');


interface OutputFlags {
  output: string;
}

function checkOutput(flags: OutputFlags): void {
  if (flags.output !== 'text' && flags.output !== 'json') throw new SignetError('USAGE', `unknown --output "${flags.output}" (text or json)`);
}

function report(what: string, s: TransferStats, flags: OutputFlags): void {
  const attached = [
    s.signatures ? `${s.signatures} signature image${s.signatures > 1 ? 's' : ''}` : '',
    s.attestations ? `${s.attestations} attestation image${s.attestations > 1 ? 's' : ''}` : '',
    s.sboms ? `${s.sboms} SBOM image${s.sboms > 1 ? 's' : ''}` : '',
    s.referrers ? `${s.referrers} referrer${s.referrers > 1 ? 's' : ''}` : '',
  ].filter(Boolean);
  ui.info(
    `${what} ${s.root.digest}${attached.length ? ` with ${attached.join(', ')}` : ''}: ` +
      `${s.blobsUploaded} blob${s.blobsUploaded === 1 ? '' : 's'} written, ${s.blobsMounted} mounted, ${s.blobsSkipped} already there; ` +
      `${s.manifestsPushed} manifest${s.manifestsPushed === 1 ? '' : 's'} written, ${s.manifestsSkipped} already there`,
  );
  if (flags.output === 'json') ui.out(JSON.stringify(s) + '\n');
}

export function registerMoveCommands(program: Command): void {
  const save = program
    .command('save')
    .description('save an image with its signatures, attestations, SBOMs and referrers to an OCI image layout directory')
    .argument('<image>', 'image reference')
    .addOption(opt('--dir <dir>', 'directory to create (must not exist, or be empty)'))
    .addOption(opt('-o, --output <format>', 'text, or json for a summary on stdout', 'text'));
  addRegistryOptions(save);
  examples(save, ['signet save --dir ./app-layout registry.example/app:v1', 'skopeo copy oci:./app-layout:v1 docker://other.example/app:v1   # any OCI tool reads it']);
  save.action(async (image: string, flags: RegistryFlags & OutputFlags & { dir?: string }) => {
    checkOutput(flags);
    if (!flags.dir) throw new SignetError('USAGE', 'save needs --dir DIR');
    keepYoungGenerationSmall();
    const stats = await saveImage({ client: registryClient(flags), image, dir: flags.dir });
    report(`Saved ${image} to ${flags.dir}:`, stats, flags);
  });

  const load = program
    .command('load')
    .description('push an image saved with `save` (or cosign save) and everything attached to it to a registry')
    .argument('<image>', 'where to push the image (its tag; default latest)')
    .addOption(opt('--dir <dir>', 'the OCI image layout directory'))
    .addOption(boolOpt('-f, --force', 'overwrite destination tags that name something else'))
    .addOption(opt('-o, --output <format>', 'text, or json for a summary on stdout', 'text'));
  addRegistryOptions(load);
  examples(load, ['signet load --dir ./app-layout registry.internal/app:v1', 'signet verify --key cosign.pub --local-image ./app-layout   # no registry needed']);
  load.action(async (image: string, flags: RegistryFlags & OutputFlags & { dir?: string; force: boolean }) => {
    checkOutput(flags);
    if (!flags.dir) throw new SignetError('USAGE', 'load needs --dir DIR');
    keepYoungGenerationSmall();
    const stats = await loadImage({ client: registryClient(flags), image, dir: flags.dir, force: flags.force, onEvent: (m) => ui.info(m) });
    report(`Loaded ${flags.dir} into ${image}:`, stats, flags);
  });

  const copy = program
    .command('copy')
    .description('copy an image and everything attached to it (signatures, attestations, SBOMs, OCI referrers) to another repository or registry')
    .argument('<source>', 'source image reference')
    .argument('<destination>', 'destination image reference')
    .addOption(opt('--only <kinds>', 'copy only these attachments, not the image: comma-separated sig, att, sbom, referrer'))
    .addOption(opt('--platform <platform>', 'from an index, copy only this platform (os/arch[/variant])'))
    .addOption(boolOpt('-f, --force', 'overwrite destination tags that name something else'))
    .addOption(opt('-o, --output <format>', 'text, or json for a summary on stdout', 'text'));
  addRegistryOptions(copy);
  examples(copy, [
    'signet copy registry.example/app:v1 mirror.example/app:v1',
    'signet copy --only sig,att registry.example/app@sha256:… mirror.example/app',
    'signet copy --platform linux/arm64 registry.example/app:v1 mirror.example/app:v1-arm64',
    'signet copy -f registry.example/app:v1 mirror.example/app:v1   # replace what the destination tag names',
    'signet -t 30m copy registry.example/big:v1 mirror.example/big:v1   # the default 3m deadline is short for GiBs',
  ]);
  copy.action(async (source: string, destination: string, flags: RegistryFlags & OutputFlags & { only?: string; platform?: string; force: boolean }) => {
    checkOutput(flags);
    const only = parseOnly(flags.only);
    keepYoungGenerationSmall();
    const stats = await copyImage({
      client: registryClient(flags),
      source,
      destination,
      force: flags.force,
      onEvent: (m) => ui.info(m),
      ...(only ? { only } : {}),
      ...(flags.platform ? { platform: flags.platform } : {}),
    });
    report(`Copied ${source} to ${destination}:`, stats, flags);
  });

  const attach = program.command('attach').description('attach signatures, SBOMs and attestations made elsewhere to an image');
  const asig = attach
    .command('signature')
    .description('attach a signature made outside Signet (an HSM, openssl) to an image, in cosign\'s .sig format')
    .argument('<image>', 'image reference')
    .addOption(opt('--signature <file>', 'the signature: base64 (as cosign writes it) or raw bytes'))
    .addOption(opt('--payload <file>', 'the signed payload (default: what `signet generate` prints for the image)'))
    .addOption(opt('--certificate <file>', 'PEM certificate of the signing key'))
    .addOption(opt('--certificate-chain <file>', 'PEM chain of the certificate'));
  addRegistryOptions(asig);
  examples(asig, [
    'signet generate registry.example/app:v1 > payload.json',
    'openssl dgst -sha256 -sign key.pem -out payload.sig payload.json',
    'signet attach signature --payload payload.json --signature payload.sig registry.example/app:v1',
    'signet verify --key key.pub --insecure-ignore-tlog registry.example/app:v1',
  ]);
  asig.action(async (image: string, flags: RegistryFlags & { signature?: string; payload?: string; certificate?: string; certificateChain?: string }) => {
    if (!flags.signature) throw new SignetError('USAGE', 'attach signature needs --signature FILE');
    const { attachSignature, decodeSignatureFile } = await attachModule();
    const signature = decodeSignatureFile(await readFileLimited(flags.signature, FILE_LIMITS.small, `signature ${flags.signature}`));
    const payload = flags.payload ? await readFileLimited(flags.payload, FILE_LIMITS.small, `payload ${flags.payload}`) : undefined;
    const certificate = flags.certificate ? (await readFileLimited(flags.certificate, FILE_LIMITS.small, `certificate ${flags.certificate}`)).toString('utf8') : undefined;
    const certificateChain = flags.certificateChain ? (await readFileLimited(flags.certificateChain, FILE_LIMITS.small, `certificate chain ${flags.certificateChain}`)).toString('utf8') : undefined;
    if (certificate !== undefined && !certificate.includes('-----BEGIN CERTIFICATE-----')) throw new SignetError('USAGE', `${flags.certificate} holds no PEM certificate`);
    const r = await attachSignature({
      client: registryClient(flags),
      image,
      signature,
      ...(payload ? { payload } : {}),
      ...(certificate ? { certificate } : {}),
      ...(certificateChain ? { certificateChain } : {}),
      signatureRepository: signatureRepository(),
    });
    ui.info(r.unchanged ? `${image}: this signature was already attached at ${r.location}` : `Attached the signature of ${r.digest} at ${r.location}`);
  });

  const asbom = attach
    .command('sbom')
    .description('attach an SBOM to an image as cosign does (the .sbom image)')
    .argument('<image>', 'image reference')
    .addOption(opt('--sbom <file>', 'the SBOM file'))
    .addOption(opt('--type <type>', 'spdx, cyclonedx or syft', 'spdx'))
    .addOption(opt('--input-format <format>', 'json, xml or text (default: JSON when the file looks like it)'));
  addRegistryOptions(asbom);
  examples(asbom, ['signet attach sbom --sbom sbom.spdx.json registry.example/app:v1', 'signet attach sbom --type cyclonedx --sbom bom.xml registry.example/app:v1']);
  asbom.action(async (image: string, flags: RegistryFlags & { sbom?: string; type: string; inputFormat?: string }) => {
    if (!flags.sbom) throw new SignetError('USAGE', 'attach sbom needs --sbom FILE');
    const sbom = await readFileLimited(flags.sbom, 128 * 1024 * 1024, `SBOM ${flags.sbom}`);
    const { attachSbom } = await attachModule();
    const r = await attachSbom({ client: registryClient(flags), image, sbom, type: flags.type, ...(flags.inputFormat ? { inputFormat: flags.inputFormat } : {}), signatureRepository: signatureRepository() });
    ui.info(`Attached the SBOM (${r.mediaType}) of ${r.digest} at ${r.location}`);
  });

  const aatt = attach
    .command('attestation')
    .description('attach ready DSSE envelopes (e.g. from attest-blob --output-signature or another tool) to an image as layers of its .att image, as cosign does')
    .argument('<image...>', 'image references')
    .addOption(new Option('--attestation <file>', 'a DSSE envelope (JSON) to attach (repeatable)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]));
  addRegistryOptions(aatt);
  examples(aatt, ['signet attach attestation --attestation envelope.json registry.example/app:v1', 'signet attach attestation --attestation a.json --attestation b.json registry.example/app@sha256:…']);
  aatt.action(async (images: string[], flags: RegistryFlags & { attestation?: string[] }) => {
    if (!flags.attestation || flags.attestation.length === 0) throw new SignetError('USAGE', 'pass the envelope to attach with --attestation FILE');
    // Every file read and checked before anything is pushed.
    const [{ readSmallFile }, { attachAttestations }] = await Promise.all([import('../../cosign/blob-io.js'), import('../../cosign/attest.js')]);
    const envelopes = await Promise.all(flags.attestation.map((f) => readSmallFile(f, 'attestation')));
    const done = await attachAttestations({
      client: registryClient(flags),
      images,
      envelopes,
      signatureRepository: signatureRepository(),
      dockerMediaTypes: dockerMediaTypes(),
    });
    for (const d of done) ui.info(`Attached ${envelopes.length} attestation${envelopes.length > 1 ? 's' : ''} to ${d.input} at ${d.location}`);
  });

  const gen = program
    .command('generate')
    .description('print the payload that signing an image signs (cosign\'s simple-signing JSON), for signing it elsewhere')
    .argument('<image>', 'image reference (a tag is resolved to its digest)')
    .option('-a, --annotations <key=value>', 'extra key=value pairs to sign (repeatable)', collectKeyValue);
  addRegistryOptions(gen);
  examples(gen, ['signet generate registry.example/app:v1 > payload.json', 'signet generate -a build=42 registry.example/app@sha256:…']);
  gen.action(async (image: string, flags: RegistryFlags & { annotations?: Record<string, string> }) => {
    const { generatePayload } = await attachModule();
    const { payload } = await generatePayload(registryClient(flags), image, flags.annotations);
    ui.out(payload.toString('utf8') + '\n');
  });
}
