/**
 * Shared CLI plumbing: cosign-style options that also read `COSIGN_<FLAG>` from the environment,
 * stderr/stdout helpers and the registry flag group. Commands stay thin: parse, call the library, print.
 */
import { Command, Option } from 'commander';
import { SignetError } from '../errors.js';

/** `--allow-insecure-registry` → `COSIGN_ALLOW_INSECURE_REGISTRY`, as cosign's viper binding does. */
export function envNameFor(flags: string): string {
  const long = /--([a-z0-9-]+)/.exec(flags)?.[1];
  if (!long) throw new Error(`option without long name: ${flags}`);
  return 'COSIGN_' + long.toUpperCase().replace(/-/g, '_');
}

/** An option bound to its COSIGN_* environment variable. */
export function opt(flags: string, description: string, defaultValue?: unknown): Option {
  const o = new Option(flags, description).env(envNameFor(flags));
  if (defaultValue !== undefined) o.default(defaultValue);
  return o;
}

/** Boolean flags in cosign accept `--flag`, `--flag=true` and `--flag=false`. */
export function boolOpt(flags: string, description: string, defaultValue = false): Option {
  const o = new Option(`${flags} [bool]`, description)
    .env(envNameFor(flags))
    .default(defaultValue)
    .argParser(parseBool);
  o.preset('true');
  return o;
}

export function parseBool(v: string | boolean | undefined): boolean {
  if (typeof v === 'boolean') return v;
  if (v === undefined) return true;
  const s = v.toLowerCase();
  if (['true', '1', 'yes', 't'].includes(s)) return true;
  if (['false', '0', 'no', 'f'].includes(s)) return false;
  throw new SignetError('USAGE', `invalid boolean value "${v}" (use true or false)`);
}

/**
 * cosign's boolean flags are `--flag`, `--flag=true` or `--flag=false`, never `--flag false`. Our boolean
 * options take an optional value so that `=false` works; to stop them swallowing the next argument
 * (`--recursive image`), a bare boolean flag of the command being run is rewritten to `--flag=true`.
 */
export function normalizeBooleanFlags(program: Command, argv: string[]): string[] {
  let cmd: Command = program;
  const out: string[] = [];
  for (const arg of argv) {
    const sub = arg.startsWith('-') ? undefined : cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (sub) {
      cmd = sub;
      out.push(arg);
      continue;
    }
    const opt = cmd.options.find((o) => o.flags.endsWith('[bool]') && (o.long === arg || o.short === arg));
    out.push(opt ? `${opt.long}=true` : arg);
  }
  return out;
}

/** Repeatable `-a key=value` options collect into a record. */
export function collectKeyValue(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0) throw new SignetError('USAGE', `annotation "${value}" is not of the form key=value`);
  return { ...(previous ?? {}), [value.slice(0, i)]: value.slice(i + 1) };
}

export function parsePositiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new SignetError('USAGE', `expected a positive integer, got "${v}"`);
  return n;
}

/** `--output-file`: machine output collected here instead of stdout, written whole when the command succeeds. */
let captured: Buffer[] | undefined;

export function captureStdout(): void {
  captured = [];
}

/** What `ui.out` collected since `captureStdout`, or undefined when stdout was not captured. */
export function capturedStdout(): Buffer | undefined {
  return captured ? Buffer.concat(captured) : undefined;
}

/** Messages for people go to stderr; machine output to stdout (or the --output-file). */
export const ui = {
  info(msg: string): void {
    process.stderr.write(msg + '\n');
  },
  warn(msg: string): void {
    process.stderr.write('WARNING: ' + msg + '\n');
  },
  out(text: string): void {
    if (captured) captured.push(Buffer.from(text, 'utf8'));
    else process.stdout.write(text);
  },
};

/** The registry flag group (cosign's REG options). */
export function addRegistryOptions(cmd: Command): Command {
  return cmd
    .addOption(boolOpt('--allow-insecure-registry', 'skip TLS verification of the registry (and allow plain HTTP)'))
    .addOption(boolOpt('--allow-http-registry', 'allow plain HTTP to the registry'))
    .addOption(opt('--registry-username <user>', 'username for registry basic auth'))
    .addOption(opt('--registry-password <password>', 'password for registry basic auth'))
    .addOption(opt('--registry-token <token>', 'bearer token for the registry'))
    .addOption(opt('--registry-cacert <file>', 'PEM file of CA certificates to trust for the registry'))
    .addOption(opt('--registry-client-cert <file>', 'PEM client certificate for registries that require mutual TLS (with --registry-client-key)'))
    .addOption(opt('--registry-client-key <file>', 'PEM private key of --registry-client-cert'))
    .addOption(opt('--registry-server-name <name>', 'TLS server name (SNI) to expect from the registry instead of its host name'))
    .addOption(opt('--registry-referrers-mode <mode>', 'legacy: the OCI 1.1 referrers API when the registry has it, else the sha256-<digest> tag; oci-1-1: the API only (an error where there is none)', 'legacy'));
}

export interface RegistryFlags {
  allowInsecureRegistry?: boolean;
  allowHttpRegistry?: boolean;
  registryUsername?: string;
  registryPassword?: string;
  registryToken?: string;
  registryCacert?: string;
  registryClientCert?: string;
  registryClientKey?: string;
  registryServerName?: string;
  registryReferrersMode?: string;
}

/** Append an "Examples:" section to a command's --help. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', '\nExamples:\n' + lines.map((l) => '  ' + l).join('\n') + '\n');
}

/** COSIGN_REPOSITORY: where signatures and attestations are stored instead of beside the image. */
export function signatureRepository(): string | undefined {
  return process.env.COSIGN_REPOSITORY || undefined;
}

/** COSIGN_DOCKER_MEDIA_TYPES: write Docker media types rather than OCI ones, as cosign's variable does. */
export function dockerMediaTypes(): boolean {
  return ['1', 'true'].includes(process.env.COSIGN_DOCKER_MEDIA_TYPES ?? '');
}

/** Resolves once SIGTERM or SIGINT has arrived and `close` has finished: how a long-running command ends. */
export function untilSignal(close: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const stop = (): void => void close().then(resolve, reject);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
