/** `triangulate`, `tree`, `download signature` and `clean`: what is attached to an image. */
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { SignetError } from '../../errors.js';
import { assertCleanType, clean, downloadAttestations, downloadSignatures, platformImage, tree, triangulate, type AttachmentKind } from '../../cosign/inspect.js';
import { addRegistryOptions, boolOpt, examples, opt, ui, type RegistryFlags, signatureRepository } from '../common.js';
import { registryClient } from '../registry.js';
import { downloadSboms } from '../../cosign/attach.js';


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
    ui.out((await triangulate(registryClient(flags), image, flags.type as AttachmentKind | 'digest', signatureRepository())) + '\n');
  });

  const tr = program
    .command('tree')
    .description('show the signatures, attestations, SBOMs and referrers attached to an image')
    .argument('<image>', 'image reference')
    .addOption(opt('-o, --output <format>', 'text or json', 'text'));
  addRegistryOptions(tr);
  examples(tr, ['signet tree registry.example/app:v1', 'signet tree -o json registry.example/app@sha256:…']);
  tr.action(async (image: string, flags: RegistryFlags & { output: string }) => {
    const t = await tree(registryClient(flags), image, signatureRepository());
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
    const lines = await downloadSignatures(registryClient(flags), image, signatureRepository());
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
    const lines = await downloadAttestations(client, target, { ...(flags.predicateType ? { predicateType: flags.predicateType } : {}), signatureRepository: signatureRepository() });
    if (lines.length === 0) {
      throw new SignetError('NO_SIGNATURES', `no attestations found for ${image}${flags.predicateType ? ` of predicate type ${flags.predicateType}` : ''}`);
    }
    ui.out(lines.join('\n') + '\n');
  });

  const dsbom = download
    .command('sbom')
    .description('print the SBOM attached to an image (with attach sbom or cosign); its media type goes to stderr')
    .argument('<image>', 'image reference');
  addRegistryOptions(dsbom);
  examples(dsbom, ['signet download sbom registry.example/app:v1 > sbom.spdx.json', 'signet --output-file sbom.json download sbom registry.example/app:v1']);
  dsbom.action(async (image: string, flags: RegistryFlags) => {
    for (const s of await downloadSboms(registryClient(flags), image, signatureRepository())) {
      ui.info(`Found SBOM of media type: ${s.mediaType}`);
      ui.out(s.bytes.toString('utf8'));
    }
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
    const removed = await clean(registryClient(flags), image, type, signatureRepository());
    for (const r of removed) ui.info(`Removed ${r}`);
    if (removed.length === 0) ui.info(`Nothing to remove for ${image}`);
  });
}
