/**
 * The Sigstore client conformance protocol (sigstore/sigstore-conformance `docs/cli_protocol.md`):
 *   sign-bundle [--staging] [--in-toto] --identity-token T --bundle F [--trusted-root R] [--signing-config C] FILE
 *   verify-bundle [--staging] --bundle F (--certificate-identity I --certificate-oidc-issuer U | --key K)
 *                 [--trusted-root R] FILE_OR_DIGEST
 * Exit 0 means success; anything else is failure, with one line on stderr saying why.
 */
import { existsSync, promises as fs } from 'node:fs';
import { describeError, SignetError } from '../errors.js';
import { writeFileAtomic, ioError } from '../fsutil.js';
import { parsePublicKey } from '../keys/index.js';
import { parseBundle } from '../sigstore/bundle.js';
import { IN_TOTO_PAYLOAD_TYPE } from '../sigstore/dsse.js';
import { loadSigningConfig, publicGoodSigningConfig } from '../sigstore/signing-config.js';
import { signBundleKeyless } from '../sigstore/sign-keyless.js';
import { loadTrustedRoot, type TrustedRoot } from '../sigstore/trustedroot.js';
import { loadPublicGoodTrustedRoot } from '../sigstore/tuf.js';
import { prepareTrust, verifyBundle, type VerifyPolicy } from '../sigstore/verifier.js';
import type { Artifact } from '../sigstore/verify.js';

interface Parsed {
  flags: Map<string, string | true>;
  positional: string[];
}

const BOOLEAN = new Set(['--staging', '--in-toto']);

/** The protocol passes flags in a fixed shape; anything unknown is a usage error, not silently ignored. */
export function parseArgs(args: readonly string[], allowed: readonly string[]): Parsed {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!allowed.includes(name)) throw new SignetError('USAGE', `unknown flag ${name}`);
    if (flags.has(name)) throw new SignetError('USAGE', `${name} given twice`);
    if (BOOLEAN.has(name)) {
      if (eq > 0) throw new SignetError('USAGE', `${name} takes no value`);
      flags.set(name, true);
    } else if (eq > 0) flags.set(name, a.slice(eq + 1));
    else {
      const v = args[++i];
      if (v === undefined) throw new SignetError('USAGE', `${name} needs a value`);
      flags.set(name, v);
    }
  }
  return { flags, positional };
}

function value(p: Parsed, name: string, required: true): string;
function value(p: Parsed, name: string, required?: false): string | undefined;
function value(p: Parsed, name: string, required = false): string | undefined {
  const v = p.flags.get(name);
  if (v === undefined) {
    if (required) throw new SignetError('USAGE', `${name} is required`);
    return undefined;
  }
  if (v === true || v === '') throw new SignetError('USAGE', `${name} needs a value`);
  return v;
}

function onePositional(p: Parsed, what: string): string {
  if (p.positional.length !== 1) throw new SignetError('USAGE', `expected exactly one ${what}, got ${p.positional.length}`);
  return p.positional[0]!;
}

async function readFile(path: string, what: string): Promise<Buffer> {
  try {
    return await fs.readFile(path);
  } catch (e) {
    throw ioError(`${what} ${path}`, e);
  }
}

async function trustedRoot(p: Parsed): Promise<TrustedRoot> {
  const path = value(p, '--trusted-root');
  if (path) return loadTrustedRoot(path);
  // The staging root is not pinned in Signet and this CLI never goes to the network on its own.
  if (p.flags.has('--staging')) throw new SignetError('USAGE', '--staging needs --trusted-root (no staging trust root is pinned)');
  return loadPublicGoodTrustedRoot({ offline: true });
}

/** A path, or `sha256:<64 hex>` when no such path exists (the protocol's rule). */
export async function artifactFromArg(arg: string): Promise<Artifact> {
  if (!existsSync(arg)) {
    const m = /^sha256:([0-9a-fA-F]{64})$/.exec(arg);
    if (m) return { digest: Buffer.from(m[1]!, 'hex'), hashAlg: 'sha256' };
  }
  return { bytes: await readFile(arg, 'artifact') };
}

export async function verifyBundleCommand(args: readonly string[]): Promise<void> {
  const p = parseArgs(args, ['--staging', '--bundle', '--certificate-identity', '--certificate-oidc-issuer', '--key', '--trusted-root']);
  const bundlePath = value(p, '--bundle', true);
  const keyPath = value(p, '--key');
  const identity = value(p, '--certificate-identity');
  const issuer = value(p, '--certificate-oidc-issuer');
  if (keyPath && (identity || issuer)) throw new SignetError('USAGE', '--key cannot be combined with --certificate-identity / --certificate-oidc-issuer');
  if (!keyPath && (!identity || !issuer)) throw new SignetError('USAGE', 'pass --certificate-identity and --certificate-oidc-issuer, or --key');
  const artifactArg = onePositional(p, 'FILE_OR_DIGEST');

  const bundle = parseBundle(await readFile(bundlePath, 'bundle'));
  const policy: VerifyPolicy = {};
  if (keyPath) policy.key = parsePublicKey(await readFile(keyPath, 'key'));
  else policy.identity = { identity: identity!, issuer: issuer! };
  // cosign's wrapper turns on --use-signed-timestamps when the bundle carries RFC 3161 timestamps.
  if (bundle.rfc3161Timestamps.length > 0) policy.tsaThreshold = 1;
  const trust = prepareTrust(await trustedRoot(p));
  verifyBundle(bundle, await artifactFromArg(artifactArg), trust, policy);
}

export async function signBundleCommand(args: readonly string[]): Promise<void> {
  const p = parseArgs(args, ['--staging', '--in-toto', '--identity-token', '--bundle', '--trusted-root', '--signing-config']);
  const token = value(p, '--identity-token', true);
  const bundlePath = value(p, '--bundle', true);
  const file = onePositional(p, 'FILE');
  const configPath = value(p, '--signing-config');
  if (!configPath && p.flags.has('--staging')) throw new SignetError('USAGE', '--staging needs --signing-config (no staging signing config is pinned)');
  const signingConfig = configPath ? await loadSigningConfig(configPath) : publicGoodSigningConfig();
  const data = await readFile(file, 'input');
  const content = p.flags.has('--in-toto') ? { kind: 'dsse' as const, payloadType: IN_TOTO_PAYLOAD_TYPE, payload: data } : { kind: 'blob' as const, data };
  const { bundle } = await signBundleKeyless({ token, signingConfig, content });
  // Check what we made before writing it, against the trusted root the caller named (if any).
  if (value(p, '--trusted-root')) {
    const parsed = parseBundle(bundle);
    const trust = prepareTrust(await trustedRoot(p));
    // Any identity: the point is that the chain, SCT, log entry and timestamps we were handed verify.
    verifyBundle(parsed, content.kind === 'blob' ? { bytes: data } : undefined, trust, { identity: { identityRegexp: '^', issuerRegexp: '^' } });
  }
  await writeFileAtomic(bundlePath, bundle);
}

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'verify-bundle':
        await verifyBundleCommand(rest);
        return 0;
      case 'sign-bundle':
        await signBundleCommand(rest);
        return 0;
      default:
        throw new SignetError('USAGE', `unknown command ${JSON.stringify(cmd ?? '')}: expected sign-bundle or verify-bundle`);
    }
  } catch (e) {
    process.stderr.write(`conformance: ${describeError(e)}\n`);
    return e instanceof SignetError ? e.exitCode : 1;
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) process.exitCode = await main(process.argv.slice(2));
