import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraints, Certificate, ExtendedKeyUsage } from '@peculiar/asn1-x509';
import { x509 } from '../../src/server/ca/x509.js';
import { isSignetError } from '../../src/errors.js';
import {
  basicConstraints,
  certificateAuthoritiesFromTrustedRoot,
  extendedKeyUsages,
  findExtension,
  parseCertificate,
  verifyCertificateChain,
  type CertificateAuthority,
} from '../../src/sigstore/certificate.js';
import {
  codeSigningEku,
  emailSan,
  LEAF_NOT_AFTER,
  LEAF_NOT_BEFORE,
  makeChain,
  makeLeaf,
  publicGoodCases,
  publicGoodRoot,
  SIGNING_TIME,
} from './certificate-fixtures.js';
import { throwsCode } from '../helpers/assert.js';

const cas = certificateAuthoritiesFromTrustedRoot(publicGoodRoot.certificateAuthorities);

for (const c of publicGoodCases) {
  test(`public-good chain verifies: ${c.name}`, () => {
    const r = verifyCertificateChain(c.leaf, cas, [c.integratedTime]);
    assert.equal(r.chain.length, 3);
    assert.equal(new X509Certificate(r.chain[1]!.der).subject, 'O=sigstore.dev\nCN=sigstore-intermediate');
    assert.equal(new X509Certificate(r.chain[2]!.der).subject, 'O=sigstore.dev\nCN=sigstore');
    assert.equal(r.authority, cas[1], 'the 2022 Fulcio CA, not the 2021 one');
    assert.ok(r.chain[0]!.der.equals(c.leaf));
  });

  test(`public-good leaf outside its validity is refused: ${c.name}`, () => {
    const leaf = parseCertificate(c.leaf);
    const late = new Date(leaf.notAfter.getTime() + 1000);
    throwsCode(() => verifyCertificateChain(leaf, cas, [late]), 'VERIFICATION', new RegExp(`certificate is not valid at the signing time ${late.toISOString()}`));
    const early = new Date(leaf.notBefore.getTime() - 1000);
    throwsCode(() => verifyCertificateChain(leaf, cas, [early]), 'VERIFICATION', /not valid at the signing time/);
    // Every time must fall inside: one good timestamp does not excuse a bad one.
    throwsCode(() => verifyCertificateChain(leaf, cas, [c.integratedTime, late]), 'VERIFICATION', /not valid at the signing time/);
    // Bounds are inclusive, as in Go's crypto/x509.
    verifyCertificateChain(leaf, cas, [leaf.notBefore, leaf.notAfter]);
  });

  test(`parseCertificate agrees with @peculiar/asn1-x509: ${c.name}`, () => {
    const mine = parseCertificate(c.leaf);
    const ref = AsnConvert.parse(c.leaf, Certificate);
    const tbs = ref.tbsCertificate;
    assert.ok(mine.tbs.equals(Buffer.from(AsnConvert.serialize(tbs))));
    assert.ok(mine.serialNumber.equals(Buffer.from(tbs.serialNumber)));
    assert.equal(mine.notBefore.getTime(), tbs.validity.notBefore.getTime().getTime());
    assert.equal(mine.notAfter.getTime(), tbs.validity.notAfter.getTime().getTime());
    assert.equal(mine.signatureAlgorithm, ref.signatureAlgorithm.algorithm);
    assert.ok(mine.signature.equals(Buffer.from(ref.signatureValue)));
    assert.ok(mine.spki.equals(Buffer.from(AsnConvert.serialize(tbs.subjectPublicKeyInfo))));
    assert.deepEqual(
      mine.extensions.map((e) => [e.oid, e.critical, e.value.toString('hex')]),
      [...tbs.extensions!].map((e) => [e.extnID, e.critical, Buffer.from(e.extnValue.buffer).toString('hex')]),
    );
  });
}

test('a CA outside its trusted-root validity window is refused', () => {
  const c = publicGoodCases[0]!;
  const expired: CertificateAuthority[] = cas.map((ca) => ({ ...ca, validFor: { start: ca.validFor.start!, end: new Date('2024-01-01T00:00:00Z') } }));
  throwsCode(
    () => verifyCertificateChain(c.leaf, expired, [c.integratedTime]),
    'VERIFICATION',
    /^certificate authority https:\/\/fulcio\.sigstore\.dev is not valid at the signing time 2025-02-28T19:18:11\.000Z$/,
  );
});

test('no trusted CA, no signing time', () => {
  const c = publicGoodCases[0]!;
  throwsCode(() => verifyCertificateChain(c.leaf, [], [c.integratedTime]), 'VERIFICATION', /^certificate was not issued by a trusted certificate authority$/);
  throwsCode(() => verifyCertificateChain(c.leaf, cas, []), 'VERIFICATION', /no verified signing time/);
});

test('a self-made chain with the public-good names is not trusted', async () => {
  const fake = await makeChain();
  const leaf = await makeLeaf(fake, [codeSigningEku(), emailSan('cody@soyland.com')]);
  throwsCode(() => verifyCertificateChain(leaf, cas, [SIGNING_TIME]), 'VERIFICATION', /^certificate was not issued by a trusted certificate authority$/);
  // The same leaf verifies when its own CA is the trusted one: the refusal above is about trust only.
  const r = verifyCertificateChain(leaf, [...cas, fake.authority], [SIGNING_TIME]);
  assert.equal(r.authority, fake.authority);
});

test('two CAs with the same intermediate name: the one whose key signed the leaf is chosen', async () => {
  const a = await makeChain();
  const b = await makeChain();
  const leaf = await makeLeaf(b, [codeSigningEku(), emailSan('a@example.com')]);
  const r = verifyCertificateChain(leaf, [a.authority, b.authority], [SIGNING_TIME]);
  assert.equal(r.authority, b.authority);
  assert.ok(r.chain[1]!.der.equals(b.intermediate));
});

test('leaf profile: code signing EKU, not a CA, no unknown critical extension', async () => {
  const chain = await makeChain();
  const san = emailSan('a@example.com');
  const good = await makeLeaf(chain, [codeSigningEku(), san]);
  verifyCertificateChain(good, [chain.authority], [SIGNING_TIME]);

  const noEku = await makeLeaf(chain, [san]);
  throwsCode(() => verifyCertificateChain(noEku, [chain.authority], [SIGNING_TIME]), 'VERIFICATION', /^certificate does not have the code signing extended key usage$/);
  const otherEku = await makeLeaf(chain, [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]), san]);
  throwsCode(() => verifyCertificateChain(otherEku, [chain.authority], [SIGNING_TIME]), 'VERIFICATION', /code signing extended key usage/);

  const ca = await makeLeaf(chain, [new x509.BasicConstraintsExtension(true, undefined, true), codeSigningEku(), san]);
  throwsCode(() => verifyCertificateChain(ca, [chain.authority], [SIGNING_TIME]), 'VERIFICATION', /^certificate is a CA certificate, not a signing certificate$/);

  const critical = await makeLeaf(chain, [codeSigningEku(), san, new x509.Extension('1.2.3.4.5', true, Buffer.from([0x05, 0x00]))]);
  throwsCode(() => verifyCertificateChain(critical, [chain.authority], [SIGNING_TIME]), 'VERIFICATION', /^certificate has an unhandled critical extension 1\.2\.3\.4\.5$/);
  // A precertificate (CT poison, critical) is not a certificate.
  const poisoned = await makeLeaf(chain, [codeSigningEku(), san, new x509.Extension('1.3.6.1.4.1.11129.2.4.3', true, Buffer.from([0x05, 0x00]))]);
  throwsCode(() => verifyCertificateChain(poisoned, [chain.authority], [SIGNING_TIME]), 'VERIFICATION', /unhandled critical extension 1\.3\.6\.1\.4\.1\.11129\.2\.4\.3/);
});

test('the leaf signature must verify under the issuer key', async () => {
  const chain = await makeChain();
  const leaf = await makeLeaf(chain, [codeSigningEku(), emailSan('a@example.com')]);
  const tampered = Buffer.from(leaf);
  tampered[tampered.length - 5]! ^= 0x01;
  throwsCode(() => verifyCertificateChain(tampered, [chain.authority], [SIGNING_TIME]), 'VERIFICATION', /not issued by a trusted certificate authority/);
});

test('CA chain rules: CA:TRUE on intermediates, path length, validity of CA certificates', async () => {
  const notCa = await makeChain({ interIsCa: false });
  const leaf1 = await makeLeaf(notCa, [codeSigningEku()]);
  throwsCode(() => verifyCertificateChain(leaf1, [notCa.authority], [SIGNING_TIME]), 'VERIFICATION', /certificate chain is invalid: .*certificate 0 is not a CA certificate/);

  const tight = await makeChain({ rootPathLen: 0 });
  const leaf2 = await makeLeaf(tight, [codeSigningEku()]);
  throwsCode(() => verifyCertificateChain(leaf2, [tight.authority], [SIGNING_TIME]), 'VERIFICATION', /path length constraint of CA certificate 1 exceeded/);

  const old = await makeChain({ notAfter: new Date('2026-01-01T00:00:00Z'), validFor: { start: new Date('2020-01-01T00:00:00Z') } });
  const leaf3 = await makeLeaf(old, [codeSigningEku()]);
  throwsCode(() => verifyCertificateChain(leaf3, [old.authority], [SIGNING_TIME]), 'VERIFICATION', /a CA certificate is not valid at the signing time 2026-01-10T12:01:00\.000Z/);
});

test('malformed certificates are MALFORMED, not crashes', () => {
  const der = publicGoodCases[0]!.leaf;
  throwsCode(() => parseCertificate(der.subarray(0, der.length - 1)), 'MALFORMED', /truncated|not a DER certificate/);
  throwsCode(() => parseCertificate(Buffer.concat([der, Buffer.from([0])])), 'MALFORMED', /not a DER certificate/);
  throwsCode(() => parseCertificate(Buffer.from('not a certificate')), 'MALFORMED', /./);
  throwsCode(() => parseCertificate(Buffer.alloc(0)), 'MALFORMED', /truncated/);
  // Every single-byte truncation and every header-byte flip yields a SignetError, never a TypeError.
  for (let n = 0; n < 200; n++) {
    const b = Buffer.from(der);
    b[n]! ^= 0xff;
    try {
      verifyCertificateChain(b, cas, [publicGoodCases[0]!.integratedTime]);
      assert.fail(`byte ${n} flipped still verified`);
    } catch (e) {
      assert.ok(isSignetError(e), `byte ${n}: ${String(e)}`);
    }
  }
});

test('leaf validity times are read exactly (UTCTime)', () => {
  const c = publicGoodCases[1]!;
  const leaf = parseCertificate(c.leaf);
  const ref = new X509Certificate(c.leaf);
  assert.equal(leaf.notBefore.getTime(), new Date(ref.validFrom).getTime());
  assert.equal(leaf.notAfter.getTime(), new Date(ref.validTo).getTime());
  assert.equal(LEAF_NOT_AFTER.getTime() - LEAF_NOT_BEFORE.getTime(), 600_000);
});

test('basic constraints and EKU read in place agree with the schema decoder', async () => {
  const schemaBc = (der: Buffer) => {
    const e = findExtension(parseCertificate(der), '2.5.29.19');
    if (!e) return undefined;
    const bc = AsnConvert.parse(e.value, BasicConstraints);
    return bc.pathLenConstraint === undefined ? { ca: bc.cA } : { ca: bc.cA, pathLen: bc.pathLenConstraint };
  };
  const schemaEku = (der: Buffer) => {
    const e = findExtension(parseCertificate(der), '2.5.29.37');
    return e ? [...AsnConvert.parse(e.value, ExtendedKeyUsage)] : undefined;
  };
  const chain = await makeChain();
  const san = emailSan('a@example.com');
  const certs: Buffer[] = [chain.intermediate, chain.root];
  for (const c of publicGoodCases) certs.push(c.leaf);
  for (const ca of certificateAuthoritiesFromTrustedRoot(publicGoodRoot.certificateAuthorities)) certs.push(...ca.certChain);
  for (const bc of [new x509.BasicConstraintsExtension(true, 0, true), new x509.BasicConstraintsExtension(true, 300, true), new x509.BasicConstraintsExtension(false)]) {
    certs.push(await makeLeaf(chain, [bc, codeSigningEku(), san]));
  }
  certs.push(await makeLeaf(chain, [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.codeSigning, '1.3.6.1.4.1.57264.99.1']), san]));
  certs.push(await makeLeaf(chain, [san]));
  let withBc = 0;
  for (const der of certs) {
    const leaf = parseCertificate(der);
    assert.deepEqual(basicConstraints(leaf), schemaBc(der));
    assert.deepEqual(extendedKeyUsages(leaf), schemaEku(der));
    if (basicConstraints(leaf)) withBc++;
  }
  assert.ok(withBc >= 6);
  assert.deepEqual(basicConstraints(parseCertificate(certs.at(-4)!)), { ca: true, pathLen: 300 });

  // Malformed values are refused (Go's reading: DER booleans, minimal non-negative integers, no trailing data).
  const withExt = async (oid: string, value: number[]) => parseCertificate(await makeLeaf(chain, [new x509.Extension(oid, false, Buffer.from(value)), san]));
  for (const v of [[0x30, 0x03, 0x01, 0x01, 0x01], [0x30, 0x03, 0x02, 0x01, 0xff], [0x30, 0x04, 0x02, 0x02, 0x00, 0x01], [0x30, 0x00, 0x00], [0x04, 0x00], [0x30, 0x03, 0x05, 0x00], [0x30, 0x06, 0x02, 0x01, 0x01, 0x01, 0x01, 0xff]]) {
    const leaf = await withExt('2.5.29.19', v);
    throwsCode(() => basicConstraints(leaf), 'MALFORMED', /basic constraints/);
  }
  for (const v of [[0x30, 0x02, 0x02, 0x00], [0x31, 0x00], [0x30, 0x00, 0x00], [0x30, 0x03, 0x06, 0x01]]) {
    const leaf = await withExt('2.5.29.37', v);
    throwsCode(() => extendedKeyUsages(leaf), 'MALFORMED', /extended key usage/);
  }
});
