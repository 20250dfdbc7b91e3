/**
 * A development OIDC issuer, for local trials and tests only (`signet serve --dev-oidc`). It signs
 * tokens shaped like a real email issuer's (audience `sigstore`, `email_verified: true`) with an ES256
 * key kept in the data dir, and publishes discovery + JWKS under `/oidc` so the CA verifies its tokens
 * through exactly the same path as any other issuer's. Beside it, one issuer per CI / workload identity
 * type the CA maps (`/oidc/kubernetes`, `/oidc/spiffe`, `/oidc/gitlab`, `/oidc/buildkite`, each with
 * its own discovery document, the same key) mints tokens carrying the claims it is given, so
 * certificates of those types can be tried end to end.
 *
 * `POST /oidc/token` mints a token for any email (or claims) it is given, and grants OAuth's device
 * code (RFC 8628: `POST /oidc/device_authorization`, approved by `POST /oidc/device`) and client
 * credentials grants (clients registered by `POST /oidc/clients`). The minting, approving and
 * registering endpoints answer only loopback peers whose request carries no proxy header (Forwarded,
 * X-Forwarded-For, X-Real-IP, ...), and the issuer only exists when the server was started with
 * --dev-oidc, which serve refuses on a non-loopback address. Never enable it on a shared or production
 * server.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, SignJWT, type JWK } from 'jose';
import { SignetError } from '../../errors.js';
import { ioError, writeFileAtomic } from '../../fsutil.js';
import { grpcError, GrpcCode, header, isLoopbackAddress, jsonResponse, proxyHeaderOf, type ServiceRequest, type ServiceResponse, type ServiceRoute } from '../routes.js';
import { DEFAULT_CLIENT_ID, type IssuerConfig, type IssuerType } from './config.js';
import { emailAddressProblem, quoteForMessage } from './email.js';

export const DEV_ISSUER_PATH = '/oidc';
const KEY_FILE = 'dev-oidc-key.pem';

export interface MintOptions {
  email: string;
  audience?: string;
  ttlSeconds?: number;
}

/** The CI / workload identity issuers beside the email one: path under /oidc → the CA's issuer type. */
export const DEV_TYPED_ISSUERS = {
  kubernetes: 'kubernetes',
  spiffe: 'spiffe',
  gitlab: 'gitlab-pipeline',
  buildkite: 'buildkite-job',
} as const satisfies Record<string, IssuerType>;
export type DevTypedIssuer = keyof typeof DEV_TYPED_ISSUERS;

/** The SPIFFE trust domain of the development `spiffe` issuer's subjects (`spiffe://signet-dev.local/…`). */
export const DEV_SPIFFE_TRUST_DOMAIN = 'signet-dev.local';

export interface MintClaimsOptions {
  /** Which typed issuer signs (its URL is the `iss`). */
  kind: DevTypedIssuer;
  /** The token's claims: `sub` is required; iss, aud, iat, nbf, exp and jti are set here. */
  claims: Record<string, unknown>;
  audience?: string;
  ttlSeconds?: number;
}

export interface DevIssuer {
  /** `<server url>/oidc`, the `iss` of every token it mints. */
  readonly issuerUrl: string;
  /** Config entry that makes an OidcVerifier trust this issuer as an email issuer. */
  readonly issuerConfig: IssuerConfig;
  /** The email issuer's entry and one per typed issuer (kubernetes, spiffe, gitlab, buildkite). */
  readonly issuerConfigs: IssuerConfig[];
  mintToken(opts: MintOptions): Promise<string>;
  /** A token of a typed issuer with the given claims. */
  mintClaimsToken(opts: MintClaimsOptions): Promise<string>;
  /** Register a confidential client for the client credentials grant; its tokens name `email`. */
  registerClient(client: { clientId: string; clientSecret: string; email: string }): void;
  /** Approve a pending device login (its user code) as `email`; false when no such code is pending. */
  approveDevice(userCode: string, email: string): boolean;
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

  const checkLifetime = (audience: unknown, ttlSeconds: unknown): void => {
    if (typeof audience !== 'string' || audience === '') throw new SignetError('USAGE', 'audience must be a non-empty string');
    if (!Number.isInteger(ttlSeconds) || (ttlSeconds as number) <= 0 || (ttlSeconds as number) > 86_400) {
      throw new SignetError('USAGE', 'token lifetime must be 1 to 86400 seconds');
    }
  };
  const sign = (iss: string, claims: Record<string, unknown>, sub: string, audience: string, ttlSeconds: number): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(iss)
      .setSubject(sub)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttlSeconds)
      .setJti(randomUUID())
      .sign(key);
  };

  const mintToken = async ({ email, audience = DEFAULT_CLIENT_ID, ttlSeconds = 600 }: MintOptions): Promise<string> => {
    if (typeof email !== 'string') throw new SignetError('USAGE', 'email must be a string');
    const problem = emailAddressProblem(email);
    if (problem !== undefined) throw new SignetError('USAGE', `${quoteForMessage(email)} is not an email address: ${problem}`);
    checkLifetime(audience, ttlSeconds);
    return sign(issuerUrl, { email, email_verified: true }, email, audience, ttlSeconds);
  };

  const typedUrl = (kind: DevTypedIssuer): string => `${issuerUrl}/${kind}`;
  const mintClaimsToken = async ({ kind, claims, audience = DEFAULT_CLIENT_ID, ttlSeconds = 600 }: MintClaimsOptions): Promise<string> => {
    if (typeof kind !== 'string' || !Object.hasOwn(DEV_TYPED_ISSUERS, kind)) {
      throw new SignetError('USAGE', `kind must be one of ${Object.keys(DEV_TYPED_ISSUERS).join(', ')}`);
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new SignetError('USAGE', 'claims must be a JSON object');
    if (typeof claims.sub !== 'string' || claims.sub === '') throw new SignetError('USAGE', 'claims need a non-empty "sub"');
    checkLifetime(audience, ttlSeconds);
    const { iss: _iss, aud: _aud, iat: _iat, nbf: _nbf, exp: _exp, jti: _jti, sub, ...rest } = claims;
    return sign(typedUrl(kind), rest, sub, audience, ttlSeconds);
  };

  // OAuth grants: confidential clients, and device logins waiting for a person (in memory; a restart forgets them).
  const clients = new Map<string, { secret: Buffer; email: string }>();
  interface DeviceLogin {
    deviceCode: string;
    userCode: string;
    clientId: string;
    challenge?: string;
    expires: number;
    email?: string;
    used?: boolean;
  }
  const devices = new Map<string, DeviceLogin>();
  const DEVICE_TTL_SECONDS = 600;
  const sweep = (): void => {
    const now = Date.now();
    for (const [k, d] of devices) if (d.expires < now - 60_000) devices.delete(k);
  };

  const registerClient = ({ clientId, clientSecret, email }: { clientId: string; clientSecret: string; email: string }): void => {
    if (typeof clientId !== 'string' || clientId === '') throw new SignetError('USAGE', 'client_id must be a non-empty string');
    if (typeof clientSecret !== 'string' || clientSecret.length < 8) throw new SignetError('USAGE', 'client_secret must be a string of at least 8 characters');
    const problem = typeof email === 'string' ? emailAddressProblem(email) : 'not a string';
    if (problem !== undefined) throw new SignetError('USAGE', `email is not an email address: ${problem}`);
    clients.set(clientId, { secret: createHash('sha256').update(clientSecret).digest(), email });
  };
  const clientMatches = (clientId: string, secret: string): { email: string } | undefined => {
    const c = clients.get(clientId);
    if (!c) return undefined;
    return timingSafeEqual(c.secret, createHash('sha256').update(secret).digest()) ? c : undefined;
  };

  const approveDevice = (userCode: string, email: string): boolean => {
    sweep();
    const problem = emailAddressProblem(email);
    if (problem !== undefined) throw new SignetError('USAGE', `${quoteForMessage(email)} is not an email address: ${problem}`);
    const wanted = normalizeUserCode(userCode);
    for (const d of devices.values()) {
      if (d.userCode === wanted && !d.email && d.expires > Date.now()) {
        d.email = email;
        return true;
      }
    }
    return false;
  };

  const discoveryFor = (iss: string, withGrants: boolean): Record<string, unknown> => ({
    issuer: iss,
    jwks_uri: `${issuerUrl}/jwks`,
    token_endpoint: `${issuerUrl}/token`,
    ...(withGrants
      ? {
          device_authorization_endpoint: `${issuerUrl}/device_authorization`,
          grant_types_supported: ['urn:ietf:params:oauth:grant-type:device_code', 'client_credentials'],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
          code_challenge_methods_supported: ['S256'],
        }
      : {}),
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'email', 'email_verified'],
  });
  const discoveryDocument = (): Record<string, unknown> => discoveryFor(issuerUrl, true);
  const jwks = (): { keys: JWK[] } => ({ keys: [jwk] });

  /** Minting, approving and registering are for direct loopback clients only. */
  const refuseUnlessLocal = (req: ServiceRequest): ServiceResponse | undefined => {
    if (!isLoopbackAddress(req.remoteAddress)) {
      return grpcError(403, GrpcCode.PERMISSION_DENIED, 'the development issuer mints tokens for loopback clients only');
    }
    const proxied = proxyHeaderOf(req);
    if (proxied !== undefined) {
      // Behind a proxy on this host every client looks like loopback: refuse anything that came through one.
      return grpcError(403, GrpcCode.PERMISSION_DENIED, `the development issuer refuses requests that came through a proxy (${proxied} header); it mints tokens for direct loopback clients only`);
    }
    return undefined;
  };
  const jsonBody = (req: ServiceRequest): Record<string, unknown> | undefined => {
    try {
      const body = JSON.parse(req.body.toString('utf8')) as unknown;
      return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const usage = async (f: () => Promise<ServiceResponse>): Promise<ServiceResponse> => {
    try {
      return await f();
    } catch (e) {
      if (e instanceof SignetError && e.code === 'USAGE') return grpcError(400, GrpcCode.INVALID_ARGUMENT, e.message);
      throw e;
    }
  };
  const oauthError = (status: number, error: string, description: string): ServiceResponse =>
    jsonResponse(status, { error, error_description: description }, { 'cache-control': 'no-store' });
  const tokenAnswer = (idToken: string): ServiceResponse =>
    jsonResponse(200, { id_token: idToken, access_token: idToken, token_type: 'Bearer', expires_in: 600 }, { 'cache-control': 'no-store' });

  /** The OAuth grants of the token endpoint (form-encoded, RFC 6749 §4.4 and RFC 8628 §3.4). */
  const oauthGrant = async (req: ServiceRequest): Promise<ServiceResponse> => {
    const form = new URLSearchParams(req.body.toString('utf8'));
    let clientId = form.get('client_id') ?? '';
    let clientSecret = form.get('client_secret') ?? undefined;
    const basic = /^Basic\s+(.+)$/i.exec(header(req, 'authorization') ?? '');
    if (basic) {
      const [id, secret] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
      clientId = decodeURIComponent(id ?? '');
      clientSecret = decodeURIComponent(secret ?? '');
    }
    const grant = form.get('grant_type');
    if (grant === 'client_credentials') {
      const c = clientSecret !== undefined ? clientMatches(clientId, clientSecret) : undefined;
      if (!c) return oauthError(401, 'invalid_client', 'unknown client or wrong client secret');
      return tokenAnswer(await mintToken({ email: c.email }));
    }
    if (grant === 'urn:ietf:params:oauth:grant-type:device_code') {
      sweep();
      const d = devices.get(form.get('device_code') ?? '');
      if (!d || d.used) return oauthError(400, 'invalid_grant', 'unknown or used device code');
      if (d.clientId !== clientId) return oauthError(400, 'invalid_grant', 'the device code was issued to another client');
      if (d.expires < Date.now()) return oauthError(400, 'expired_token', 'the device code expired');
      if (!d.email) return oauthError(400, 'authorization_pending', 'waiting for the user to approve the code');
      if (d.challenge !== undefined) {
        const verifier = form.get('code_verifier') ?? '';
        if (createHash('sha256').update(verifier).digest('base64url') !== d.challenge) return oauthError(400, 'invalid_grant', 'PKCE verification failed');
      }
      d.used = true;
      return tokenAnswer(await mintToken({ email: d.email }));
    }
    return oauthError(400, 'unsupported_grant_type', 'grant_type must be client_credentials or urn:ietf:params:oauth:grant-type:device_code');
  };

  const routes: ServiceRoute[] = [
    {
      method: 'GET',
      path: `${DEV_ISSUER_PATH}/.well-known/openid-configuration`,
      handle: async () => jsonResponse(200, discoveryDocument(), { 'cache-control': 'max-age=300' }),
    },
    ...(Object.keys(DEV_TYPED_ISSUERS) as DevTypedIssuer[]).map(
      (kind): ServiceRoute => ({
        method: 'GET',
        path: `${DEV_ISSUER_PATH}/${kind}/.well-known/openid-configuration`,
        handle: async () => jsonResponse(200, discoveryFor(typedUrl(kind), false), { 'cache-control': 'max-age=300' }),
      }),
    ),
    {
      method: 'GET',
      path: `${DEV_ISSUER_PATH}/jwks`,
      handle: async () => jsonResponse(200, jwks(), { 'cache-control': 'max-age=300' }),
    },
    {
      method: 'POST',
      path: `${DEV_ISSUER_PATH}/token`,
      handle: async (req) => {
        const refused = refuseUnlessLocal(req);
        if (refused) return refused;
        if (/^application\/x-www-form-urlencoded/i.test(header(req, 'content-type') ?? '')) return oauthGrant(req);
        const body = jsonBody(req);
        if (!body) return grpcError(400, GrpcCode.INVALID_ARGUMENT, 'body must be JSON {"email": "..."} or {"kind": "kubernetes|spiffe|gitlab|buildkite", "claims": {...}}, or an OAuth token request (form-encoded)');
        return usage(async () => {
          const common = {
            ...(body.audience !== undefined ? { audience: body.audience as string } : {}),
            ...(body.ttlSeconds !== undefined ? { ttlSeconds: body.ttlSeconds as number } : {}),
          };
          const token =
            body.kind !== undefined
              ? await mintClaimsToken({ kind: body.kind as DevTypedIssuer, claims: body.claims as Record<string, unknown>, ...common })
              : await mintToken({ email: body.email as string, ...common });
          return jsonResponse(200, { id_token: token, token_type: 'Bearer' }, { 'cache-control': 'no-store' });
        });
      },
    },
    {
      method: 'POST',
      path: `${DEV_ISSUER_PATH}/device_authorization`,
      handle: async (req) => {
        const refused = refuseUnlessLocal(req);
        if (refused) return refused;
        sweep();
        if (devices.size >= 1000) return oauthError(503, 'temporarily_unavailable', 'too many pending device logins');
        const form = new URLSearchParams(req.body.toString('utf8'));
        const clientId = form.get('client_id');
        if (!clientId) return oauthError(400, 'invalid_request', 'client_id is required');
        const method = form.get('code_challenge_method');
        const challenge = form.get('code_challenge') ?? undefined;
        if (challenge !== undefined && method !== 'S256') return oauthError(400, 'invalid_request', 'code_challenge_method must be S256');
        const deviceCode = randomBytes(24).toString('base64url');
        const userCode = newUserCode();
        devices.set(deviceCode, { deviceCode, userCode, clientId, expires: Date.now() + DEVICE_TTL_SECONDS * 1000, ...(challenge !== undefined ? { challenge } : {}) });
        const verificationUri = `${issuerUrl}/device`;
        return jsonResponse(
          200,
          {
            device_code: deviceCode,
            user_code: userCode,
            verification_uri: verificationUri,
            verification_uri_complete: `${verificationUri}?user_code=${userCode}`,
            expires_in: DEVICE_TTL_SECONDS,
            interval: 1,
          },
          { 'cache-control': 'no-store' },
        );
      },
    },
    {
      method: 'GET',
      path: `${DEV_ISSUER_PATH}/device`,
      handle: async () => ({
        status: 200,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: `Development issuer: approve a device login from this machine with\n  curl -X POST -d '{"user_code": "CODE", "email": "ADDRESS"}' ${issuerUrl}/device\n`,
      }),
    },
    {
      method: 'POST',
      path: `${DEV_ISSUER_PATH}/device`,
      handle: async (req) => {
        const refused = refuseUnlessLocal(req);
        if (refused) return refused;
        const body = jsonBody(req);
        if (!body || typeof body.user_code !== 'string' || typeof body.email !== 'string') return grpcError(400, GrpcCode.INVALID_ARGUMENT, 'body must be JSON {"user_code": "...", "email": "..."}');
        return usage(async () =>
          approveDevice(body.user_code as string, body.email as string)
            ? jsonResponse(200, { approved: true })
            : grpcError(404, GrpcCode.NOT_FOUND, 'no pending device login has that user code'),
        );
      },
    },
    {
      method: 'POST',
      path: `${DEV_ISSUER_PATH}/clients`,
      handle: async (req) => {
        const refused = refuseUnlessLocal(req);
        if (refused) return refused;
        const body = jsonBody(req);
        if (!body) return grpcError(400, GrpcCode.INVALID_ARGUMENT, 'body must be JSON {"client_id": "...", "client_secret": "...", "email": "..."}');
        return usage(async () => {
          registerClient({ clientId: body.client_id as string, clientSecret: body.client_secret as string, email: body.email as string });
          return jsonResponse(200, { client_id: body.client_id });
        });
      },
    },
  ];

  const issuerConfig: IssuerConfig = { issuerUrl, clientId: DEFAULT_CLIENT_ID, type: 'email' };
  const typedConfigs = (Object.keys(DEV_TYPED_ISSUERS) as DevTypedIssuer[]).map(
    (kind): IssuerConfig => ({
      issuerUrl: typedUrl(kind),
      clientId: DEFAULT_CLIENT_ID,
      type: DEV_TYPED_ISSUERS[kind],
      ...(kind === 'spiffe' ? { spiffeTrustDomain: DEV_SPIFFE_TRUST_DOMAIN } : {}),
    }),
  );
  return {
    issuerUrl,
    issuerConfig,
    issuerConfigs: [issuerConfig, ...typedConfigs],
    mintToken,
    mintClaimsToken,
    registerClient,
    approveDevice,
    discoveryDocument,
    jwks,
    routes,
  };
}

/** RFC 8628 §6.1: eight letters from an alphabet without vowels or look-alikes, shown as XXXX-XXXX. */
function newUserCode(): string {
  const alphabet = 'BCDFGHJKLMNPQRSTVWXZ';
  const bytes = randomBytes(8);
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]);
  return `${chars.slice(0, 4).join('')}-${chars.slice(4).join('')}`;
}

function normalizeUserCode(code: string): string {
  const c = code.toUpperCase().replace(/[^A-Z]/g, '');
  return c.length === 8 ? `${c.slice(0, 4)}-${c.slice(4)}` : c;
}
