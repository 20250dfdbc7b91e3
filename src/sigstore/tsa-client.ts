/**
 * Client for an RFC 3161 timestamp authority over HTTP (Sigstore's timestamp-authority API, or any
 * RFC 3161 TSA that accepts `application/timestamp-query`). Sigstore timestamps the signature bytes.
 * The request is a handful of fixed DER fields and the answer is read with timestamp-verify.ts's DER
 * reader, so signing does not load the @peculiar ASN.1 schemas (~250 modules of cold start).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import { checkServerIdentity } from 'node:tls';
import { SignetError } from '../errors.js';
import { clientNet, inContext, isTimeout, type NetOptions } from '../net.js';
import type { HashAlg } from './encoding.js';
import { HASH_OID, hashAlgFromOid, readTimestampAnswer } from './timestamp-verify.js';
import { derOidEncode, derTlv } from './der.js';
import { serviceExchange, type ServiceResponse } from './http.js';

/** Far above any real TimeStampResp (a few KiB with a chain); bounds what a hostile server can make us buffer. */
const MAX_RESPONSE = 1 << 20;

/** cosign's `--timestamp-client-cacert|cert|key` and `--timestamp-server-name`: TLS to the TSA. */
export interface TsaTlsOptions {
  /** PEM CA certificates to trust instead of the system's. */
  ca?: Buffer;
  /** PEM client certificate and its private key (mutual TLS). */
  cert?: Buffer;
  key?: Buffer;
  /** The name the TSA's certificate must carry (SNI and verification), instead of the URL's host. */
  serverName?: string;
}

const agents = new WeakMap<TsaTlsOptions, HttpsAgent>();

/** One keep-alive agent per TLS settings object. */
function tlsAgent(tls: TsaTlsOptions): HttpsAgent {
  let a = agents.get(tls);
  if (!a) {
    const serverName = tls.serverName;
    a = new HttpsAgent({
      keepAlive: true,
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      ...(serverName ? { servername: serverName, checkServerIdentity: (_host: string, cert) => checkServerIdentity(serverName, cert) } : {}),
    });
    agents.set(tls, a);
  }
  return a;
}

export interface RequestTimestampOptions extends NetOptions {
  hashAlg?: HashAlg;
  /** TLS settings for an https TSA. */
  tls?: TsaTlsOptions;
  /** Shorthand for `timeouts`: both the headers and the body-idle bound (default 30 s each). */
  timeoutMs?: number;
}

/** Build a DER TimeStampReq for `signature` (certReq true, a random 64-bit nonce). */
export function buildTimestampRequest(signature: Uint8Array, hashAlg: HashAlg = 'sha256'): { der: Buffer; nonce: Buffer } {
  const nonce = randomBytes(8);
  nonce[0] = (nonce[0]! & 0x7f) | 0x01; // positive and minimally encoded, so the echo compares byte for byte
  // TimeStampReq ::= SEQUENCE { version INTEGER (v1), messageImprint MessageImprint, reqPolicy OPTIONAL,
  //   nonce INTEGER OPTIONAL, certReq BOOLEAN DEFAULT FALSE, extensions [0] OPTIONAL }
  // MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
  const imprint = derTlv(0x30, derTlv(0x30, derOidEncode(HASH_OID[hashAlg])), derTlv(0x04, createHash(hashAlg).update(signature).digest()));
  const der = derTlv(0x30, derTlv(0x02, Buffer.from([1])), imprint, derTlv(0x02, nonce), derTlv(0x01, Buffer.from([0xff])));
  return { der, nonce };
}

/**
 * Ask the TSA at `url` (the full timestamp URL, as in a signing config) to timestamp `signature`.
 * Returns the DER TimeStampResp as received, after checking it answers this request (status
 * granted, our imprint, our nonce). Trust in the TSA is established later, by verifyTimestamp.
 */
export async function requestTimestamp(url: string, signature: Uint8Array, opts: RequestTimestampOptions = {}): Promise<Buffer> {
  const hashAlg = opts.hashAlg ?? 'sha256';
  const { der, nonce } = buildTimestampRequest(signature, hashAlg);
  let res: ServiceResponse;
  let body: Buffer;
  try {
    ({ res, body } = await serviceExchange(
      url,
      { method: 'POST', headers: { 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' }, body: der, ...(opts.tls ? { agent: tlsAgent(opts.tls) } : {}) },
      clientNet(opts),
      MAX_RESPONSE,
      `the answer of the timestamp authority at ${url}`,
    ));
  } catch (e) {
    if (e instanceof SignetError && isTimeout(e)) throw inContext(e, `timestamp authority at ${url}`);
    if (e instanceof SignetError) throw e;
    const why = (e as { cause?: Error })?.cause?.message ?? (e as Error).message;
    throw new SignetError('NETWORK', `cannot reach the timestamp authority at ${url}: ${why}`, { cause: e });
  }
  if (res.status !== 200 && res.status !== 201) {
    let detail = body.subarray(0, 300).toString('utf8').trim();
    try {
      const j = JSON.parse(detail) as { message?: unknown };
      if (typeof j.message === 'string') detail = j.message;
    } catch {
      // not JSON: show the text as is
    }
    throw new SignetError('NETWORK', `timestamp authority at ${url} answered ${res.status}${detail ? `: ${detail.replace(/\s+/g, ' ')}` : ''}`);
  }
  const ts = readTimestampAnswer(body);
  const expected = createHash(hashAlg).update(signature).digest();
  if (hashAlgFromOid(ts.imprintAlg) !== hashAlg || !ts.imprint.equals(expected)) {
    throw new SignetError('VERIFICATION', `timestamp authority at ${url} timestamped other data than requested`);
  }
  if (!ts.nonce || !ts.nonce.equals(nonce)) {
    throw new SignetError('VERIFICATION', `timestamp authority at ${url} did not echo the request nonce`);
  }
  return body;
}
