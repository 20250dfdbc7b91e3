/**
 * Shared by the certificate, SCT and identity tests: the public-good fixtures (see
 * fixtures-public-good/README.md) and a small certificate factory for chains, leaves and CT logs of our
 * own, so that each rule can be broken on purpose.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, generateKeyPairSync, sign, webcrypto, type KeyObject } from 'node:crypto';
import { x509 } from '../../src/server/ca/x509.js';
import type { CertificateAuthority } from '../../src/sigstore/certificate.js';
import type { CtLog } from '../../src/sigstore/sct.js';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled tests run from dist/test/sigstore; the data files stay in the source tree.
const fixtureDir = join(here, '..', '..', '..', 'test', 'sigstore', 'fixtures-public-good');

export function readFixture(name: string): Buffer {
  return readFileSync(join(fixtureDir, name));
}

export const publicGoodRoot = JSON.parse(readFixture('trusted_root.json').toString('utf8')) as {
  certificateAuthorities: unknown[];
  ctlogs: unknown[];
};

export interface PublicGoodCase {
  name: string;
  leaf: Buffer;
  integratedTime: Date;
  identity: string;
  issuer: string;
}

function bundle(name: string): any {
  return JSON.parse(readFixture(name).toString('utf8'));
}

const cosignBundle = bundle('cosign-oci-attestation.sigstore.json');
const conformanceBundle = bundle('conformance-a.txt.sigstore.json');

export const publicGoodCases: PublicGoodCase[] = [
  {
    name: 'cosign oci-attestation (email, P-256, 2025)',
    leaf: Buffer.from(cosignBundle.verificationMaterial.certificate.rawBytes, 'base64'),
    integratedTime: new Date(Number(cosignBundle.verificationMaterial.tlogEntries[0].integratedTime) * 1000),
    identity: 'cody@soyland.com',
    issuer: 'https://github.com/login/oauth',
  },
  {
    name: 'conformance a.txt (GitHub Actions, P-384, 2023)',
    leaf: Buffer.from(conformanceBundle.verificationMaterial.x509CertificateChain.certificates[0].rawBytes, 'base64'),
    integratedTime: new Date(Number(conformanceBundle.verificationMaterial.tlogEntries[0].integratedTime) * 1000),
    identity:
      'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main',
    issuer: 'https://token.actions.githubusercontent.com',
  },
];

// ---------------------------------------------------------------------------------------------------

export interface TestKey {
  pair: webcrypto.CryptoKeyPair;
  spki: Buffer;
}

export async function testKey(namedCurve: 'P-256' | 'P-384' = 'P-256'): Promise<TestKey> {
  const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  return { pair, spki: Buffer.from(await webcrypto.subtle.exportKey('spki', pair.publicKey)) };
}

export interface CertSpec {
  subject: string;
  issuer: string;
  key: TestKey;
  signer: TestKey;
  notBefore: Date;
  notAfter: Date;
  extensions: x509.Extension[];
  serial?: string;
}

export async function makeCert(spec: CertSpec): Promise<Buffer> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: spec.serial ?? '01' + createHash('sha256').update(spec.subject + Math.random()).digest('hex').slice(0, 30),
    subject: spec.subject,
    issuer: spec.issuer,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey: spec.key.spki,
    signingKey: spec.signer.pair.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    extensions: spec.extensions,
  });
  return Buffer.from(cert.rawData);
}

export function utf8Ext(oid: string, value: string): x509.Extension {
  const b = Buffer.from(value, 'utf8');
  if (b.length > 127) throw new Error('test helper: value too long');
  return new x509.Extension(oid, false, Buffer.concat([Buffer.from([0x0c, b.length]), b]));
}

export function rawExt(oid: string, value: string): x509.Extension {
  return new x509.Extension(oid, false, Buffer.from(value, 'utf8'));
}

export const codeSigningEku = (): x509.Extension => new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning], false);
export const emailSan = (email: string): x509.Extension => new x509.SubjectAlternativeNameExtension([{ type: 'email', value: email }], true);

export interface TestChain {
  root: Buffer;
  intermediate: Buffer;
  rootKey: TestKey;
  interKey: TestKey;
  interSubject: string;
  authority: CertificateAuthority;
}

/** root → intermediate, named like the public-good CA unless told otherwise. */
export async function makeChain(opts: {
  notBefore?: Date;
  notAfter?: Date;
  rootPathLen?: number;
  interIsCa?: boolean;
  interSubject?: string;
  validFor?: CertificateAuthority['validFor'];
} = {}): Promise<TestChain> {
  const notBefore = opts.notBefore ?? new Date('2020-01-01T00:00:00Z');
  const notAfter = opts.notAfter ?? new Date('2040-01-01T00:00:00Z');
  const rootKey = await testKey('P-384');
  const interKey = await testKey('P-384');
  const rootSubject = 'O=sigstore.dev, CN=sigstore';
  const interSubject = opts.interSubject ?? 'O=sigstore.dev, CN=sigstore-intermediate';
  const root = await makeCert({
    subject: rootSubject,
    issuer: rootSubject,
    key: rootKey,
    signer: rootKey,
    notBefore,
    notAfter,
    extensions: [new x509.BasicConstraintsExtension(true, opts.rootPathLen ?? 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const intermediate = await makeCert({
    subject: interSubject,
    issuer: rootSubject,
    key: interKey,
    signer: rootKey,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(opts.interIsCa ?? true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      codeSigningEku(),
    ],
  });
  return {
    root,
    intermediate,
    rootKey,
    interKey,
    interSubject,
    authority: { certChain: [intermediate, root], validFor: opts.validFor ?? { start: notBefore }, uri: 'https://ca.test' },
  };
}

export const LEAF_NOT_BEFORE = new Date('2026-01-10T12:00:00Z');
export const LEAF_NOT_AFTER = new Date('2026-01-10T12:10:00Z');
export const SIGNING_TIME = new Date('2026-01-10T12:01:00Z');

/** A Fulcio-shaped leaf issued by `chain`'s intermediate. */
export async function makeLeaf(chain: TestChain, extensions: x509.Extension[], opts: { serial?: string; key?: TestKey } = {}): Promise<Buffer> {
  const spec: CertSpec = {
    subject: '',
    issuer: chain.interSubject,
    key: opts.key ?? (await testKey()),
    signer: chain.interKey,
    notBefore: LEAF_NOT_BEFORE,
    notAfter: LEAF_NOT_AFTER,
    extensions,
  };
  if (opts.serial) spec.serial = opts.serial;
  return makeCert(spec);
}

export interface TestCtLog {
  log: CtLog;
  privateKey: KeyObject;
}

export function makeCtLog(validFor: CtLog['validFor'] = {}): TestCtLog {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return { log: { logId: createHash('sha256').update(spki).digest(), publicKey, validFor, baseUrl: 'https://ct.test' }, privateKey };
}

/** RFC 6962 SCT over a precertificate TBS, TLS-encoded, as one element of a list. */
export function makeSct(ct: TestCtLog, issuerSpki: Buffer, precertTbs: Buffer, timestamp: Date): Buffer {
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(timestamp.getTime()));
  const tbsLen = Buffer.from([(precertTbs.length >> 16) & 0xff, (precertTbs.length >> 8) & 0xff, precertTbs.length & 0xff]);
  const signed = Buffer.concat([
    Buffer.from([0, 0]),
    ts,
    Buffer.from([0, 1]),
    createHash('sha256').update(issuerSpki).digest(),
    tbsLen,
    precertTbs,
    Buffer.from([0, 0]),
  ]);
  const sig = sign('sha256', signed, ct.privateKey);
  const sigLen = Buffer.alloc(2);
  sigLen.writeUInt16BE(sig.length);
  return Buffer.concat([Buffer.from([0]), ct.log.logId, ts, Buffer.from([0, 0, 4, 3]), sigLen, sig]);
}

/** The SCT list extension value: DER OCTET STRING around `u16 len || (u16 len || sct)*`. */
export function sctListExtension(scts: Buffer[]): x509.Extension {
  const items = scts.map((s) => {
    const l = Buffer.alloc(2);
    l.writeUInt16BE(s.length);
    return Buffer.concat([l, s]);
  });
  const body = Buffer.concat(items);
  const total = Buffer.alloc(2);
  total.writeUInt16BE(body.length);
  const tls = Buffer.concat([total, body]);
  const len = tls.length < 0x80 ? Buffer.from([tls.length]) : tls.length < 0x100 ? Buffer.from([0x81, tls.length]) : Buffer.from([0x82, tls.length >> 8, tls.length & 0xff]);
  return new x509.Extension('1.3.6.1.4.1.11129.2.4.2', false, Buffer.concat([Buffer.from([0x04]), len, tls]));
}
