/**
 * Test peers on loopback: a fake-but-real OIDC issuer (discovery + JWKS over node:http, keys from jose)
 * and a tiny node:http host that mounts ServiceRoute tables the way the HTTP layer will.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { ServiceRoute } from '../../../src/server/routes.js';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function newSigningKey(kid: string, alg = 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

export class FakeIssuer {
  url = '';
  keys: SigningKey[] = [];
  jwksFetches = 0;
  discoveryStatus = 200;
  readonly #server: Server;
  #seq = 0;

  constructor() {
    this.#server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/.well-known/openid-configuration') {
        res.writeHead(this.discoveryStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ issuer: this.url, jwks_uri: `${this.url}/jwks` }));
      } else if (path === '/jwks') {
        this.jwksFetches++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: this.keys.map((k) => k.jwk) }));
      } else {
        res.writeHead(404).end();
      }
    });
  }

  static async start(): Promise<FakeIssuer> {
    const f = new FakeIssuer();
    f.url = await listen(f.#server);
    f.keys = [await newSigningKey(`k${f.#seq++}`)];
    return f;
  }

  /** Replace the published key set with one new key (the issuer rotated). */
  async rotate(): Promise<SigningKey> {
    const k = await newSigningKey(`k${this.#seq++}`);
    this.keys = [k];
    return k;
  }

  /** A token from this issuer; claims override the defaults (email identity, aud sigstore, 5 min). */
  async token(claims: JWTPayload = {}, opts: { key?: SigningKey; kid?: string } = {}): Promise<string> {
    const key = opts.key ?? this.keys[0]!;
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = {
      iss: this.url,
      sub: 'alice@example.com',
      aud: 'sigstore',
      email: 'alice@example.com',
      email_verified: true,
      iat: now,
      nbf: now,
      exp: now + 300,
      ...claims,
    };
    for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? key.kid, typ: 'JWT' }).sign(key.privateKey);
  }

  stop(): Promise<void> {
    return close(this.#server);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Serve route tables on 127.0.0.1; `remoteAddress` can be overridden to test loopback-only routes. */
export class RouteHost {
  url = '';
  remoteAddressOverride: string | undefined;
  readonly #server: Server;
  readonly routes: ServiceRoute[] = [];

  constructor() {
    this.#server = createServer((req, res) => {
      void (async () => {
        const u = new URL(req.url ?? '/', 'http://x');
        const route = this.routes.find((r) => r.method === req.method && r.path === u.pathname);
        if (!route) {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":5,"message":"not found","details":[]}');
          return;
        }
        const body = await readBody(req);
        const out = await route.handle({
          headers: req.headers,
          body,
          query: u.searchParams,
          remoteAddress: this.remoteAddressOverride ?? req.socket.remoteAddress,
        });
        res.writeHead(out.status, out.headers ?? {}).end(out.body);
      })().catch((e: unknown) => {
        res.writeHead(500).end(String(e));
      });
    });
  }

  static async start(): Promise<RouteHost> {
    const h = new RouteHost();
    h.url = await listen(h.#server);
    return h;
  }

  mount(routes: ServiceRoute[]): void {
    this.routes.push(...routes);
  }

  stop(): Promise<void> {
    return close(this.#server);
  }
}

/**
 * The claims of a GitHub Actions token for a push to octo/app's main branch (without an email), as the
 * CA tests need them; `extra` adds or overrides claims.
 */
export function githubWorkflowClaims(sub: string, extra: JWTPayload = {}): JWTPayload {
  return {
    sub,
    email: undefined,
    email_verified: undefined,
    job_workflow_ref: 'octo/app/.github/workflows/r.yml@refs/heads/main',
    repository: 'octo/app',
    event_name: 'push',
    sha: 'abc',
    run_id: '1',
    run_attempt: '1',
    ...extra,
  };
}
