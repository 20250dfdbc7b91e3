/**
 * A small Docker token server (the "realm" of `Bearer realm=…`) for tests: checks Basic credentials,
 * grants the requested repository actions to a known user, and signs ES256 JWTs whose `x5c` header
 * carries a self-signed certificate that docker-registry trusts via `auth.token.rootcertbundle`.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate the registry must trust. */
  certFile: string;
  username: string;
  password: string;
  /** Every token request seen, for assertions about reuse and scopes. */
  requests: Array<{ scopes: string[]; user?: string; method: string }>;
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  dir: string;
  service?: string;
  /** Grant pull to anonymous callers (like Docker Hub); default: anonymous callers get no access. */
  anonymousPull?: boolean;
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

function issue(key: KeyObject, certDer: Buffer, claims: Record<string, unknown>): string {
  const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  // JWS wants the raw r||s form, not DER.
  const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

function parseBasic(req: IncomingMessage): { user: string; pass: string } | undefined {
  const h = req.headers.authorization;
  if (!h?.startsWith('Basic ')) return undefined;
  const s = Buffer.from(h.slice(6), 'base64').toString('utf8');
  const i = s.indexOf(':');
  return i < 0 ? undefined : { user: s.slice(0, i), pass: s.slice(i + 1) };
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const keyFile = join(opts.dir, 'token-key.pem');
  const certFile = join(opts.dir, 'token-cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=signet-test-token-issuer'], {
    stdio: 'ignore',
  });
  const key = createPrivateKey(readFileSync(keyFile));
  const certDer = Buffer.from(new X509Certificate(readFileSync(certFile)).raw);
  const service = opts.service ?? 'signet-test-registry';
  const issuer = 'signet-test-issuer';
  const username = 'tok-' + randomBytes(4).toString('hex');
  const password = randomBytes(12).toString('hex');
  const expiresIn = opts.expiresIn ?? 300;
  const requests: TokenServer['requests'] = [];

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      let scopes = url.searchParams.getAll('scope');
      let basic = parseBasic(req);
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        // refresh_token grant: our "refresh token" is the password of the test user.
        if (form.get('grant_type') === 'refresh_token') basic = form.get('refresh_token') === password ? { user: username, pass: password } : { user: '?', pass: '' };
      }
      requests.push({ scopes, user: basic?.user, method: req.method ?? 'GET' });
      if (url.pathname !== '/token') {
        res.writeHead(404).end();
        return;
      }
      if (basic && (basic.user !== username || basic.pass !== password)) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      const access: Array<{ type: string; name: string; actions: string[] }> = [];
      for (const s of scopes) {
        const m = /^repository:([^:]+):(.+)$/.exec(s);
        if (!m) continue;
        const wanted = m[2]!.split(',');
        const granted = basic ? wanted : opts.anonymousPull ? wanted.filter((a) => a === 'pull') : [];
        access.push({ type: 'repository', name: m[1]!, actions: granted });
      }
      const now = Math.floor(Date.now() / 1000);
      const token = issue(key, certDer, {
        iss: issuer,
        sub: basic?.user ?? '',
        aud: service,
        exp: now + expiresIn,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(12).toString('hex'),
        access,
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    username,
    password,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
