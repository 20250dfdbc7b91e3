/**
 * Trust configuration commands, as in cosign: `initialize` (TUF), `trusted-root create` and
 * `signing-config create` for operators of a private Sigstore. The builders themselves are library code (sigstore/trust-builder.ts).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { createHash } from 'node:crypto';
import { SignetError } from '../../errors.js';
import { writeFileAtomic } from '../../fsutil.js';
import { loadSigningConfig, parseSigningConfig, publicGoodSigningConfig, serializeSigningConfig, type SigningConfig } from '../../sigstore/signing-config.js';
import { buildSigningConfigFromSpecs, buildTrustedRoot, type SigningConfigSpecs, type TrustedRootSpecs } from '../../sigstore/trust-builder.js';
import { DEFAULT_TUF_MIRROR, defaultTufCacheDir, initialize, publicGoodTrustedRootBytes, tufTrust } from '../../sigstore/tuf.js';
import { boolOpt, examples, opt, ui } from '../common.js';

const usage = (msg: string): never => {
  throw new SignetError('USAGE', msg);
};

/** commander reads `--no-X` as X=false (default true), so these are plain negatable flags. */
interface DefaultFlags {
  withDefaultServices?: boolean;
  defaultFulcio?: boolean;
  defaultRekor?: boolean;
  defaultCtfe?: boolean;
  defaultOidc?: boolean;
  defaultTsa?: boolean;
}

const noDefaultOpt = (flags: string, description: string): Option => new Option(flags, description);

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

async function emit(text: string, out: string | undefined): Promise<void> {
  if (out) {
    await writeFileAtomic(out, text);
    ui.info(`Wrote ${out}`);
  } else {
    ui.out(text);
  }
}

/** --root-checksum: [sha256:|sha512:]hex, checked against the root's bytes (file or URL) before they are used. */
function rootChecksum(spec: string): (bytes: Buffer, root: string) => void {
  const m = /^(?:(sha256|sha512):)?([0-9a-fA-F]+)$/.exec(spec);
  const alg = m?.[1] ?? 'sha256';
  if (!m || m[2]!.length !== (alg === 'sha256' ? 64 : 128)) usage(`--root-checksum "${spec}" is not [sha256:|sha512:]<hex digest>`);
  return (bytes, root) => {
    if (createHash(alg).update(bytes).digest('hex') !== m![2]!.toLowerCase()) {
      throw new SignetError('VERIFICATION', `--root ${root} does not match --root-checksum`);
    }
  };
}

export function registerTrustCommands(program: Command): void {
  const init = program
    .command('initialize')
    .description('initialize the TUF trust root cache (the public-good instance by default)')
    .addOption(opt('--mirror <url>', `TUF repository: http(s)://… or file:///DIR (default $TUF_MIRROR, else ${DEFAULT_TUF_MIRROR})`))
    .addOption(opt('--root <file|url>', 'trusted TUF root.json to start from, a file or an http(s) URL (default $TUF_ROOT_JSON; required for a mirror other than the default)'))
    .addOption(opt('--root-checksum <digest>', 'expected [sha256:|sha512:]hex digest of --root'))
    .action(async (o: { mirror?: string; root?: string; rootChecksum?: string }) => {
      const root = o.root ?? (process.env.TUF_ROOT_JSON || undefined);
      if (o.rootChecksum && !root) usage('--root-checksum needs --root');
      const check = o.rootChecksum ? rootChecksum(o.rootChecksum) : undefined;
      const r = await initialize({
        mirror: o.mirror ?? (process.env.TUF_MIRROR || DEFAULT_TUF_MIRROR),
        ...(root ? { root } : {}),
        ...(check ? { checkRoot: check } : {}),
        cacheDir: defaultTufCacheDir(),
      });
      const tr = r.trustedRoot;
      ui.info(
        `Initialized TUF from ${r.mirror} in ${r.cacheDir}: trusted_root.json (${tr.tlogs.length} logs, ${tr.certificateAuthorities.length} CAs, ` +
          `${tr.ctlogs.length} CT logs, ${tr.timestampAuthorities.length} TSAs)${r.signingConfig ? ', signing_config.v0.2.json' : ''}`,
      );
    });
  examples(init, [
    'signet initialize',
    'signet initialize --mirror https://tuf.example.com --root root.json',
    'TUF_ROOT=/var/cache/sigstore signet initialize',
    '# a private Sigstore served by `signet serve` (it publishes its trust material under /tuf):',
    'signet initialize --mirror https://sigstore.example.com/tuf --root https://sigstore.example.com/tuf/root.json --root-checksum sha256:<hex>',
    'signet initialize --mirror file:///srv/tuf-repo --root /srv/tuf-repo/1.root.json',
  ]);

  const tr = program.command('trusted-root').description('create trusted_root.json files for private Sigstore deployments');
  const trCreate = tr
    .command('create')
    .description('create a trusted_root.json from CA, log, CT log and TSA material')
    .addOption(new Option('--fulcio <spec>', 'CA: url=URL,certificate-chain=FILE[,start-time=T,end-time=T] (repeatable)').argParser(collect))
    .addOption(new Option('--rekor <spec>', 'log: url=URL,public-key=FILE,start-time=T[,end-time=T,origin=NAME] (repeatable)').argParser(collect))
    .addOption(new Option('--ctfe <spec>', 'CT log: url=URL,public-key=FILE,start-time=T[,end-time=T] (repeatable)').argParser(collect))
    .addOption(new Option('--tsa <spec>', 'TSA: url=URL,certificate-chain=FILE[,start-time=T,end-time=T] (repeatable)').argParser(collect))
    .addOption(boolOpt('--with-default-services', 'start from the Sigstore trusted root (the TUF cache\'s after initialize, else the pinned public-good one); the flags above replace the defaults of their kind'))
    .addOption(noDefaultOpt('--no-default-fulcio', 'with --with-default-services: leave out the default CAs'))
    .addOption(noDefaultOpt('--no-default-rekor', 'with --with-default-services: leave out the default logs'))
    .addOption(noDefaultOpt('--no-default-ctfe', 'with --with-default-services: leave out the default CT logs'))
    .addOption(noDefaultOpt('--no-default-tsa', 'with --with-default-services: leave out the default TSAs'))
    .addOption(opt('--out <file>', 'write to this file (atomically) instead of stdout'))
    .action(async (o: TrustedRootSpecs & DefaultFlags & { out?: string }) => {
      const noDefault = { fulcio: o.defaultFulcio === false, rekor: o.defaultRekor === false, ctfe: o.defaultCtfe === false, tsa: o.defaultTsa === false };
      if (!o.withDefaultServices) {
        if (Object.values(noDefault).some(Boolean)) usage('--no-default-* flags need --with-default-services');
        if (!o.fulcio && !o.rekor && !o.ctfe && !o.tsa) usage('give at least one of --fulcio, --rekor, --ctfe, --tsa (or --with-default-services)');
      }
      const defaults = o.withDefaultServices ? ((await tufTrust())?.trustedRootBytes ?? publicGoodTrustedRootBytes()) : undefined;
      await emit(await buildTrustedRoot({ ...o, ...(defaults ? { defaults, noDefault } : {}) }), o.out);
    });
  examples(trCreate, [
    'signet trusted-root create \\',
    '  --fulcio "url=https://ca.example.com,certificate-chain=ca-chain.pem" \\',
    '  --rekor "url=https://log.example.com,public-key=log.pub,start-time=2025-01-01T00:00:00Z" \\',
    '  --tsa "url=https://tsa.example.com/api/v1/timestamp,certificate-chain=tsa-chain.pem" \\',
    '  --out trusted_root.json',
    'signet trusted-root create --rekor "url=https://log2.example.com,public-key=log2.pub,start-time=2025-06-01T00:00:00Z,origin=log2.example.com"',
    '# the public-good services, with a private CA instead of Fulcio and no CT logs:',
    'signet trusted-root create --with-default-services --no-default-ctfe --fulcio "url=https://ca.example.com,certificate-chain=ca-chain.pem" --out trusted_root.json',
  ]);

  const sc = program.command('signing-config').description('create signing_config.json files for private Sigstore deployments');
  const scCreate = sc
    .command('create')
    .description('create a signing_config.v0.2.json naming the CA, OIDC provider, logs and TSAs to sign with')
    .addOption(new Option('--fulcio <spec>', 'CA: url=URL,api-version=1,start-time=T,operator=NAME[,end-time=T] (repeatable)').argParser(collect))
    .addOption(new Option('--rekor <spec>', 'log: url=URL,api-version=1|2,start-time=T,operator=NAME[,end-time=T] (repeatable)').argParser(collect))
    .addOption(new Option('--oidc-provider <spec>', 'OIDC issuer: url=URL,api-version=1,start-time=T,operator=NAME[,end-time=T] (repeatable)').argParser(collect))
    .addOption(new Option('--tsa <spec>', 'TSA: url=FULL_URL,api-version=1,start-time=T,operator=NAME[,end-time=T] (repeatable)').argParser(collect))
    .addOption(opt('--rekor-config <selector>', 'how many logs to use: ANY, ALL or EXACT:<n> (default ANY, or the base config\'s)'))
    .addOption(opt('--tsa-config <selector>', 'how many TSAs to use: ANY, ALL or EXACT:<n> (default ANY, or the base config\'s)'))
    .addOption(boolOpt('--with-default-services', 'start from the Sigstore signing config (the TUF cache\'s after initialize, else the pinned public-good one); the flags above replace the defaults of their kind'))
    .addOption(opt('--base-config <file>', 'start from this signing config instead, as --with-default-services does'))
    .addOption(noDefaultOpt('--no-default-fulcio', 'with defaults: leave out the default CAs'))
    .addOption(noDefaultOpt('--no-default-rekor', 'with defaults: leave out the default logs (sign without a log)'))
    .addOption(noDefaultOpt('--no-default-oidc', 'with defaults: leave out the default OIDC providers'))
    .addOption(noDefaultOpt('--no-default-tsa', 'with defaults: leave out the default TSAs'))
    .addOption(opt('--out <file>', 'write to this file (atomically) instead of stdout'))
    .action(async (o: SigningConfigSpecs & DefaultFlags & { baseConfig?: string; out?: string }) => {
      const noDefault = { fulcio: o.defaultFulcio === false, rekor: o.defaultRekor === false, oidc: o.defaultOidc === false, tsa: o.defaultTsa === false };
      if (o.baseConfig && o.withDefaultServices) usage('--base-config and --with-default-services cannot be used together: pick one starting point');
      const withDefaults = o.withDefaultServices || o.baseConfig !== undefined;
      if (!withDefaults) {
        if (Object.values(noDefault).some(Boolean)) usage('--no-default-* flags need --with-default-services or --base-config');
        if (!o.fulcio && !o.rekor && !o.oidcProvider && !o.tsa) usage('give at least one of --fulcio, --rekor, --oidc-provider, --tsa (or --with-default-services / --base-config)');
      }
      let defaults: SigningConfig | undefined;
      if (o.baseConfig) defaults = await loadSigningConfig(o.baseConfig);
      else if (o.withDefaultServices) {
        const fromTuf = (await tufTrust())?.signingConfigBytes;
        defaults = fromTuf ? parseSigningConfig(fromTuf) : publicGoodSigningConfig();
      }
      await emit(serializeSigningConfig(buildSigningConfigFromSpecs({ ...o, ...(defaults ? { defaults, noDefault } : {}) })), o.out);
    });
  examples(scCreate, [
    'signet signing-config create \\',
    '  --fulcio "url=https://ca.example.com,api-version=1,start-time=2025-01-01T00:00:00Z,operator=example.com" \\',
    '  --rekor "url=https://log.example.com,api-version=1,start-time=2025-01-01T00:00:00Z,operator=example.com" \\',
    '  --tsa "url=https://tsa.example.com/api/v1/timestamp,api-version=1,start-time=2025-01-01T00:00:00Z,operator=example.com" \\',
    '  --oidc-provider "url=https://issuer.example.com,api-version=1,start-time=2025-01-01T00:00:00Z,operator=example.com" \\',
    '  --rekor-config ANY --tsa-config EXACT:1 --out signing_config.json',
    '# the public-good services without a transparency log (sign with the TSA alone):',
    'signet signing-config create --with-default-services --no-default-rekor --out no-log.json',
    'signet signing-config create --base-config signing_config.json --tsa "url=https://tsa2.example.com/api/v1/timestamp,api-version=1,start-time=2025-01-01T00:00:00Z,operator=example.com"',
  ]);
}
