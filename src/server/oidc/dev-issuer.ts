/**
 * A development OIDC issuer, for local trials and tests only (`signet serve --dev-oidc`). It signs
 * tokens shaped like a real email issuer's (audience `sigstore`, `email_verified: true`) with an ES256
 * key kept in the data dir, and publishes discovery + JWKS under `/oidc` so the CA verifies its tokens
 * through exactly the same path as any other issuer's.
 *
 * `POST /oidc/token` mints a token for any email it is given: it answers only loopback peers whose
 * request carries no proxy header (Forwarded, X-Forwarded-For, X-Real-IP, ...), and only exists when the
 * server was started with --dev-oidc, which serve refuses on a non-loopback address. Never enable it on
 * a shared or production server.
 */
import { createPrivateKey, createPublicKey, type KeyObject, generateKeyPairSync, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, SignJWT, type JWK } from 'jose';
import { SignetError } from '../../errors.js';
import { ioError, writeFileAtomic } from '../../fsutil.js';
import { grpcError, GrpcCode, isLoopbackAddress, jsonResponse, proxyHeaderOf, type ServiceRoute } from '../routes.js';
import { DEFAULT_CLIENT_ID, type IssuerConfig } from './config.js';
import { emailAddressProblem, quoteForMessage } from './email.js';

export const DEV_ISSUER_PATH = '/oidc';
const KEY_FILE = 'dev-oidc-key.pem';

export interface MintOptions {
  email: string;
  audience?: string;
  ttlSeconds?: number;
}

export interface DevIssuer {
  /** `<server url>/oidc`, the `iss` of every token it mints. */
  readonly issuerUrl: string;
  /** Config entry that makes an OidcVerifier trust this issuer as an email issuer. */
  readonly issuerConfig: IssuerConfig;
  mintToken(opts: MintOptions): Promise<string>;
  discoveryDocument(): Record<string, unknown>;
  jwks(): { keys: JWK[] };
  readonly routes: ServiceRoute[];
}

export interface DevIssuerOptions {
  dataDir: string;
  /** Base URL clients reach the server at, e.g. http://127.0.0.1:8080 (no trailing slash needed). */
  serverUrl: string;
}

async function loadOrCreateKey(dataDir: string): Promise<KeyObject> {
  const dir = join(dataDir, 'oidc');
  const path = join(dir, KEY_FILE);
  let pem: string | undefined;
  try {
    pem = await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot read ${path}`, e);
  }
  if (pem !== undefined) {
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (e) {
      throw new SignetError('KEY_FORMAT', `${path} does not hold a PEM private key`, { cause: e });
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new SignetError('KEY_FORMAT', `${path} is not a P-256 private key`);
    }
    return key;
  }
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw ioError(`cannot create ${dir}`, e);
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await writeFileAtomic(path, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  return privateKey;
}

export async function createDevIssuer(opts: DevIssuerOptions): Promise<DevIssuer> {
  let base: URL;
  try {
    base = new URL(opts.serverUrl);
  } catch {
    throw new SignetError('USAGE', `server URL "${opts.serverUrl}" is not a URL`);
  }
  const issuerUrl = base.origin + base.pathname.replace(/\/+$/, '') + DEV_ISSUER_PATH;
  const key = await loadOrCreateKey(opts.dataDir);
  const publicJwk = await exportJWK(createPublicKey(key));
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwk: JWK = { ...publicJwk, kid, alg: 'ES256', use: 'sig' };

  const mintToken = async ({ email, audience = DEFAULT_CLIENT_ID, ttlSeconds = 600 }: MintOptions): Promise<string> => {
    if (typeof email !== 'string') throw new SignetError('USAGE', 'email must be a string');
    const problem = emailAddressProblem(email);
    if (problem !== undefined) throw new SignetError('USAGE', `${quoteForMessage(email)} is not an email address: ${problem}`);
    if (typeof audience !== 'string' || audience === '') throw new SignetError('USAGE', 'audience must be a non-empty string');
    if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > 86_400) {
      throw new SignetError('USAGE', 'token lifetime must be 1 to 86400 seconds');
    }
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ email, email_verified: true })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(issuerUrl)
      .setSubject(email)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttlSeconds)
      .setJti(randomUUID())
      .sign(key);
  };

  const discoveryDocument = (): Record<string, unknown> => ({
    issuer: issuerUrl,
    jwks_uri: `${issuerUrl}/jwks`,
    token_endpoint: `${issuerUrl}/token`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'email', 'email_verified'],
  });
  const jwks = (): { keys: JWK[] } => ({ keys: [jwk] });

  const routes: ServiceRoute[] = [
    {
      method: 'GET',
      path: `${DEV_ISSUER_PATH}/.well-known/openid-configuration`,
      handle: async () => jsonResponse(200, discoveryDocument(), { 'cache-control': 'max-age=300' }),
    },
    {
      method: 'GET',
      path: `${DEV_ISSUER_PATH}/jwks`,
      handle: async () => jsonResponse(200, jwks(), { 'cache-control': 'max-age=300' }),
    },
    {
      method: 'POST',
      path: `${DEV_ISSUER_PATH}/token`,
      handle: async (req) => {
        if (!isLoopbackAddress(req.remoteAddress)) {
          return grpcError(403, GrpcCode.PERMISSION_DENIED, 'the development issuer mints tokens for loopback clients only');
        }
        const proxied = proxyHeaderOf(req);
        if (proxied !== undefined) {
          // Behind a proxy on this host every client looks like loopback: refuse anything that came through one.
          return grpcError(403, GrpcCode.PERMISSION_DENIED, `the development issuer refuses requests that came through a proxy (${proxied} header); it mints tokens for direct loopback clients only`);
        }
        let body: { email?: unknown; audience?: unknown; ttlSeconds?: unknown };
        try {
          body = JSON.parse(req.body.toString('utf8')) as typeof body;
          if (typeof body !== 'object' || body === null) throw new Error('not an object');
        } catch {
          return grpcError(400, GrpcCode.INVALID_ARGUMENT, 'body must be JSON {"email": "..."}');
        }
        try {
          const token = await mintToken({
            email: body.email as string,
            ...(body.audience !== undefined ? { audience: body.audience as string } : {}),
            ...(body.ttlSeconds !== undefined ? { ttlSeconds: body.ttlSeconds as number } : {}),
          });
          return jsonResponse(200, { id_token: token, token_type: 'Bearer' }, { 'cache-control': 'no-store' });
        } catch (e) {
          if (e instanceof SignetError && e.code === 'USAGE') return grpcError(400, GrpcCode.INVALID_ARGUMENT, e.message);
          throw e;
        }
      },
    },
  ];

  return {
    issuerUrl,
    issuerConfig: { issuerUrl, clientId: DEFAULT_CLIENT_ID, type: 'email' },
    mintToken,
    discoveryDocument,
    jwks,
    routes,
  };
}
