/** `triangulate`, `tree`, `download signature` and `clean`: what is attached to an image. */
import { Option, type Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { SignetError } from '../../errors.js';
import { assertCleanType, clean, downloadAttestations, downloadSignatures, platformImage, tree, triangulate, type AttachmentKind } from '../../cosign/inspect.js';
import { attachAttestations } from '../../cosign/attest.js';
import { readSmallFile } from '../../cosign/blob-io.js';
import { addRegistryOptions, boolOpt, examples, opt, ui, type RegistryFlags } from '../common.js';
import { registryClient } from '../registry.js';

const sigRepo = (): string | undefined => process.env.COSIGN_REPOSITORY || undefined;

export function registerAttachmentCommands(program: Command): void {
  const tri = program
    .command('triangulate')
    .description('print where the signatures (or attestations, SBOMs) of an image are stored')
    .argument('<image>', 'image reference')
    .addOption(opt('--type <type>', 'signature, attestation, sbom or digest', 'signature'));
  addRegistryOptions(tri);
  examples(tri, ['signet triangulate registry.example/app:v1', 'signet triangulate --type attestation registry.example/app:v1']);
  tri.action(async (image: string, flags: RegistryFlags & { type: string }) => {
    if (!['signature', 'attestation', 'sbom', 'digest'].includes(flags.type)) {
      throw new SignetError('USAGE', `unknown --type "${flags.type}" (signature, attestation, sbom or digest)`);
    }
    ui.out((await triangulate(registryClient(flags), image, flags.type as AttachmentKind | 'digest', sigRepo())) + '\n');
  });

  const tr = program
    .command('tree')
    .description('show the signatures, attestations, SBOMs and referrers attached to an image')
    .argument('<image>', 'image reference')
    .addOption(opt('-o, --output <format>', 'text or json', 'text'));
  addRegistryOptions(tr);
  examples(tr, ['signet tree registry.example/app:v1', 'signet tree -o json registry.example/app@sha256:…']);
  tr.action(async (image: string, flags: RegistryFlags & { output: string }) => {
    const t = await tree(registryClient(flags), image, sigRepo());
    if (flags.output === 'json') {
      ui.out(JSON.stringify(t, null, 2) + '\n');
      return;
    }
    const lines = [`📦 Supply Chain Security Related artifacts for an image: ${t.image}`];
    for (const e of t.tags) {
      lines.push(`└── 🔐 ${e.kind === 'signature' ? 'Signatures' : e.kind === 'attestation' ? 'Attestations' : 'SBOMs'} for an image tag: ${e.tag}`);
      for (const l of e.layers) lines.push(`   └── 🍒 ${l.digest}`);
    }
    if (t.referrers.length > 0) {
      lines.push(`└── 🔗 Referrers (${t.referrersSource === 'api' ? 'referrers API' : 'fallback tag'}):`);
      for (const r of t.referrers) {
        const predicate = r.annotations?.['dev.sigstore.bundle.predicateType'];
        lines.push(`   └── 🍒 ${r.digest} ${r.artifactType ?? r.mediaType}${predicate ? ` (${predicate})` : ''}`);
      }
    }
    if (t.tags.length === 0 && t.referrers.length === 0) lines.push('No Supply Chain Security Related Artifacts found for image');
    ui.out(lines.join('\n') + '\n');
  });

  const download = program.command('download').description('download things attached to an image');
  const dsig = download
    .command('signature')
    .description('print the signatures of an image, one JSON document per line (bundles first)')
    .argument('<image>', 'image reference');
  addRegistryOptions(dsig);
  examples(dsig, ['signet download signature registry.example/app:v1 | jq .']);
  dsig.action(async (image: string, flags: RegistryFlags) => {
    const lines = await downloadSignatures(registryClient(flags), image, sigRepo());
    if (lines.length === 0) throw new SignetError('NO_SIGNATURES', `no signatures found for ${image}`);
    ui.out(lines.join('\n') + '\n');
  });

  const datt = download
    .command('attestation')
    .description('print the attestations of an image, one JSON document per line: bundles from referrers, then each .att envelope')
    .argument('<image>', 'image reference')
    .addOption(opt('--predicate-type <type>', 'only attestations of this predicate type (an alias such as slsaprovenance1, or a URI)'))
    .addOption(opt('--platform <os/arch[/variant]>', 'for an index: the attestations of the image of this platform'));
  addRegistryOptions(datt);
  examples(datt, [
    'signet download attestation registry.example/app:v1 | jq -r .payload | base64 -d | jq .',
    'signet download attestation --predicate-type slsaprovenance1 --platform linux/amd64 registry.example/app:v1',
  ]);
  datt.action(async (image: string, flags: RegistryFlags & { predicateType?: string; platform?: string }) => {
    const client = registryClient(flags);
    const target = flags.platform ? await platformImage(client, image, flags.platform) : image;
    const lines = await downloadAttestations(client, target, { ...(flags.predicateType ? { predicateType: flags.predicateType } : {}), signatureRepository: sigRepo() });
    if (lines.length === 0) {
      throw new SignetError('NO_SIGNATURES', `no attestations found for ${image}${flags.predicateType ? ` of predicate type ${flags.predicateType}` : ''}`);
    }
    ui.out(lines.join('\n') + '\n');
  });

  const attach = program.command('attach').description('attach things made elsewhere to an image');
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
    const envelopes = await Promise.all(flags.attestation.map((f) => readSmallFile(f, 'attestation')));
    const done = await attachAttestations({
      client: registryClient(flags),
      images,
      envelopes,
      signatureRepository: sigRepo(),
      dockerMediaTypes: ['1', 'true'].includes(process.env.COSIGN_DOCKER_MEDIA_TYPES ?? ''),
    });
    for (const d of done) ui.info(`Attached ${envelopes.length} attestation${envelopes.length > 1 ? 's' : ''} to ${d.input} at ${d.location}`);
  });

  const cl = program
    .command('clean')
    .description('remove signatures, attestations, SBOMs and bundle referrers from an image')
    .argument('<image>', 'image reference')
    .addOption(opt('--type <type>', 'signature, attestation, sbom, referrer or all', 'all'))
    .addOption(boolOpt('-f, --force', 'do not ask for confirmation'));
  addRegistryOptions(cl);
  examples(cl, ['signet clean --type signature -f registry.example/app:v1']);
  cl.action(async (image: string, flags: RegistryFlags & { type: string; force: boolean }) => {
    const type = assertCleanType(flags.type);
    if (!flags.force) {
      if (!process.stdin.isTTY) throw new SignetError('USAGE', 'refusing to delete without confirmation: pass -f');
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = await rl.question(`This will delete ${type} attachments of ${image}. Are you sure? [y/N] `);
      rl.close();
      if (!/^y(es)?$/i.test(answer.trim())) throw new SignetError('USAGE', 'aborted');
    }
    const removed = await clean(registryClient(flags), image, type, sigRepo());
    for (const r of removed) ui.info(`Removed ${r}`);
    if (removed.length === 0) ui.info(`Nothing to remove for ${image}`);
  });
}
