/**
 * Test helpers for the TSA: a minimal node:http mount of ServiceRoutes (the real HTTP layer lives
 * elsewhere; this keeps the TSA tests independent of it), and certificate chains built on purpose
 * with defects the TSA itself would refuse to start with.
 */
import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { ServiceRoute } from '../../../src/server/routes.js';

export interface Mounted {
  url: string;
  close(): Promise<void>;
}

export async function mount(routes: ServiceRoute[]): Promise<Mounted> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      const route = routes.find((r) => r.method === req.method && r.path === u.pathname);
      if (!route) {
        res.writeHead(404).end();
        return;
      }
      route
        .handle({ headers: req.headers, body: Buffer.concat(chunks), query: u.searchParams, remoteAddress: req.socket.remoteAddress })
        .then((r) => res.writeHead(r.status, r.headers ?? {}).end(r.body))
        .catch((e: unknown) => res.writeHead(500).end(String(e)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const provider = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];

export interface ChainSpec {
  /** The leaf's public key as SPKI DER (e.g. another TSA's key, to imitate its certificate). */
  leafSpki?: Buffer;
  leafSubject?: string;
  rootSubject?: string;
  leafSerial?: string;
  ekuCritical?: boolean;
  ekus?: string[];
  notBefore?: Date;
  notAfter?: Date;
}

/** Root P-384 -> leaf, with the given deviations from a correct TSA chain. Returns PEM-ready certs and the leaf key. */
export async function buildChain(spec: ChainSpec = {}): Promise<{ chain: X509Certificate[]; chainPem: string; leafKeyPem?: string }> {
  const subtle = webcrypto.subtle;
  const rootKeys = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  let leafPublic: webcrypto.CryptoKey;
  let leafKeyPem: string | undefined;
  if (spec.leafSpki) {
    leafPublic = await subtle.importKey('spki', spec.leafSpki, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
  } else {
    const k = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    leafPublic = k.publicKey;
    const der = Buffer.from(await subtle.exportKey('pkcs8', k.privateKey));
    leafKeyPem = `-----BEGIN PRIVATE KEY-----\n${der.toString('base64')}\n-----END PRIVATE KEY-----\n`;
  }
  const notBefore = spec.notBefore ?? new Date(Date.now() - 3600_000);
  const notAfter = spec.notAfter ?? new Date(Date.now() + 365 * 86400_000);
  const root = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: spec.rootSubject ?? 'CN=test-tsa-root, O=test',
      notBefore: new Date(notBefore.getTime() - 3600_000),
      notAfter: new Date(notAfter.getTime() + 3600_000),
      keys: rootKeys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
    },
    provider,
  );
  const leaf = await x509.X509CertificateGenerator.create(
    {
      serialNumber: spec.leafSerial ?? '02',
      subject: spec.leafSubject ?? 'CN=test-tsa, O=test',
      issuer: root.subject,
      notBefore,
      notAfter,
      publicKey: leafPublic,
      signingKey: rootKeys.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(spec.ekus ?? ['1.3.6.1.5.5.7.3.8'], spec.ekuCritical ?? true),
      ],
    },
    provider,
  );
  const chain = [new X509Certificate(Buffer.from(leaf.rawData)), new X509Certificate(Buffer.from(root.rawData))];
  return { chain, chainPem: `${leaf.toString('pem')}\n${root.toString('pem')}\n`, leafKeyPem };
}
