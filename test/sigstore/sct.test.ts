import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { isSignetError } from '../../src/errors.js';
import { certificateAuthoritiesFromTrustedRoot, findExtension, parseCertificate, verifyCertificateChain } from '../../src/sigstore/certificate.js';
import { ctLogsFromTrustedRoot, OID_SCT_LIST, parseSctList, precertificateTbs, verifySct, type CtLog } from '../../src/sigstore/sct.js';
import {
  codeSigningEku,
  emailSan,
  makeChain,
  makeCtLog,
  makeLeaf,
  makeSct,
  publicGoodCases,
  publicGoodRoot,
  sctListExtension,
  SIGNING_TIME,
  testKey,
  utf8Ext,
} from './certificate-fixtures.js';
import { throwsCode } from '../helpers/assert.js';

const cas = certificateAuthoritiesFromTrustedRoot(publicGoodRoot.certificateAuthorities);
const logs = ctLogsFromTrustedRoot(publicGoodRoot.ctlogs);

function issuerOf(leaf: Buffer, time: Date) {
  return verifyCertificateChain(leaf, cas, [time]).chain[1]!;
}

test('trusted root CT logs decode, cached per list', () => {
  assert.equal(logs.length, 2);
  assert.equal(logs[1]!.baseUrl, 'https://ctfe.sigstore.dev/2022');
  assert.equal(ctLogsFromTrustedRoot(publicGoodRoot.ctlogs), logs);
  // A CT log whose key does not parse is kept without a key, with the reason, for the SCT check to report.
  const id = Buffer.alloc(32, 9).toString('base64');
  const [bad] = ctLogsFromTrustedRoot([{ baseUrl: 'x', logId: { keyId: id }, publicKey: { rawBytes: 'AAAA', keyDetails: 'PKIX_ECDSA_P256_SHA_256' } }]);
  assert.equal(bad!.publicKey, undefined);
  assert.match(bad!.unusable!, /rawBytes is not a DER SubjectPublicKeyInfo/);
  throwsCode(() => ctLogsFromTrustedRoot(['not a log']), 'MALFORMED', /ctlogs\[0\] is not an object/);
});

for (const c of publicGoodCases) {
  test(`public-good SCT verifies: ${c.name}`, () => {
    const out = verifySct(c.leaf, issuerOf(c.leaf, c.integratedTime), logs);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.log.baseUrl, 'https://ctfe.sigstore.dev/2022');
    // The SCT is issued within the second the certificate starts.
    const leaf = parseCertificate(c.leaf);
    assert.ok(Math.abs(Number(out[0]!.sct.timestamp) - leaf.notBefore.getTime()) < 60_000);
  });

  test(`precertificate TBS splice equals the schema re-encoding: ${c.name}`, () => {
    const leaf = parseCertificate(c.leaf);
    const ref = AsnConvert.parse(c.leaf, Certificate).tbsCertificate;
    const kept = [...ref.extensions!].filter((e) => e.extnID !== OID_SCT_LIST);
    ref.extensions!.splice(0, ref.extensions!.length, ...kept);
    assert.ok(precertificateTbs(leaf, findExtension(leaf, OID_SCT_LIST)!).equals(Buffer.from(AsnConvert.serialize(ref))));
  });

  test(`SCT from an unknown log is refused: ${c.name}`, () => {
    throwsCode(
      () => verifySct(c.leaf, issuerOf(c.leaf, c.integratedTime), [logs[0]!]),
      'VERIFICATION',
      /^SCT is from an unknown CT log 3T0wasbHETJjGR4cmWc3AqJKXrjePK3\/h4pygC8p7o4=$/,
    );
    throwsCode(() => verifySct(c.leaf, issuerOf(c.leaf, c.integratedTime), []), 'VERIFICATION', /unknown CT log/);
  });

  test(`tampered SCT signature is refused: ${c.name}`, () => {
    const ext = findExtension(parseCertificate(c.leaf), OID_SCT_LIST)!;
    const at = c.leaf.indexOf(ext.value) + ext.value.length - 3; // inside the ECDSA signature's s value
    const bad = Buffer.from(c.leaf);
    bad[at]! ^= 0x01;
    throwsCode(() => verifySct(bad, issuerOf(c.leaf, c.integratedTime), logs), 'VERIFICATION', /^SCT signature from CT log https:\/\/ctfe\.sigstore\.dev\/2022 does not verify$/);
  });

  test(`SCT checked against the wrong issuer key fails: ${c.name}`, () => {
    const root = verifyCertificateChain(c.leaf, cas, [c.integratedTime]).chain[2]!;
    throwsCode(() => verifySct(c.leaf, root, logs), 'VERIFICATION', /does not verify/);
  });

  test(`SCT outside the log key's validity, threshold above the SCT count: ${c.name}`, () => {
    const issuer = issuerOf(c.leaf, c.integratedTime);
    const retired: CtLog[] = logs.map((l) => ({ ...l, validFor: { start: l.validFor.start!, end: new Date('2022-12-01T00:00:00Z') } }));
    throwsCode(() => verifySct(c.leaf, issuer, retired), 'VERIFICATION', /outside the log key's validity/);
    throwsCode(() => verifySct(c.leaf, issuer, logs, 2), 'VERIFICATION', /^1 of 1 SCTs verified, 2 required$/);
  });
}

test('generated leaf: SCT list in the middle of the extensions, two logs, threshold', async () => {
  const chain = await makeChain();
  const key = await testKey();
  const head = [codeSigningEku(), emailSan('a@example.com')];
  const tail = [utf8Ext('1.3.6.1.4.1.57264.1.8', 'https://issuer.test')];
  const serial = '0123456789abcdef';
  // The precertificate differs from the final certificate only by the SCT list (and its signature).
  const pre = parseCertificate(await makeLeaf(chain, [...head, ...tail], { serial, key }));
  const ct1 = makeCtLog();
  const ct2 = makeCtLog();
  const issuerSpki = parseCertificate(chain.intermediate).spki;
  const scts = [makeSct(ct1, issuerSpki, pre.tbs, SIGNING_TIME), makeSct(ct2, issuerSpki, pre.tbs, SIGNING_TIME)];
  const leaf = await makeLeaf(chain, [...head, sctListExtension(scts), ...tail], { serial, key });
  const issuer = verifyCertificateChain(leaf, [chain.authority], [SIGNING_TIME]).chain[1]!;

  assert.equal(verifySct(leaf, issuer, [ct1.log, ct2.log], 2).length, 2);
  assert.equal(verifySct(leaf, issuer, [ct2.log]).length, 1);
  throwsCode(() => verifySct(leaf, issuer, [ct2.log], 2), 'VERIFICATION', /^1 of 2 SCTs verified, 2 required: SCT is from an unknown CT log/);

  // An SCT signed over a different TBS (here: another serial) must not verify.
  const other = parseCertificate(await makeLeaf(chain, [...head, ...tail], { serial: '0123456789abcdee', key }));
  const wrong = await makeLeaf(chain, [...head, sctListExtension([makeSct(ct1, issuerSpki, other.tbs, SIGNING_TIME)]), ...tail], { serial, key });
  throwsCode(() => verifySct(wrong, issuer, [ct1.log]), 'VERIFICATION', /does not verify/);
});

test('leaf without SCTs, malformed SCT lists', async () => {
  const chain = await makeChain();
  const plain = await makeLeaf(chain, [codeSigningEku()]);
  throwsCode(() => verifySct(plain, chain.intermediate, logs), 'VERIFICATION', /^certificate has no embedded signed certificate timestamp \(SCT\)$/);

  const ext = findExtension(parseCertificate(publicGoodCases[0]!.leaf), OID_SCT_LIST)!.value;
  parseSctList(ext);
  throwsCode(() => parseSctList(Buffer.from([0x04, 0x02, 0x00, 0x00])), 'MALFORMED', /empty/);
  throwsCode(() => parseSctList(Buffer.from([0x04, 0x03, 0x00, 0x05, 0x00])), 'MALFORMED', /wrong length/);
  throwsCode(() => parseSctList(Buffer.from([0x0c, 0x00])), 'MALFORMED', /not an OCTET STRING/);
  for (let cut = 1; cut < ext.length; cut += 7) {
    const b = Buffer.from(ext.subarray(0, ext.length - cut));
    b[1] = b.length - 2; // keep the DER wrapper consistent so the TLS layer sees the truncation
    assert.throws(() => parseSctList(b), (e: unknown) => isSignetError(e, 'MALFORMED'));
  }
  const v2 = Buffer.from(ext);
  v2[6] = 1; // SCT version byte
  throwsCode(() => parseSctList(v2), 'MALFORMED', /unsupported version 2/);
});
