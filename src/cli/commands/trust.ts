/**
 * Trust configuration commands, as in cosign: `initialize` (TUF), `trusted-root create` and
 * `signing-config create` for operators of a private Sigstore.
 *
 * The trusted-root builder lives here because it is only an operator tool; it is exported so the
 * server and tests can use the same code path.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { SignetError } from '../../errors.js';
import { FILE_LIMITS, readFileLimited, writeFileAtomic } from '../../fsutil.js';
import { decodePemBlocks, sigstoreKeyDetails } from '../../keys/index.js';
import {
  checkServiceUrl,
  serializeSigningConfig,
  SIGNING_CONFIG_MEDIA_TYPE,
  type ServiceConfiguration,
  type ServiceEntry,
  type SigningConfig,
} from '../../sigstore/signing-config.js';
import { DEFAULT_TUF_MIRROR, defaultTufCacheDir, initialize } from '../../sigstore/tuf.js';
import { noteKeyHash } from '../../tlog/note.js';
import { examples, opt, ui } from '../common.js';

const usage = (msg: string): never => {
  throw new SignetError('USAGE', msg);
};

/** `key=value,key=value` as cosign's service flags write it; unknown and repeated keys are refused. */
export function parseServiceSpec(flag: string, spec: string, allowed: readonly string[], required: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of spec.split(',')) {
    if (part.trim() === '') continue;
    const i = part.indexOf('=');
    if (i <= 0) usage(`${flag}: "${part}" is not of the form key=value`);
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (!allowed.includes(k)) usage(`${flag}: unknown key "${k}" (allowed: ${allowed.join(', ')})`);
    if (k in out) usage(`${flag}: key "${k}" given twice`);
    if (v === '') usage(`${flag}: key "${k}" has an empty value`);
    out[k] = v;
  }
  for (const k of required) if (!(k in out)) usage(`${flag}: missing ${k}=…`);
  return out;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function parseTime(flag: string, key: string, v: string): Date {
  const d = new Date(v);
  if (!RFC3339.test(v) || Number.isNaN(d.getTime())) usage(`${flag}: ${key} "${v}" is not an RFC 3339 time (e.g. 2025-01-01T00:00:00Z)`);
  return d;
}

async function readFileFor(flag: string, path: string): Promise<string> {
  return (await readFileLimited(path, FILE_LIMITS.small, `${flag}: ${path}`)).toString('utf8');
}

function validForJson(flag: string, start: Date | undefined, end: Date | undefined): Record<string, string> {
  if (start && end && end < start) usage(`${flag}: end-time is before start-time`);
  const out: Record<string, string> = {};
  if (start) out.start = start.toISOString();
  if (end) out.end = end.toISOString();
  return out;
}

function keyDetailsOf(key: KeyObject, flag: string): string {
  try {
    return sigstoreKeyDetails(key);
  } catch (e) {
    return usage(`${flag}: ${(e as Error).message}`);
  }
}

async function loadPublicKeyFile(flag: string, path: string): Promise<KeyObject> {
  const text = await readFileFor(flag, path);
  const blocks = (() => {
    try {
      return decodePemBlocks(text);
    } catch {
      return usage(`${flag}: ${path} is not valid PEM`);
    }
  })();
  const pub = blocks.find((b) => b.label === 'PUBLIC KEY');
  if (!pub) usage(`${flag}: ${path} holds no PEM PUBLIC KEY`);
  try {
    return createPublicKey({ key: pub!.der, format: 'der', type: 'spki' });
  } catch {
    return usage(`${flag}: ${path} holds a PUBLIC KEY that does not parse`);
  }
}

async function loadChainFile(flag: string, path: string): Promise<X509Certificate[]> {
  const text = await readFileFor(flag, path);
  let blocks;
  try {
    blocks = decodePemBlocks(text).filter((b) => b.label === 'CERTIFICATE');
  } catch {
    return usage(`${flag}: ${path} is not valid PEM`);
  }
  if (blocks.length === 0) usage(`${flag}: ${path} holds no PEM certificates`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b.der);
    } catch {
      return usage(`${flag}: certificate ${i + 1} in ${path} does not parse`);
    }
  });
}

/** Each certificate must be signed by the next one, the last by itself: a chain verifiers can use. */
function checkChain(flag: string, path: string, certs: X509Certificate[]): void {
  for (let i = 0; i < certs.length; i++) {
    const issuer = certs[i + 1] ?? certs[i]!;
    if (!certs[i]!.checkIssued(issuer) || !certs[i]!.verify(issuer.publicKey)) {
      usage(
        i + 1 < certs.length
          ? `${flag}: certificate ${i + 1} in ${path} is not issued by certificate ${i + 2}`
          : `${flag}: the last certificate in ${path} is not a self-signed root`,
      );
    }
  }
}

function subjectOf(cert: X509Certificate): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of cert.subject.split('\n')) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1);
    if (k === 'O' && !out.organization) out.organization = v;
    if (k === 'CN' && !out.commonName) out.commonName = v;
  }
  return out;
}

type Json = Record<string, unknown>;

async function certificateAuthority(flag: string, spec: string): Promise<Json> {
  const f = parseServiceSpec(flag, spec, ['url', 'certificate-chain', 'start-time', 'end-time'], ['url', 'certificate-chain']);
  const uri = checkServiceUrl(f.url, `${flag}: url`, usage);
  const certs = await loadChainFile(flag, f['certificate-chain']!);
  checkChain(flag, f['certificate-chain']!, certs);
  // Without start-time the CA is trusted from when its first certificate became valid.
  const start = f['start-time'] ? parseTime(flag, 'start-time', f['start-time']) : new Date(certs[0]!.validFrom);
  const end = f['end-time'] ? parseTime(flag, 'end-time', f['end-time']) : undefined;
  return {
    subject: subjectOf(certs[0]!),
    uri,
    certChain: { certificates: certs.map((c) => ({ rawBytes: c.raw.toString('base64') })) },
    validFor: validForJson(flag, start, end),
  };
}

async function transparencyLog(flag: string, spec: string, allowOrigin: boolean): Promise<Json> {
  const keys = ['url', 'public-key', 'start-time', 'end-time', ...(allowOrigin ? ['origin'] : [])];
  const f = parseServiceSpec(flag, spec, keys, ['url', 'public-key', 'start-time']);
  const baseUrl = checkServiceUrl(f.url, `${flag}: url`, usage);
  const key = await loadPublicKeyFile(flag, f['public-key']!);
  const spki = key.export({ type: 'spki', format: 'der' });
  const start = parseTime(flag, 'start-time', f['start-time']!);
  const end = f['end-time'] ? parseTime(flag, 'end-time', f['end-time']) : undefined;
  let logId: Uint8Array;
  if (f.origin) {
    // Rekor v2 logs are identified by the untruncated C2SP signed-note key hash over their origin.
    try {
      logId = noteKeyHash(f.origin, key);
    } catch (e) {
      return usage(`${flag}: origin "${f.origin}": ${(e as Error).message}`);
    }
  } else {
    logId = createHash('sha256').update(spki).digest();
  }
  return {
    baseUrl,
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: spki.toString('base64'), keyDetails: keyDetailsOf(key, flag), validFor: validForJson(flag, start, end) },
    logId: { keyId: Buffer.from(logId).toString('base64') },
  };
}

export interface TrustedRootSpecs {
  fulcio?: string[];
  rekor?: string[];
  ctfe?: string[];
  tsa?: string[];
}

const startOf = (j: Json): number => {
  const vf = ((j.publicKey as Json | undefined)?.validFor ?? j.validFor) as { start?: string } | undefined;
  return vf?.start ? Date.parse(vf.start) : 0;
};

/** A trusted_root.json (v0.1 media type, as cosign writes) from cosign-style service specs. */
export async function buildTrustedRoot(specs: TrustedRootSpecs): Promise<string> {
  const cas = [];
  for (const s of specs.fulcio ?? []) cas.push(await certificateAuthority('--fulcio', s));
  const tlogs = [];
  for (const s of specs.rekor ?? []) tlogs.push(await transparencyLog('--rekor', s, true));
  const ctlogs = [];
  for (const s of specs.ctfe ?? []) ctlogs.push(await transparencyLog('--ctfe', s, false));
  const tsas = [];
  for (const s of specs.tsa ?? []) tsas.push(await certificateAuthority('--tsa', s));
  const ids = new Set<string>();
  for (const l of [...tlogs, ...ctlogs]) {
    const id = (l.logId as { keyId: string }).keyId;
    if (ids.has(id)) usage(`two logs share the log ID ${id} (same key given twice?)`);
    ids.add(id);
  }
  // Verifiers expect each list ordered by validity start.
  const byStart = (a: Json, b: Json): number => startOf(a) - startOf(b);
  const doc = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: tlogs.sort(byStart),
    certificateAuthorities: cas.sort(byStart),
    ctlogs: ctlogs.sort(byStart),
    timestampAuthorities: tsas.sort(byStart),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

function serviceEntry(flag: string, spec: string): ServiceEntry {
  const f = parseServiceSpec(flag, spec, ['url', 'api-version', 'start-time', 'end-time', 'operator'], ['url', 'api-version', 'start-time', 'operator']);
  const url = checkServiceUrl(f.url, `${flag}: url`, usage);
  const v = f['api-version']!;
  if (!/^[1-9]\d{0,8}$/.test(v)) usage(`${flag}: api-version "${v}" is not a positive integer`);
  const start = parseTime(flag, 'start-time', f['start-time']!);
  const end = f['end-time'] ? parseTime(flag, 'end-time', f['end-time']) : undefined;
  if (end && end < start) usage(`${flag}: end-time is before start-time`);
  return { url, majorApiVersion: Number(v), validFor: end ? { start, end } : { start }, operator: f.operator! };
}

/** `ANY`, `ALL` or `EXACT:<n>`, as cosign's --rekor-config / --tsa-config. */
export function parseSelector(flag: string, v: string): ServiceConfiguration {
  const s = v.trim().toUpperCase();
  if (s === 'ANY' || s === 'ALL') return { selector: s };
  const m = /^EXACT:(\d+)$/.exec(s);
  if (m && Number(m[1]) > 0) return { selector: 'EXACT', count: Number(m[1]) };
  return usage(`${flag}: "${v}" is not ANY, ALL or EXACT:<count>`);
}

export interface SigningConfigSpecs {
  fulcio?: string[];
  rekor?: string[];
  oidcProvider?: string[];
  tsa?: string[];
  rekorConfig?: string;
  tsaConfig?: string;
}

export function buildSigningConfigFromSpecs(specs: SigningConfigSpecs): SigningConfig {
  const newestFirst = (a: ServiceEntry, b: ServiceEntry): number => b.validFor.start.getTime() - a.validFor.start.getTime();
  const cfg: SigningConfig = {
    mediaType: SIGNING_CONFIG_MEDIA_TYPE,
    caUrls: (specs.fulcio ?? []).map((s) => serviceEntry('--fulcio', s)).sort(newestFirst),
    oidcUrls: (specs.oidcProvider ?? []).map((s) => serviceEntry('--oidc-provider', s)).sort(newestFirst),
    rekorTlogUrls: (specs.rekor ?? []).map((s) => serviceEntry('--rekor', s)).sort(newestFirst),
    tsaUrls: (specs.tsa ?? []).map((s) => serviceEntry('--tsa', s)).sort(newestFirst),
    rekorTlogConfig: parseSelector('--rekor-config', specs.rekorConfig ?? 'ANY'),
    tsaConfig: parseSelector('--tsa-config', specs.tsaConfig ?? 'ANY'),
  };
  const check = (c: ServiceConfiguration, list: ServiceEntry[], flag: string, what: string): void => {
    if (c.selector !== 'EXACT') return;
    const operators = new Set(list.map((s) => s.operator)).size;
    if (operators < c.count!) usage(`${flag} EXACT:${c.count} needs at least ${c.count} ${what} from distinct operators, got ${operators}`);
  };
  check(cfg.rekorTlogConfig, cfg.rekorTlogUrls, '--rekor-config', '--rekor services');
  check(cfg.tsaConfig, cfg.tsaUrls, '--tsa-config', '--tsa services');
  return cfg;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

async function emit(text: string, out: string | undefined): Promise<void> {
  if (out) {
    await writeFileAtomic(out, text);
    ui.info(`Wrote ${out}`);
  } else {
    ui.out(text);
  }
}

async function checkRootChecksum(path: string, spec: string): Promise<void> {
  const m = /^(?:(sha256|sha512):)?([0-9a-fA-F]+)$/.exec(spec);
  const alg = m?.[1] ?? 'sha256';
  if (!m || m[2]!.length !== (alg === 'sha256' ? 64 : 128)) usage(`--root-checksum "${spec}" is not [sha256:|sha512:]<hex digest>`);
  const bytes = await readFileLimited(path, FILE_LIMITS.small, `--root ${path}`);
  if (createHash(alg).update(bytes).digest('hex') !== m![2]!.toLowerCase()) {
    throw new SignetError('VERIFICATION', `--root ${path} does not match --root-checksum`);
  }
}

export function registerTrustCommands(program: Command): void {
  const init = program
    .command('initialize')
    .description('initialize the TUF trust root cache (the public-good instance by default)')
    .addOption(opt('--mirror <url>', 'TUF repository mirror', DEFAULT_TUF_MIRROR))
    .addOption(opt('--root <file>', 'trusted TUF root.json to start from (required for a mirror other than the default)'))
    .addOption(opt('--root-checksum <digest>', 'expected [sha256:|sha512:]hex digest of --root'))
    .action(async (o: { mirror: string; root?: string; rootChecksum?: string }) => {
      if (o.rootChecksum && !o.root) usage('--root-checksum needs --root');
      if (o.root && o.rootChecksum) await checkRootChecksum(o.root, o.rootChecksum);
      const r = await initialize({ mirror: o.mirror, ...(o.root ? { root: o.root } : {}), cacheDir: defaultTufCacheDir() });
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
  ]);

  const tr = program.command('trusted-root').description('create trusted_root.json files for private Sigstore deployments');
  const trCreate = tr
    .command('create')
    .description('create a trusted_root.json from CA, log, CT log and TSA material')
    .addOption(new Option('--fulcio <spec>', 'CA: url=URL,certificate-chain=FILE[,start-time=T,end-time=T] (repeatable)').argParser(collect))
    .addOption(new Option('--rekor <spec>', 'log: url=URL,public-key=FILE,start-time=T[,end-time=T,origin=NAME] (repeatable)').argParser(collect))
    .addOption(new Option('--ctfe <spec>', 'CT log: url=URL,public-key=FILE,start-time=T[,end-time=T] (repeatable)').argParser(collect))
    .addOption(new Option('--tsa <spec>', 'TSA: url=URL,certificate-chain=FILE[,start-time=T,end-time=T] (repeatable)').argParser(collect))
    .addOption(opt('--out <file>', 'write to this file (atomically) instead of stdout'))
    .action(async (o: TrustedRootSpecs & { out?: string }) => {
      if (!o.fulcio && !o.rekor && !o.ctfe && !o.tsa) usage('give at least one of --fulcio, --rekor, --ctfe, --tsa');
      await emit(await buildTrustedRoot(o), o.out);
    });
  examples(trCreate, [
    'signet trusted-root create \\',
    '  --fulcio "url=https://ca.example.com,certificate-chain=ca-chain.pem" \\',
    '  --rekor "url=https://log.example.com,public-key=log.pub,start-time=2025-01-01T00:00:00Z" \\',
    '  --tsa "url=https://tsa.example.com/api/v1/timestamp,certificate-chain=tsa-chain.pem" \\',
    '  --out trusted_root.json',
    'signet trusted-root create --rekor "url=https://log2.example.com,public-key=log2.pub,start-time=2025-06-01T00:00:00Z,origin=log2.example.com"',
  ]);

  const sc = program.command('signing-config').description('create signing_config.json files for private Sigstore deployments');
  const scCreate = sc
    .command('create')
    .description('create a signing_config.v0.2.json naming the CA, OIDC provider, logs and TSAs to sign with')
    .addOption(new Option('--fulcio <spec>', 'CA: url=URL,api-version=1,start-time=T,operator=NAME[,end-time=T] (repeatable)').argParser(collect))
    .addOption(new Option('--rekor <spec>', 'log: url=URL,api-version=1|2,start-time=T,operator=NAME[,end-time=T] (repeatable)').argParser(collect))
    .addOption(new Option('--oidc-provider <spec>', 'OIDC issuer: url=URL,api-version=1,start-time=T,operator=NAME[,end-time=T] (repeatable)').argParser(collect))
    .addOption(new Option('--tsa <spec>', 'TSA: url=FULL_URL,api-version=1,start-time=T,operator=NAME[,end-time=T] (repeatable)').argParser(collect))
    .addOption(opt('--rekor-config <selector>', 'how many logs to use: ANY, ALL or EXACT:<n>', 'ANY'))
    .addOption(opt('--tsa-config <selector>', 'how many TSAs to use: ANY, ALL or EXACT:<n>', 'ANY'))
    .addOption(opt('--out <file>', 'write to this file (atomically) instead of stdout'))
    .action(async (o: SigningConfigSpecs & { out?: string }) => {
      if (!o.fulcio && !o.rekor && !o.oidcProvider && !o.tsa) usage('give at least one of --fulcio, --rekor, --oidc-provider, --tsa');
      await emit(serializeSigningConfig(buildSigningConfigFromSpecs(o)), o.out);
    });
  examples(scCreate, [
    'signet signing-config create \\',
    '  --fulcio "url=https://ca.example.com,api-version=1,start-time=2025-01-01T00:00:00Z,operator=example.com" \\',
    '  --rekor "url=https://log.example.com,api-version=1,start-time=2025-01-01T00:00:00Z,operator=example.com" \\',
    '  --tsa "url=https://tsa.example.com/api/v1/timestamp,api-version=1,start-time=2025-01-01T00:00:00Z,operator=example.com" \\',
    '  --oidc-provider "url=https://issuer.example.com,api-version=1,start-time=2025-01-01T00:00:00Z,operator=example.com" \\',
    '  --rekor-config ANY --tsa-config EXACT:1 --out signing_config.json',
  ]);
}
