/**
 * `signet dev token`: ask a local `signet serve --dev-oidc` for an identity token (an email one, or one
 * of a typed issuer: Kubernetes, SPIFFE, GitLab, Buildkite). For local trials and
 * tests only: the development issuer signs a token for whatever address it is given, and answers
 * loopback clients only.
 */
import type { Command } from 'commander';
import { SignetError } from '../../errors.js';
import { examples, parsePositiveInt, ui } from '../common.js';

interface DevTokenFlags {
  server: string;
  email?: string;
  /** A typed issuer (kubernetes, spiffe, gitlab, buildkite) and the token's claims as JSON. */
  kind?: string;
  claims?: string;
  audience?: string;
  ttl?: number;
}

export async function fetchDevToken(flags: DevTokenFlags): Promise<string> {
  let base: URL;
  try {
    base = new URL(flags.server);
  } catch {
    throw new SignetError('USAGE', `--server "${flags.server}" is not a URL`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new SignetError('USAGE', '--server must be an http(s) URL');
  const url = new URL(base.pathname.replace(/\/+$/, '') + '/oidc/token', base);
  let body: Record<string, unknown>;
  if (flags.kind !== undefined) {
    if (flags.email !== undefined) throw new SignetError('USAGE', '--email and --kind cannot be used together (a typed token carries --claims)');
    let claims: unknown;
    try {
      claims = JSON.parse(flags.claims ?? '');
    } catch {
      throw new SignetError('USAGE', '--claims must be a JSON object, e.g. \'{"sub": "…", "organization_slug": "acme", "pipeline_slug": "app"}\'');
    }
    body = { kind: flags.kind, claims };
  } else {
    if (flags.email === undefined) throw new SignetError('USAGE', '--email is required (or --kind with --claims)');
    if (flags.claims !== undefined) throw new SignetError('USAGE', '--claims needs --kind');
    body = { email: flags.email };
  }
  if (flags.audience !== undefined) body.audience = flags.audience;
  if (flags.ttl !== undefined) body.ttlSeconds = flags.ttl;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    throw new SignetError('NETWORK', `cannot reach ${url.origin}: ${(e as Error).message}`, { cause: e });
  }
  const text = await res.text();
  let doc: { id_token?: unknown; message?: unknown } | undefined;
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    doc = undefined;
  }
  if (res.status === 404) {
    // The server is there but offers no token endpoint: not "image not found" (NOT_FOUND exits 11).
    throw new SignetError('NETWORK', `${url.origin} has no development OIDC issuer (POST ${url.pathname} answered 404): start the server with signet serve --dev-oidc`);
  }
  if (!res.ok) {
    const why = typeof doc?.message === 'string' ? doc.message : `HTTP ${res.status}`;
    throw new SignetError(res.status === 400 ? 'USAGE' : 'NETWORK', `development issuer refused: ${why}`);
  }
  if (typeof doc?.id_token !== 'string' || doc.id_token === '') {
    throw new SignetError('MALFORMED', 'development issuer answered without an id_token');
  }
  return doc.id_token;
}

export function registerDevCommands(program: Command): void {
  const dev = program.command('dev').description('helpers for local trials against signet serve --dev-oidc');
  const token = dev
    .command('token')
    .description('print an identity token from the development OIDC issuer of a local signet serve --dev-oidc')
    .requiredOption('--server <url>', 'URL of the signet server, e.g. http://127.0.0.1:8080')
    .option('--email <address>', 'email address the token asserts')
    .option('--kind <issuer>', 'instead of an email token, one of the typed issuers: kubernetes, spiffe, gitlab or buildkite (its certificates carry that type\'s SAN and extensions)')
    .option('--claims <json>', 'with --kind: the token\'s claims as a JSON object (sub required)')
    .option('--audience <aud>', 'token audience (default sigstore)')
    .option('--ttl <seconds>', 'token lifetime in seconds (default 600)', parsePositiveInt)
    .action(async (flags: DevTokenFlags) => {
      ui.out((await fetchDevToken(flags)) + '\n');
    });
  examples(token, [
    'signet dev token --server http://127.0.0.1:8080 --email alice@example.com',
    'signet dev token --server http://127.0.0.1:8080 --kind buildkite --claims \'{"sub": "organization:acme:pipeline:app", "organization_slug": "acme", "pipeline_slug": "app"}\'',
    'signet dev token --server http://127.0.0.1:8080 --kind kubernetes --claims \'{"sub": "system:serviceaccount:prod:builder", "kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "builder"}}}\'',
    'SIGSTORE_ID_TOKEN=$(signet dev token --server http://127.0.0.1:8080 --email ci@example.com) signet sign-blob --bundle a.bundle a.txt',
  ]);
}
