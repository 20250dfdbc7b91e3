/** Signed Rekor requests built the way clients (cosign, sigstore-js) build them, for tests and the bench. */
import 'reflect-metadata';
import { type KeyObject, createHash, generateKeyPairSync, randomBytes, sign, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { pae } from '../../src/sigstore/index.js';

export interface TestKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  pem: string;
  spkiDer: Buffer;
}

export function ecKey(curve: 'P-256' | 'P-384' = 'P-256'): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  return { privateKey, publicKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), spkiDer: publicKey.export({ type: 'spki', format: 'der' }) };
}

export function edKey(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), spkiDer: publicKey.export({ type: 'spki', format: 'der' }) };
}

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');

export function hashedRekordV1(key: TestKey, artifact: Buffer = randomBytes(32), opts: { pem?: string; signer?: KeyObject } = {}): Record<string, unknown> {
  const digest = createHash('sha256').update(artifact).digest('hex');
  const signer = opts.signer ?? key.privateKey;
  const sig = sign(signer.asymmetricKeyType === 'ed25519' ? null : 'sha256', artifact, signer);
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: digest } },
      signature: { content: b64(sig), publicKey: { content: b64(opts.pem ?? key.pem) } },
    },
  };
}

export function dsseEnvelope(key: TestKey, payload: Buffer, payloadType = 'application/vnd.in-toto+json'): { envelope: string; sig: Buffer } {
  const sig = sign(key.publicKey.asymmetricKeyType === 'ed25519' ? null : 'sha256', pae(payloadType, payload), key.privateKey);
  return { envelope: JSON.stringify({ payloadType, payload: b64(payload), signatures: [{ keyid: '', sig: b64(sig) }] }), sig };
}

export function dsseV1(key: TestKey, payload: Buffer, verifierPem = key.pem): Record<string, unknown> {
  const { envelope } = dsseEnvelope(key, payload);
  return { apiVersion: '0.0.1', kind: 'dsse', spec: { proposedContent: { envelope, verifiers: [b64(verifierPem)] } } };
}

export function intotoV2(key: TestKey, payload: Buffer, payloadType = 'application/vnd.in-toto+json'): Record<string, unknown> {
  const sig = sign('sha256', pae(payloadType, payload), key.privateKey);
  return {
    apiVersion: '0.0.2',
    kind: 'intoto',
    spec: {
      content: {
        envelope: {
          payloadType,
          payload: b64(b64(payload)),
          signatures: [{ sig: b64(b64(sig)), publicKey: b64(key.pem) }],
        },
        hash: { algorithm: 'sha256', value: createHash('sha256').update('client-computed').digest('hex') },
        payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
      },
    },
  };
}

export function hashedRekordV2(key: TestKey, artifact: Buffer = randomBytes(32), opts: { certDer?: Buffer; keyDetails?: string } = {}): Record<string, unknown> {
  const digest = createHash('sha256').update(artifact).digest();
  const sig = sign('sha256', artifact, key.privateKey);
  const verifier = opts.certDer ? { x509Certificate: { rawBytes: b64(opts.certDer) } } : { publicKey: { rawBytes: b64(key.spkiDer) } };
  return {
    hashedRekordRequestV002: {
      digest: b64(digest),
      signature: { content: b64(sig), verifier: { ...verifier, keyDetails: opts.keyDetails ?? 'PKIX_ECDSA_P256_SHA_256' } },
    },
  };
}

/** A self-signed P-256 certificate with an email and a URI SAN, plus its key. */
export async function selfSignedCert(email = 'Alice@Example.com', uri = 'https://example.com/ci'): Promise<{ key: TestKey; certDer: Buffer; certPem: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: 'CN=test',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3600_000),
      keys: keys as never,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'email', value: email }, { type: 'url', value: uri }])],
    },
    webcrypto as never,
  );
  const certDer = Buffer.from(cert.rawData);
  const { KeyObject } = await import('node:crypto');
  const privateKey = KeyObject.from(keys.privateKey);
  const publicKey = KeyObject.from(keys.publicKey);
  return {
    key: { privateKey, publicKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), spkiDer: publicKey.export({ type: 'spki', format: 'der' }) },
    certDer,
    certPem: cert.toString('pem') + '\n',
  };
}
