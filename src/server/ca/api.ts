/**
 * Fulcio's HTTP API v2 over the CA service (grpc-gateway JSON): POST /api/v2/signingCert,
 * GET /api/v2/trustBundle, GET /api/v2/configuration. Errors are grpc-gateway status bodies.
 *
 * The certificate is answered in the `signedCertificateEmbeddedSct` shape with a plain chain: there
 * is no CT log, so nothing is embedded, and clients (sigstore-js, cosign) read the chain from it as is.
 */
import { SignetError } from '../../errors.js';
import { OidcError } from '../oidc/errors.js';
import { grpcError, GrpcCode, header, jsonResponse, type ServiceRequest, type ServiceResponse, type ServiceRoute } from '../routes.js';
import { challengeClaimOf, type OidcConfig } from '../oidc/config.js';
import { createCaCore, type CaCore, type CaOptions, type IssueRequest, type TokenVerifier } from './ca.js';

/** The CA with its Fulcio API v2 routes for the HTTP layer. */
export interface CertificateAuthority extends CaCore {
  readonly routes: ServiceRoute[];
}

/** Create (or load) the CA and mount its routes: the routes depend on the CA, never the reverse. */
export async function createCa(opts: CaOptions): Promise<CertificateAuthority> {
  const core = await createCaCore(opts);
  return { ...core, routes: caRoutes(core, opts.oidc) };
}

const MAX_BODY = 1 << 20;
const STRICT_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

class BadRequest extends Error {}

function b64(v: unknown, what: string): Buffer {
  if (typeof v !== 'string' || v === '' || !STRICT_B64.test(v)) throw new BadRequest(`${what} must be base64`);
  return Buffer.from(v, 'base64');
}

function bearer(req: ServiceRequest): string | undefined {
  const h = header(req, 'authorization');
  const m = h ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m?.[1];
}

/** Turn a CreateSigningCertificateRequest into an IssueRequest; throws BadRequest on shape errors. */
function parseSigningCertRequest(req: ServiceRequest): IssueRequest {
  if (req.body.length > MAX_BODY) throw new BadRequest('request body is too large');
  let doc: unknown;
  try {
    doc = JSON.parse(req.body.toString('utf8'));
  } catch {
    throw new BadRequest('request body is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new BadRequest('request body must be a JSON object');
  const d = doc as {
    credentials?: { oidcIdentityToken?: unknown };
    publicKeyRequest?: { publicKey?: { algorithm?: unknown; content?: unknown }; proofOfPossession?: unknown };
    certificateSigningRequest?: unknown;
  };
  const bodyToken = d.credentials?.oidcIdentityToken;
  if (bodyToken !== undefined && typeof bodyToken !== 'string') throw new BadRequest('credentials.oidcIdentityToken must be a string');
  const token = (bodyToken as string | undefined) || bearer(req);
  if (!token) throw new OidcError('malformed', 'no identity token in credentials.oidcIdentityToken or Authorization: Bearer');
  const hasKey = d.publicKeyRequest !== undefined;
  const hasCsr = d.certificateSigningRequest !== undefined;
  if (hasKey === hasCsr) throw new BadRequest('exactly one of publicKeyRequest and certificateSigningRequest is required');
  if (hasCsr) {
    // protobuf `bytes` in JSON: base64 of the PEM (what Fulcio clients send); raw DER inside is accepted too.
    const bytes = b64(d.certificateSigningRequest, 'certificateSigningRequest');
    const text = bytes.toString('latin1');
    return { token, csr: text.includes('-----BEGIN') ? text : bytes };
  }
  const content = d.publicKeyRequest?.publicKey?.content;
  if (typeof content !== 'string' || content === '') throw new BadRequest('publicKeyRequest.publicKey.content is required');
  const publicKey: string | Buffer = content.includes('-----BEGIN') ? content : b64(content, 'publicKeyRequest.publicKey.content');
  return {
    token,
    publicKey,
    proofOfPossession: b64(d.publicKeyRequest?.proofOfPossession, 'publicKeyRequest.proofOfPossession'),
  };
}

/** A refusal as a grpc-gateway status with the HTTP status Fulcio would use. */
export function caErrorResponse(e: unknown): ServiceResponse {
  if (e instanceof BadRequest) return grpcError(400, GrpcCode.INVALID_ARGUMENT, e.message);
  if (e instanceof OidcError) {
    const code = e.httpStatus === 400 ? GrpcCode.INVALID_ARGUMENT : e.httpStatus === 503 ? 14 : GrpcCode.UNAUTHENTICATED;
    return grpcError(e.httpStatus, code, e.message);
  }
  if (e instanceof SignetError) {
    switch (e.code) {
      case 'USAGE':
      case 'MALFORMED':
      case 'KEY_FORMAT':
      case 'KEY_UNSUPPORTED':
      case 'VERIFICATION':
      case 'TOO_LARGE':
        return grpcError(400, GrpcCode.INVALID_ARGUMENT, e.message);
      default:
        break;
    }
  }
  return grpcError(500, GrpcCode.INTERNAL, 'error issuing the certificate');
}

export function caRoutes(ca: CaCore, oidc: TokenVerifier): ServiceRoute[] {
  return [
    {
      method: 'POST',
      path: '/api/v2/signingCert',
      async handle(req) {
        try {
          const issued = await ca.issue(parseSigningCertRequest(req));
          return jsonResponse(200, { signedCertificateEmbeddedSct: { chain: { certificates: issued.chain } } });
        } catch (e) {
          return caErrorResponse(e);
        }
      },
    },
    {
      method: 'GET',
      path: '/api/v2/trustBundle',
      handle: async () => jsonResponse(200, { chains: [{ certificates: ca.chainPem() }] }),
    },
    {
      method: 'GET',
      path: '/api/v2/configuration',
      handle: async () => jsonResponse(200, caConfiguration(oidc.config)),
    },
  ];
}

/** Fulcio's `/api/v2/configuration` document for an OIDC config. */
export function caConfiguration(cfg: OidcConfig | undefined): { issuers: Record<string, unknown>[] } {
  if (!cfg) return { issuers: [] };
  const one = (i: OidcConfig['issuers'][number], meta: boolean): Record<string, unknown> => ({
    [meta ? 'wildcardIssuerUrl' : 'issuerUrl']: i.issuerUrl,
    audience: i.clientId,
    challengeClaim: challengeClaimOf(i),
    issuerType: i.type,
    ...(i.subjectDomain ? { subjectDomain: i.subjectDomain } : {}),
    ...(i.spiffeTrustDomain ? { spiffeTrustDomain: i.spiffeTrustDomain } : {}),
    ...(i.skipEmailVerification ? { skipEmailVerification: true } : {}),
  });
  return { issuers: [...cfg.issuers.map((i) => one(i, false)), ...cfg.metaIssuers.map((i) => one(i, true))] };
}

