/**
 * Identity-token verification against the configured issuers: the issuer's discovery document gives
 * its `jwks_uri`; keys come from a cached remote JWKS (jose) that refetches on an unknown `kid`, at
 * most once per cooldown, so a rotated issuer key is picked up without a restart while a flood of
 * forged kids cannot turn us into a fetch amplifier against the issuer.
 */
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import { findIssuer, type IssuerConfig, type OidcConfig } from './config.js';
import { OidcError } from './errors.js';
import { principalFromClaims, type Principal } from './principal.js';

export interface OidcVerifierOptions {
  /** Allowed clock difference for exp/nbf/iat, seconds (default 60). */
  clockSkewSeconds?: number;
  /** Minimum time between two JWKS refetches caused by an unknown kid, ms (default 30 s). */
  jwksCooldownMs?: number;
  /** How long fetched JWKS are trusted without refetching, ms (default 10 min). */
  jwksMaxAgeMs?: number;
  /** Discovery/JWKS request timeout, ms (default 5 s). */
  timeoutMs?: number;
  /** Injected clock, for tests and replays. */
  now?: () => Date;
}

type KeyGetter = ReturnType<typeof createRemoteJWKSet>;

/** Asymmetric JWS algorithms only: `none` and HMAC would let anyone holding the JWKS forge tokens. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

const MAX_TOKEN_LENGTH = 64 * 1024;

export class OidcVerifier {
  readonly config: OidcConfig;
  readonly #opts: Required<Omit<OidcVerifierOptions, 'now'>> & { now: () => Date };
  /** issuer URL -> pending or settled key getter; failures are dropped so the next call retries. */
  readonly #keys = new Map<string, Promise<KeyGetter>>();

  constructor(config: OidcConfig, opts: OidcVerifierOptions = {}) {
    this.config = config;
    this.#opts = {
      clockSkewSeconds: opts.clockSkewSeconds ?? 60,
      jwksCooldownMs: opts.jwksCooldownMs ?? 30_000,
      jwksMaxAgeMs: opts.jwksMaxAgeMs ?? 10 * 60_000,
      timeoutMs: opts.timeoutMs ?? 5_000,
      now: opts.now ?? (() => new Date()),
    };
  }

  /** Verify a token and map it to the identity a certificate will carry; throws OidcError. */
  async verify(token: string): Promise<Principal> {
    if (typeof token !== 'string' || token === '') throw new OidcError('malformed', 'no token given');
    if (token.length > MAX_TOKEN_LENGTH) throw new OidcError('malformed', 'token is too long');
    let unverified: JWTPayload;
    try {
      decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch (e) {
      throw new OidcError('malformed', 'not a signed JWT', { cause: e });
    }
    const iss = unverified.iss;
    if (typeof iss !== 'string' || iss === '') throw new OidcError('malformed', 'token has no "iss" claim');
    const cfg = findIssuer(this.config, iss);
    if (!cfg) throw new OidcError('unknown_issuer', `issuer "${iss}" is not configured`);

    const keys = await this.#keyGetter(cfg.issuerUrl);
    const skew = this.#opts.clockSkewSeconds;
    const now = this.#opts.now();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: cfg.issuerUrl,
        audience: cfg.clientId,
        algorithms: ALGORITHMS,
        clockTolerance: skew,
        currentDate: now,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (e) {
      throw mapJoseError(e, cfg);
    }
    // jose only bounds iat when asked for a maximum age; a token minted in the future is not yet valid.
    if (payload.iat !== undefined && payload.iat > now.getTime() / 1000 + skew) {
      throw new OidcError('not_yet_valid', 'token was issued in the future ("iat")');
    }
    return principalFromClaims(cfg, payload);
  }

  #keyGetter(issuer: string): Promise<KeyGetter> {
    let p = this.#keys.get(issuer);
    if (!p) {
      p = this.#discover(issuer);
      this.#keys.set(issuer, p);
      p.catch(() => this.#keys.delete(issuer));
    }
    return p;
  }

  async #discover(issuer: string): Promise<KeyGetter> {
    const url = issuer.replace(/\/+$/, '') + '/.well-known/openid-configuration';
    let doc: unknown;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.#opts.timeoutMs), redirect: 'error' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      doc = await res.json();
    } catch (e) {
      throw new OidcError('issuer_unavailable', `cannot read discovery document ${url}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const d = doc as { issuer?: unknown; jwks_uri?: unknown };
    // OIDC Discovery §4.3: the document must name the issuer it was fetched for.
    if (typeof d?.issuer !== 'string' || d.issuer !== issuer) {
      throw new OidcError('issuer_unavailable', `discovery document at ${url} is for issuer "${String(d?.issuer)}"`);
    }
    if (typeof d.jwks_uri !== 'string') throw new OidcError('issuer_unavailable', `discovery document at ${url} has no jwks_uri`);
    let jwksUrl: URL;
    try {
      jwksUrl = new URL(d.jwks_uri);
    } catch (e) {
      throw new OidcError('issuer_unavailable', `discovery document at ${url} has an invalid jwks_uri`, { cause: e });
    }
    return createRemoteJWKSet(jwksUrl, {
      timeoutDuration: this.#opts.timeoutMs,
      cooldownDuration: this.#opts.jwksCooldownMs,
      cacheMaxAge: this.#opts.jwksMaxAgeMs,
    });
  }
}

function mapJoseError(e: unknown, cfg: IssuerConfig): OidcError {
  if (e instanceof OidcError) return e;
  if (e instanceof joseErrors.JWTExpired) return new OidcError('expired', 'token has expired', { cause: e });
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    switch (e.claim) {
      case 'aud':
        return new OidcError('wrong_audience', `token audience is not "${cfg.clientId}"`, { cause: e });
      case 'nbf':
        return new OidcError('not_yet_valid', 'token is not valid yet ("nbf")', { cause: e });
      case 'iat':
        return new OidcError('not_yet_valid', 'token "iat" is not acceptable', { cause: e });
      case 'iss':
        return new OidcError('unknown_issuer', 'token issuer does not match', { cause: e });
      default:
        return new OidcError('malformed', `token claim "${e.claim}" is missing or invalid`, { cause: e });
    }
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new OidcError('bad_signature', 'token signature does not verify', { cause: e });
  }
  if (e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new OidcError('bad_signature', `no key of ${cfg.issuerUrl} matches the token's key id`, { cause: e });
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) {
    return new OidcError('bad_signature', 'token signing algorithm is not allowed', { cause: e });
  }
  if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid || e instanceof joseErrors.JOSENotSupported) {
    return new OidcError('issuer_unavailable', `cannot use the keys of ${cfg.issuerUrl}: ${e.message}`, { cause: e });
  }
  if (e instanceof joseErrors.JWTInvalid || e instanceof joseErrors.JWSInvalid) {
    return new OidcError('malformed', e.message, { cause: e });
  }
  if (e instanceof joseErrors.JOSEError) {
    return new OidcError('issuer_unavailable', `cannot verify against ${cfg.issuerUrl}: ${e.message}`, { cause: e });
  }
  return new OidcError('issuer_unavailable', `cannot verify against ${cfg.issuerUrl}: ${(e as Error)?.message ?? String(e)}`, {
    cause: e,
  });
}
