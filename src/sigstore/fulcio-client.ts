/**
 * Client for a Fulcio-compatible CA (`POST /api/v2/signingCert`): trade an OIDC token plus a proof of
 * possession of an ephemeral key for a short-lived code-signing certificate.
 */
import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { SignetError } from '../errors.js';
import { clientNet, inContext, isTimeout, netOptions, sleep, type NetOptions } from '../net.js';
import { decodePemBlocks, generateKeyPair, type PemBlock, signerFromPrivateKey, type KeyKind, type Signer } from '../keys/index.js';
import { tokenSubject } from './identity-token.js';
import { parseCertificate, type ParsedCertificate } from './certificate.js';
import { serviceExchange, type ServiceResponse } from './http.js';

export interface CertificateRequestOptions extends NetOptions {
  /** The OIDC identity token (JWT). */
  token: string;
  signer: Signer;
  /** The string to sign as proof of possession; default: the token's email, else its sub. */
  challenge?: string;
  /** Attempts on 5xx, 429 and connection failures; default 3. */
  attempts?: number;
  /** Shorthand for `timeouts`: both the headers and the body-idle bound (default 30 s each). */
  timeoutMs?: number;
}

export interface IssuedCertificate {
  leafDer: Buffer;
  /** Intermediates then root, as the CA sent them. */
  chainDer: Buffer[];
  /** Present when the CA answered with a detached SCT: the base64-decoded AddChainResponse JSON. */
  detachedSct?: Buffer;
}

const ALGORITHM: Record<KeyKind, string> = {
  'ecdsa-p256': 'ECDSA',
  'ecdsa-p384': 'ECDSA',
  'ecdsa-p521': 'ECDSA',
  rsa: 'RSA_PSS',
  ed25519: 'ED25519',
};

/** A fresh in-memory signing key that lives as long as one signature. */
export function ephemeralSigner(kind: KeyKind = 'ecdsa-p256'): Signer {
  return signerFromPrivateKey(generateKeyPair(kind).privateKey);
}

function endpoint(caUrl: string): string {
  let u: URL;
  try {
    u = new URL(caUrl);
  } catch {
    throw new SignetError('USAGE', `CA URL ${JSON.stringify(caUrl)} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new SignetError('USAGE', `CA URL ${caUrl} is not an http(s) URL`);
  return caUrl.replace(/\/+$/, '') + '/api/v2/signingCert';
}

/** The reason in a grpc-gateway status body (`{"code","message"}`) or a plain text body, on one line. */
function reasonOf(text: string): string {
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    const m = j.message ?? j.error ?? j.error_description;
    if (typeof m === 'string' && m !== '') return m.replace(/\s+/g, ' ').slice(0, 300);
  } catch {
    // fall through to the text
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 300);
}

/**
 * A CA sends the same intermediates and root with every certificate; the PEM texts already seen to parse
 * are not parsed again (bounded). The leaf is read once with the zero-copy DER reader (the one the
 * verifier reads it with; OpenSSL's parse cost a tenth of the client's own work per keyless signature),
 * and the parsed form kept for the key check.
 */
const parsedChainPems = new Set<string>();
const parsedLeaves = new WeakMap<Buffer, ParsedCertificate>();

function certsToDer(v: unknown, where: string): Buffer[] {
  const chain = (v as { chain?: { certificates?: unknown } } | undefined)?.chain?.certificates;
  if (!Array.isArray(chain) || chain.length === 0) throw new SignetError('MALFORMED', `CA response: ${where}.chain.certificates is missing or empty`);
  return chain.map((pem, i) => {
    if (typeof pem !== 'string') throw new SignetError('MALFORMED', `CA response: certificate ${i} is not a string`);
    let blocks: PemBlock[];
    try {
      blocks = decodePemBlocks(pem).filter((b) => b.label === 'CERTIFICATE');
    } catch {
      throw new SignetError('MALFORMED', `CA response: certificate ${i} is not valid PEM`);
    }
    if (blocks.length !== 1) throw new SignetError('MALFORMED', `CA response: certificate ${i} is not one PEM certificate`);
    const der = Buffer.from(blocks[0]!.der);
    if (i > 0 && parsedChainPems.has(pem)) return der;
    try {
      if (i === 0) parsedLeaves.set(der, parseCertificate(der));
      else new X509Certificate(der);
    } catch {
      throw new SignetError('MALFORMED', `CA response: certificate ${i} does not parse as X.509`);
    }
    if (i > 0) {
      if (parsedChainPems.size >= 64) parsedChainPems.clear();
      parsedChainPems.add(pem);
    }
    return der;
  });
}

/** Parse either response shape of `POST /api/v2/signingCert`. */
export function parseSigningCertificateResponse(body: unknown): IssuedCertificate {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SignetError('MALFORMED', 'CA response is not a JSON object');
  const o = body as Record<string, unknown>;
  let certs: Buffer[];
  let detachedSct: Buffer | undefined;
  if (o.signedCertificateEmbeddedSct !== undefined) {
    certs = certsToDer(o.signedCertificateEmbeddedSct, 'signedCertificateEmbeddedSct');
  } else if (o.signedCertificateDetachedSct !== undefined) {
    const d = o.signedCertificateDetachedSct as Record<string, unknown>;
    certs = certsToDer(d, 'signedCertificateDetachedSct');
    const sct = d?.signedCertificateTimestamp;
    if (sct !== undefined && sct !== '') {
      if (typeof sct !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(sct)) throw new SignetError('MALFORMED', 'CA response: signedCertificateTimestamp is not base64');
      detachedSct = Buffer.from(sct, 'base64');
    }
  } else {
    throw new SignetError('MALFORMED', 'CA response has neither signedCertificateEmbeddedSct nor signedCertificateDetachedSct');
  }
  const out: IssuedCertificate = { leafDer: certs[0]!, chainDer: certs.slice(1) };
  if (detachedSct) out.detachedSct = detachedSct;
  return out;
}

/** Whether DER SubjectPublicKeyInfo `spki` holds `key`: equal bytes, else (another encoding of the same key, e.g. a compressed point) equal keys. */
function certifiesKey(spki: Buffer, key: KeyObject, keySpki: Buffer): boolean {
  if (spki.equals(keySpki)) return true;
  try {
    return createPublicKey({ key: spki, format: 'der', type: 'spki' }).equals(key);
  } catch {
    return false;
  }
}

/** A certificate and its chain are a few KiB; this bounds what a hostile CA can make us hold. */
const MAX_ANSWER = 1024 * 1024;

/**
 * Request a signing certificate for `signer`'s public key. 4xx answers fail at once with the CA's
 * reason; 5xx, 429 and connection failures are retried with backoff. The issued leaf must certify
 * exactly the signer's key.
 */
export async function requestCertificate(caUrl: string, opts: CertificateRequestOptions): Promise<IssuedCertificate> {
  const url = endpoint(caUrl);
  const challenge = opts.challenge ?? tokenSubject(opts.token).challenge;
  const pub = opts.signer.publicKey;
  const request = {
    credentials: { oidcIdentityToken: opts.token },
    publicKeyRequest: {
      publicKey: { algorithm: ALGORITHM[pub.kind], content: pub.pem },
      proofOfPossession: (await opts.signer.sign(Buffer.from(challenge, 'utf8'))).toString('base64'),
    },
  };
  const body = JSON.stringify(request);
  const attempts = Math.max(1, opts.attempts ?? 3);
  const net = clientNet(opts);
  const { signal } = netOptions(net);
  const origin = new URL(url).origin;
  let lastError: SignetError | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await sleep(Math.min(4000, 250 * 4 ** (attempt - 2)), signal, `waiting to retry the CA at ${origin}`);
    let res: ServiceResponse;
    let text: string;
    try {
      const answer = await serviceExchange(
        url,
        { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body, redirect: 'error' },
        net,
        MAX_ANSWER,
        `the answer of the CA at ${origin}`,
      );
      res = answer.res;
      text = answer.body.toString('utf8');
    } catch (e) {
      if (e instanceof SignetError && isTimeout(e)) throw inContext(e, `the CA at ${origin}`);
      if (e instanceof SignetError) throw e;
      const why = (e as Error & { cause?: Error })?.cause?.message ?? String(e);
      lastError = new SignetError('NETWORK', `cannot reach the CA at ${origin}: ${why}`, { cause: e });
      continue;
    }
    if (res.status === 429 || res.status >= 500) {
      lastError = new SignetError('NETWORK', `the CA at ${origin} answered HTTP ${res.status}${text ? ': ' + reasonOf(text) : ''}`);
      const after = Number(res.headers.get('retry-after'));
      if (Number.isFinite(after) && after > 0 && attempt < attempts) await sleep(Math.min(after, 10) * 1000);
      continue;
    }
    if (!res.ok) {
      throw new SignetError('VERIFICATION', `the CA refused the certificate request (HTTP ${res.status}): ${reasonOf(text) || 'no reason given'}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new SignetError('MALFORMED', 'CA response is not JSON');
    }
    const issued = parseSigningCertificateResponse(json);
    const leaf = parsedLeaves.get(issued.leafDer) ?? parseCertificate(issued.leafDer);
    if (!certifiesKey(leaf.spki, pub.key, pub.spkiDer)) throw new SignetError('VERIFICATION', 'the CA issued a certificate for a different public key');
    return issued;
  }
  throw lastError ?? new SignetError('NETWORK', `cannot reach the CA at ${origin}`);
}
