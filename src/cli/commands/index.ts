import type { Command } from 'commander';

type Loader = () => Promise<(program: Command) => void>;

/**
 * Each command module, keyed by the top-level commands it registers. Only the module of the command
 * being run is imported: loading every module (and the libraries behind them: undici, x509, jose,
 * sqlite…) for `signet version` tripled the CLI's cold start.
 */
/** For commands that describe every command: they are handed registerAll, since importing this module would be a circle. */
function withAll(register: (program: Command, all: typeof registerAll) => void): (program: Command) => void {
  return (program) => register(program, registerAll);
}

const MODULES: Array<{ commands: string[]; load: Loader }> = [
  { commands: ['sign', 'verify'], load: async () => (await import('./image.js')).registerImageCommands },
  { commands: ['dockerfile', 'manifest'], load: async () => (await import('./images-in-files.js')).registerImagesInFilesCommands },
  { commands: ['triangulate', 'tree', 'download', 'clean'], load: async () => (await import('./attachments.js')).registerAttachmentCommands },
  { commands: ['save', 'load', 'copy', 'attach', 'generate'], load: async () => (await import('./move.js')).registerMoveCommands },
  { commands: ['upload'], load: async () => (await import('./upload.js')).registerUploadCommands },
  { commands: ['bundle'], load: async () => (await import('./bundle.js')).registerBundleCommands },
  { commands: ['sign-blob', 'verify-blob'], load: async () => (await import('./blob.js')).registerBlobCommands },
  { commands: ['attest', 'verify-attestation', 'attest-blob', 'verify-blob-attestation'], load: async () => (await import('./attest.js')).registerAttestCommands },
  { commands: ['generate-key-pair', 'import-key-pair', 'public-key'], load: async () => (await import('./keys.js')).registerKeyCommands },
  { commands: ['pkcs11-tool'], load: async () => (await import('./pkcs11-tool.js')).registerPkcs11Tool },
  { commands: ['login'], load: async () => (await import('./login.js')).registerLogin },
  { commands: ['log'], load: async () => (await import('./log.js')).registerLogCommands },
  { commands: ['serve'], load: async () => (await import('./serve.js')).registerServe },
  { commands: ['initialize', 'trusted-root', 'signing-config'], load: async () => (await import('./trust.js')).registerTrustCommands },
  { commands: ['version'], load: async () => (await import('./version.js')).registerVersion },
  { commands: ['witness'], load: async () => (await import('./witness.js')).registerWitness },
  { commands: ['admission'], load: async () => (await import('./admission.js')).registerAdmission },
  { commands: ['dev'], load: async () => (await import('./dev.js')).registerDevCommands },
  { commands: ['completion'], load: async () => withAll((await import('./completion.js')).registerCompletion) },
  { commands: ['env'], load: async () => withAll((await import('./env.js')).registerEnv) },
  { commands: ['debug'], load: async () => (await import('./debug.js')).registerDebug },
];

/**
 * Register the command named in `argv` (or every command when none is named, e.g. for `--help`).
 * Returns the names of all commands, for help and suggestions.
 */
export async function registerAll(program: Command, argv: string[] = []): Promise<void> {
  const wanted = argv.find((a) => MODULES.some((m) => m.commands.includes(a)));
  const modules = wanted ? MODULES.filter((m) => m.commands.includes(wanted)) : MODULES;
  for (const register of await Promise.all(modules.map((m) => m.load()))) register(program);
}
