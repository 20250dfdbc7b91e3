import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, sign as nodeSign, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, OtherName, SubjectAlternativeName, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { createCa } from '../../../src/server/ca/index.js';
import { leafSigner, sanExtension, subjectKeyIdOf } from '../../../src/server/ca/leaf.js';
import { x509 } from '../../../src/server/ca/x509.js';
import { OidcVerifier, parseOidcConfig, SIGSTORE_OID } from '../../../src/server/oidc/index.js';
import { derUtf8String, type Principal } from '../../../src/server/oidc/principal.js';
import { parseCertificate } from '../../../src/sigstore/certificate.js';
import { FakeIssuer, githubWorkflowClaims } from '../oidc/helpers.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'signet-ca-leaf-'));
const spkiPem = (k: KeyObject): string => createPublicKey(k).export({ type: 'spki', format: 'pem' }).toString();

type Kind = 'P-256' | 'P-384' | 'P-521' | 'RSA' | 'Ed25519';

function keyPair(kind: Kind): { privateKey: KeyObject; publicKey: KeyObject } {
  if (kind === 'RSA') return generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (kind === 'Ed25519') return generateKeyPairSync('ed25519');
  return generateKeyPairSync('ec', { namedCurve: kind });
}

/** The WebCrypto parameters the CA signed with through the x509 library. */
function webAlg(kind: Kind): { importAlg: { name: string; namedCurve?: string; hash?: string }; signAlg: { name: string; hash?: string } } {
  switch (kind) {
    case 'RSA':
      return { importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, signAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } };
    case 'Ed25519':
      return { importAlg: { name: 'Ed25519' }, signAlg: { name: 'Ed25519' } };
    default:
      return { importAlg: { name: 'ECDSA', namedCurve: kind }, signAlg: { name: 'ECDSA', hash: { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' }[kind] } };
  }
}

function popHash(k: KeyObject): string | null {
  if (k.asymmetricKeyType === 'ed25519') return null;
  const c = k.asymmetricKeyDetails?.namedCurve;
  return c === 'secp384r1' ? 'sha384' : c === 'secp521r1' ? 'sha512' : 'sha256';
}

/** A self-signed CA certificate for `key`, made with the x509 library. */
async function selfSignedCa(kind: Kind, key: KeyObject): Promise<string> {
  const a = webAlg(kind);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=leaf test ${kind}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    keys: {
      privateKey: await key.toCryptoKey(a.importAlg, false, ['sign']),
      publicKey: await createPublicKey(key).toCryptoKey(a.importAlg, true, ['verify']),
    } as unknown as webcrypto.CryptoKeyPair,
    signingAlgorithm: a.signAlg,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return cert.toString('pem');
}

/**
 * The TBSCertificate the x509 library encodes for the fields of `leafPem`, its extensions built from
 * the library's own classes as the CA did before leaves were assembled by hand (the SAN and the Sigstore
 * extensions, whose values the CA encodes itself, are copied).
 */
async function libraryTbs(leafPem: string, issuerPem: string, kind: Kind, caKey: KeyObject): Promise<Buffer> {
  const leaf = new x509.X509Certificate(leafPem);
  const issuer = new x509.X509Certificate(issuerPem);
  const a = webAlg(kind);
  const issuerSki = subjectKeyIdOf(Buffer.from(issuer.publicKey.rawData));
  const copied = leaf.extensions.filter((e) => !['2.5.29.15', '2.5.29.37', '2.5.29.14', '2.5.29.35'].includes(e.type));
  const rebuilt = await x509.X509CertificateGenerator.create({
    serialNumber: leaf.serialNumber,
    issuer: issuer.subjectName,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
    publicKey: Buffer.from(leaf.publicKey.rawData),
    signingKey: await caKey.toCryptoKey(a.importAlg, false, ['sign']),
    signingAlgorithm: a.signAlg,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning], false),
      new x509.SubjectKeyIdentifierExtension(subjectKeyIdOf(Buffer.from(leaf.publicKey.rawData))),
      new x509.AuthorityKeyIdentifierExtension(issuerSki),
      ...copied.map((e) => new x509.Extension(e.type, e.critical, e.value)),
    ],
  });
  return Buffer.from(parseCertificate(Buffer.from(rebuilt.rawData)).tbs);
}

describe('CA leaf certificates assembled from DER', () => {
  let email: FakeIssuer;
  let gh: FakeIssuer;
  let user: FakeIssuer;
  let oidc: OidcVerifier;

  before(async () => {
    [email, gh, user] = await Promise.all([FakeIssuer.start(), FakeIssuer.start(), FakeIssuer.start()]);
    oidc = new OidcVerifier(
      parseOidcConfig({
        OIDCIssuers: { [email.url]: { Type: 'email' }, [gh.url]: { Type: 'github-workflow' }, [user.url]: { Type: 'username', SubjectDomain: 'example.com' } },
      }),
    );
  });
  after(async () => {
    await Promise.all([email.stop(), gh.stop(), user.stop()]);
  });

  test('the subject key identifier is SHA-1 of the key bits, as the x509 library computes it', () => {
    for (const kind of ['P-256', 'P-384', 'RSA', 'Ed25519'] as const) {
      const spki = keyPair(kind).publicKey.export({ type: 'spki', format: 'der' });
      const lib = AsnConvert.parse(spki, SubjectPublicKeyInfo);
      assert.equal(subjectKeyIdOf(spki), createHash('sha1').update(Buffer.from(lib.subjectPublicKey)).digest('hex'), kind);
    }
    assert.throws(() => subjectKeyIdOf(Buffer.from([0x30, 0x00])), /SubjectPublicKeyInfo|truncated/);
  });

  test('the SAN is byte for byte what the schema library encodes, for every kind of name', () => {
    const bySchema = (p: Pick<Principal, 'sanType' | 'subject'>): Buffer => {
      let name: GeneralName;
      if (p.sanType === 'email') name = new GeneralName({ rfc822Name: p.subject });
      else if (p.sanType === 'uri') name = new GeneralName({ uniformResourceIdentifier: p.subject });
      else {
        const v = derUtf8String(p.subject);
        name = new GeneralName({ otherName: new OtherName({ typeId: SIGSTORE_OID.otherName, value: v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer }) });
      }
      return Buffer.from(AsnConvert.serialize(new SubjectAlternativeName([name])));
    };
    const long = 'a'.repeat(300);
    const cases: Array<Pick<Principal, 'sanType' | 'subject'>> = [
      { sanType: 'email', subject: 'alice@example.com' },
      { sanType: 'email', subject: `${long}@example.com` },
      { sanType: 'email', subject: 'jörg@example.com' },
      { sanType: 'uri', subject: 'https://github.com/octo/app/.github/workflows/r.yml@refs/heads/main' },
      { sanType: 'uri', subject: `https://example.com/${long}` },
      { sanType: 'othername', subject: 'bob!example.com' },
      { sanType: 'othername', subject: `bøb!${long}` },
    ];
    for (const c of cases) {
      const ext = sanExtension(c as Principal);
      assert.equal(ext.oid, '2.5.29.17');
      assert.equal(ext.critical, true);
      assert.deepEqual(Buffer.from(ext.value), bySchema(c), `${c.sanType} ${c.subject.slice(0, 30)}`);
    }
  });

  test('the signature algorithm follows the CA key; unsupported keys are refused', () => {
    assert.equal(leafSigner(keyPair('P-256').privateKey).algorithm.toString('hex'), '300a06082a8648ce3d040302');
    assert.equal(leafSigner(keyPair('P-384').privateKey).algorithm.toString('hex'), '300a06082a8648ce3d040303');
    assert.equal(leafSigner(keyPair('RSA').privateKey).algorithm.toString('hex'), '300d06092a864886f70d01010b0500');
    assert.equal(leafSigner(keyPair('Ed25519').privateKey).algorithm.toString('hex'), '300506032b6570');
    assert.throws(() => leafSigner(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey), /curve secp256k1 is not allowed/);
    assert.throws(() => leafSigner(generateKeyPairSync('x25519').privateKey), /CA key type x25519 is not supported/);
  });

  for (const kind of ['P-384', 'P-256', 'P-521', 'RSA', 'Ed25519'] as const) {
    test(`${kind} CA: issued leaves are byte for byte the x509 library's TBS, signed by the CA (email, URI and otherName SANs)`, async () => {
      const caKeys = keyPair(kind);
      const caPem = await selfSignedCa(kind, caKeys.privateKey);
      const ca = await createCa({ dataDir: tmp(), oidc, caKey: caKeys.privateKey, caCert: caPem });
      const caCert = new X509Certificate(caPem);
      const sub = 'repo:octo/app:ref:refs/heads/main';
      const cases: Array<{ token: string; challenge: string }> = [
        { token: await email.token(), challenge: 'alice@example.com' },
        {
          token: await gh.token(githubWorkflowClaims(sub)),
          challenge: sub,
        },
        { token: await user.token({ sub: 'bob' }), challenge: 'bob' },
      ];
      for (const c of cases) {
        const subject = keyPair('P-256');
        const out = await ca.issue({ token: c.token, publicKey: spkiPem(subject.privateKey), proofOfPossession: nodeSign(popHash(subject.privateKey), Buffer.from(c.challenge), subject.privateKey) });
        const leaf = new X509Certificate(out.certificate);
        assert.ok(leaf.verify(caCert.publicKey), `${kind}: signed by the CA`);
        assert.ok(leaf.checkIssued(caCert));
        assert.ok(leaf.publicKey.equals(subject.publicKey));
        const ours = parseCertificate(leaf.raw);
        assert.equal(ours.notAfter.getTime() - ours.notBefore.getTime(), 10 * 60_000);
        assert.deepEqual(ours.tbs, await libraryTbs(out.certificate, caPem, kind, caKeys.privateKey), `${kind} / ${c.challenge}: TBS differs from the library's`);
      }
    });
  }
});
