import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, ECDH, verify as nodeVerify, webcrypto, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { x509 } from '../../src/server/ca/x509.js';
import { ephemeralSigner, requestCertificate, parseSigningCertificateResponse } from '../../src/sigstore/fulcio-client.js';
import { isSignetError } from '../../src/errors.js';
import { parseCertificate } from '../../src/sigstore/certificate.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims: Record<string, unknown>): string => `${b64({ alg: 'ES256' })}.${b64(claims)}.c2ln`;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

interface Ca {
  keys: webcrypto.CryptoKeyPair;
  cert: x509.X509Certificate;
}

async function makeRoot(): Promise<Ca> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=test root, O=signet-test',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, 1, true)],
  });
  return { keys, cert };
}

async function issueLeaf(ca: Ca, spki: Buffer): Promise<string> {
  // The SPKI bytes as given (a CryptoKey would be re-encoded with an uncompressed point).
  const publicKey = spki;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=leaf',
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - 1000),
    notAfter: new Date(Date.now() + 600_000),
    publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
  });
  return leaf.toString('pem');
}

type Mode = 'embedded' | 'detached' | 'flaky' | 'down' | 'wrong-key' | 'not-json' | 'no-chain' | 'bad-pem' | 'compressed';

describe('fulcio-client', () => {
  let server: Server;
  let url: string;
  let ca: Ca;
  let mode: Mode = 'embedded';
  let calls = 0;
  const bodies: Record<string, unknown>[] = [];

  before(async () => {
    ca = await makeRoot();
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        void (async () => {
          calls++;
          const send = (status: number, body: unknown): void => {
            res.writeHead(status, { 'Content-Type': 'application/json' });
            res.end(typeof body === 'string' ? body : JSON.stringify(body));
          };
          if (req.url !== '/api/v2/signingCert' || req.method !== 'POST') return send(404, { code: 5, message: 'Not Found' });
          if (mode === 'down') return send(503, { code: 14, message: 'backend unavailable' });
          if (mode === 'flaky' && calls % 2 === 1) return send(500, { code: 13, message: 'try again' });
          const body = JSON.parse(text) as Record<string, any>;
          bodies.push(body);
          const token = body.credentials?.oidcIdentityToken as string;
          const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, string>;
          if (claims.aud !== 'sigstore') return send(401, { code: 16, message: 'There was an error processing the identity token' });
          const pem = body.publicKeyRequest.publicKey.content as string;
          const key = createPublicKey(pem);
          const challenge = claims.email ?? claims.sub;
          if (!nodeVerify('sha256', Buffer.from(challenge!), key, Buffer.from(body.publicKeyRequest.proofOfPossession, 'base64'))) {
            return send(400, { code: 3, message: 'The signature supplied in the request could not be verified', details: [] });
          }
          if (mode === 'not-json') return send(200, '<html>');
          if (mode === 'no-chain') return send(200, { signedCertificateEmbeddedSct: { chain: { certificates: [] } } });
          if (mode === 'bad-pem') return send(200, { signedCertificateEmbeddedSct: { chain: { certificates: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'] } } });
          let spki = mode === 'wrong-key' ? ephemeralSigner().publicKey.spkiDer : key.export({ type: 'spki', format: 'der' });
          if (mode === 'compressed') {
            // The same P-256 key with its point compressed: other bytes, the same key.
            const jwk = key.export({ format: 'jwk' });
            const raw = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
            const point = ECDH.convertKey(raw, 'prime256v1', undefined, undefined, 'compressed') as Buffer;
            spki = Buffer.concat([Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'), point]);
          }
          const chain = { certificates: [await issueLeaf(ca, spki), ca.cert.toString('pem')] };
          if (mode === 'detached') {
            const sct = Buffer.from(JSON.stringify({ sct_version: 0, id: 'aWQ=', timestamp: 1, extensions: '', signature: 'c2ln' })).toString('base64');
            return send(201, { signedCertificateDetachedSct: { chain, signedCertificateTimestamp: sct } });
          }
          send(201, { signedCertificateEmbeddedSct: { chain } });
        })();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('a chain certificate seen before is taken as parsed; one that does not parse is still refused after it', async () => {
    const leaf = await issueLeaf(ca, ephemeralSigner().publicKey.spkiDer);
    const root = ca.cert.toString('pem');
    const answer = (certificates: string[]) => ({ signedCertificateEmbeddedSct: { chain: { certificates } } });
    for (let i = 0; i < 2; i++) assert.equal(parseSigningCertificateResponse(answer([leaf, root])).chainDer.length, 1);
    const notX509 = '-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n';
    assert.throws(() => parseSigningCertificateResponse(answer([leaf, root, notX509])), (e) => isSignetError(e, 'MALFORMED') && /certificate 2 does not parse as X.509/.test(e.message));
    assert.throws(() => parseSigningCertificateResponse(answer([notX509, root])), (e) => isSignetError(e, 'MALFORMED') && /certificate 0 does not parse/.test(e.message));
    assert.throws(() => parseSigningCertificateResponse(answer([root, leaf.replace('CERTIFICATE-----\n', 'CERTIFICATE-----\nAAAA')])), (e) => isSignetError(e, 'MALFORMED'));
  });

  const token = jwt({ iss: 'https://issuer.example', sub: 'user-1', email: 'dev@example.com', aud: 'sigstore' });

  it('sends the PEM key and a proof of possession over the email, and returns DER leaf + chain (embedded SCT)', async () => {
    mode = 'embedded';
    const signer = ephemeralSigner();
    const r = await requestCertificate(url + '/', { token, signer });
    const leaf = new X509Certificate(r.leafDer);
    assert.ok(leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(signer.publicKey.spkiDer));
    assert.equal(r.chainDer.length, 1);
    assert.ok(leaf.verify(new X509Certificate(r.chainDer[0]!).publicKey));
    assert.equal(r.detachedSct, undefined);
    const sent = bodies.at(-1) as any;
    assert.equal(sent.publicKeyRequest.publicKey.algorithm, 'ECDSA');
    assert.match(sent.publicKeyRequest.publicKey.content, /^-----BEGIN PUBLIC KEY-----/);
    assert.equal(sent.credentials.oidcIdentityToken, token);
  });

  it('signs sub when the token has no email', async () => {
    mode = 'embedded';
    const r = await requestCertificate(url, { token: jwt({ iss: 'https://ci.example', sub: 'repo:o/r', aud: 'sigstore' }), signer: ephemeralSigner() });
    assert.ok(r.leafDer.length > 0);
  });

  it('parses the detached-SCT shape', async () => {
    mode = 'detached';
    const r = await requestCertificate(url, { token, signer: ephemeralSigner() });
    assert.equal(r.chainDer.length, 1);
    assert.equal(JSON.parse(r.detachedSct!.toString()).sct_version, 0);
  });

  it('shows the CA\'s reason on 4xx without retrying', async () => {
    mode = 'embedded';
    const before = calls;
    await assert.rejects(
      requestCertificate(url, { token, signer: ephemeralSigner(), challenge: 'someone-else@example.com' }),
      (e) => isSignetError(e, 'VERIFICATION') && /HTTP 400\): The signature supplied in the request could not be verified/.test(e.message),
    );
    assert.equal(calls - before, 1);
    await assert.rejects(
      requestCertificate(url, { token: jwt({ iss: 'https://i', sub: 's', aud: 'other' }), signer: ephemeralSigner() }),
      (e) => isSignetError(e, 'VERIFICATION') && /HTTP 401\): There was an error processing the identity token/.test(e.message),
    );
  });

  it('retries 5xx and gives up with the last reason', async () => {
    mode = 'flaky';
    calls = 0;
    const r = await requestCertificate(url, { token, signer: ephemeralSigner() });
    assert.ok(r.leafDer.length > 0);
    assert.equal(calls, 2);
    mode = 'down';
    calls = 0;
    await assert.rejects(requestCertificate(url, { token, signer: ephemeralSigner(), attempts: 2 }), (e) => isSignetError(e, 'NETWORK') && /HTTP 503: backend unavailable/.test(e.message));
    assert.equal(calls, 2);
  });

  it('accepts a certificate holding the same key in another encoding (compressed point)', async () => {
    mode = 'compressed';
    const signer = ephemeralSigner();
    const r = await requestCertificate(url, { token, signer });
    const leafSpki = parseCertificate(r.leafDer).spki;
    assert.equal(leafSpki.length, 59, 'the leaf holds the compressed form');
    assert.ok(createPublicKey({ key: leafSpki, format: 'der', type: 'spki' }).equals(signer.publicKey.key));
  });

  it('refuses a certificate for another key and malformed answers', async () => {
    mode = 'wrong-key';
    await assert.rejects(requestCertificate(url, { token, signer: ephemeralSigner() }), (e) => isSignetError(e, 'VERIFICATION') && /different public key/.test(e.message));
    mode = 'not-json';
    await assert.rejects(requestCertificate(url, { token, signer: ephemeralSigner() }), (e) => isSignetError(e, 'MALFORMED'));
    mode = 'no-chain';
    await assert.rejects(requestCertificate(url, { token, signer: ephemeralSigner() }), (e) => isSignetError(e, 'MALFORMED') && /missing or empty/.test(e.message));
    mode = 'bad-pem';
    await assert.rejects(requestCertificate(url, { token, signer: ephemeralSigner() }), (e) => isSignetError(e, 'MALFORMED'));
    assert.throws(() => parseSigningCertificateResponse({ other: 1 }), (e) => isSignetError(e, 'MALFORMED') && /neither/.test(e.message));
    assert.throws(() => parseSigningCertificateResponse([]), (e) => isSignetError(e, 'MALFORMED'));
  });

  it('reports an unreachable CA as NETWORK and a bad URL as USAGE', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    await assert.rejects(requestCertificate(`http://127.0.0.1:${port}`, { token, signer: ephemeralSigner(), attempts: 1 }), (e) => isSignetError(e, 'NETWORK') && /cannot reach the CA/.test(e.message));
    await assert.rejects(requestCertificate('ftp://x', { token, signer: ephemeralSigner() }), (e) => isSignetError(e, 'USAGE'));
  });

  it('makes ephemeral signers of other kinds', () => {
    assert.equal(ephemeralSigner('ecdsa-p384').publicKey.kind, 'ecdsa-p384');
    assert.equal(ephemeralSigner('ed25519').publicKey.kind, 'ed25519');
  });
});
