/** `signet upload blob` and `signet upload wasm`: files pushed as OCI images, as cosign's. */
import type { Command } from 'commander';
import { readBlob } from '../../cosign/blob-io.js';
import { parseFileFlag, uploadFiles, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, type UploadFile } from '../../cosign/upload.js';
import { SignetError } from '../../errors.js';
import { addRegistryOptions, collectKeyValue, examples, opt, ui, type RegistryFlags } from '../common.js';
import { registryClient } from '../registry.js';

interface BlobFlags extends RegistryFlags {
  files: string[];
  ct?: string;
  annotation?: Record<string, string>;
}

interface WasmFlags extends RegistryFlags {
  file?: string;
}

export function registerUploadCommands(program: Command): void {
  const upload = program.command('upload').description('upload artifacts (files, wasm modules) to a registry as OCI images');

  const blob = upload
    .command('blob')
    .description('upload one or more files to an image reference (several: one per platform, as an image index)')
    .argument('<image>', 'where to push (a tag; default latest)')
    .option('-f, --files <file[:os[/arch]]>', 'a file to upload, with its platform when several are given (repeatable, or comma-separated)', (v: string, prev: string[] = []) => [...prev, ...v.split(',')], [] as string[])
    .addOption(opt('--ct <type>', 'the layer media type (default: sniffed from the content, e.g. text/plain)'))
    .option('--annotation <key=value>', 'an annotation on the manifest (repeatable)', collectKeyValue);
  addRegistryOptions(blob);
  examples(blob, [
    'signet upload blob -f foo registry.example/files/foo:v1',
    'signet upload blob -f foo:MYOS/MYARCH registry.example/files/foo:v1',
    'signet upload blob -f foo-darwin:darwin -f foo-linux:linux registry.example/files/foo:v1   # an index, one image per platform',
    'signet upload blob --ct application/x-sh -f install.sh registry.example/files/install:v1 && signet sign --key cosign.key registry.example/files/install:v1',
  ]);
  blob.action(async (image: string, flags: BlobFlags) => {
    if (flags.files.length === 0) throw new SignetError('USAGE', 'nothing to upload: pass -f FILE');
    const files: UploadFile[] = [];
    for (const value of flags.files) {
      const f = parseFileFlag(value);
      files.push({ name: f.path, bytes: await readBlob(f.path), ...(f.platform ? { platform: f.platform } : {}) });
    }
    const r = await uploadFiles({ client: registryClient(flags), image, files, ...(flags.ct ? { contentType: flags.ct } : {}), ...(flags.annotation ? { annotations: flags.annotation } : {}) });
    ui.info(r.index ? `Uploaded multi-platform index to ${r.reference}` : 'Uploaded image to:');
    ui.out(r.reference + '\n');
  });

  const wasm = upload
    .command('wasm')
    .description('upload a wasm module to an image reference (wasm layer and config media types)')
    .argument('<image>', 'where to push (a tag; default latest)')
    .addOption(opt('-f, --file <file>', 'the wasm module'));
  addRegistryOptions(wasm);
  examples(wasm, ['signet upload wasm -f module.wasm registry.example/wasm/module:v1']);
  wasm.action(async (image: string, flags: WasmFlags) => {
    if (!flags.file) throw new SignetError('USAGE', 'pass -f FILE (the wasm module)');
    const bytes = await readBlob(flags.file);
    if (!bytes.subarray(0, 4).equals(Buffer.from([0x00, 0x61, 0x73, 0x6d]))) throw new SignetError('USAGE', `${flags.file} is not a wasm module (no \\0asm header)`);
    ui.info(`Uploading wasm file from [${flags.file}] to [${image}].`);
    const r = await uploadFiles({ client: registryClient(flags), image, files: [{ name: flags.file, bytes }], contentType: WASM_LAYER_MEDIA_TYPE, configMediaType: WASM_CONFIG_MEDIA_TYPE });
    ui.out(r.reference + '\n');
  });
}
