/**
 * Keyless entries' certificates parsed off the event loop (rekor/certificates.ts, the addon's
 * parseCertificates): where the addon answers, the verifier is exactly the one node:crypto's parse makes;
 * where it cannot be sure it does not answer, and the entry is parsed as before, with the same errors.
 */
import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyObject, createHash, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { canonicalizeAsync, canonicalizeCreateEntryRequest, canonicalizeProposedEntry, verifierFromPem } from '../../src/rekor/index.js';
import { certificateVerifier } from '../../src/rekor/common.js';
import { decodeCertificateAnswers } from '../../src/rekor/certificates.js';
import { nativeCrypto } from '../../src/native.js';
import { type TestKey, hashedRekordV1, hashedRekordV2 } from './fixtures.js';

type Name = { type: 'dns' | 'email' | 'url' | 'ip' | 'upn' | 'guid' | 'dn'; value: string };

/** A self-signed certificate with these subject alternative names (none: no SAN extension), and its key. */
async function certWith(names: Name[] | undefined, alg: { name: 'ECDSA'; namedCurve: string; hash: string } = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }): Promise<{ der: Buffer; pem: string; key: TestKey }> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: createHash('sha256').update(JSON.stringify(names ?? null)).digest('hex').slice(0, 16),
      name: 'CN=keyless',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 600_000),
      keys: keys as never,
      signingAlgorithm: alg,
      extensions: names ? [new x509.SubjectAlternativeNameExtension(names)] : [],
    },
    webcrypto as never,
  );
  const publicKey = KeyObject.from(keys.publicKey);
  return {
    der: Buffer.from(cert.rawData),
    pem: cert.toString('pem') + '\n',
    key: { privateKey: KeyObject.from(keys.privateKey), publicKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), spkiDer: publicKey.export({ type: 'spki', format: 'der' }) },
  };
}

/** Names the addon answers for: emails, URIs and DNS names in plain printable ASCII. */
const PLAIN: (Name[] | undefined)[] = [
  undefined,
  [],
  [{ type: 'email', value: 'Alice@Example.com' }],
  [{ type: 'url', value: 'https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main' }],
  [{ type: 'email', value: 'b@example.org' }, { type: 'dns', value: 'build.example.org' }, { type: 'url', value: 'spiffe://example.org/ns/ci/sa/builder' }, { type: 'email', value: 'c@example.org' }],
];

/** Names it leaves to node: characters node quotes, spaces, non-ASCII, other name types. */
const ASK_NODE: Name[][] = [
  [{ type: 'email', value: 'a,b@example.com' }],
  [{ type: 'url', value: 'https://example.com/"quoted"' }],
  [{ type: 'url', value: "https://example.com/it's" }],
  [{ type: 'email', value: 'back\\slash@example.com' }],
  [{ type: 'dns', value: 'two words.example' }],
  [{ type: 'email', value: 'josé@example.com' }],
  [{ type: 'email', value: 'a@example.com' }, { type: 'ip', value: '192.0.2.1' }],
  [{ type: 'upn', value: 'builder@example.com' }],
  [{ type: 'dn', value: 'CN=email:x@example.com' }],
];

const addon = nativeCrypto.addon;

/** Runs `fn` with the addon's parseCertificates counting the certificates it is given (`asked()`). */
async function countingParses(fn: (asked: () => number) => Promise<void>): Promise<void> {
  const real = addon!.parseCertificates;
  let asked = 0;
  addon!.parseCertificates = (ders) => {
    asked += ders.length;
    return real.call(addon, ders);
  };
  try {
    await fn(() => asked);
  } finally {
    addon!.parseCertificates = real;
  }
}

describe('certificates parsed off the event loop', { skip: !addon && `the native addon is not built (${nativeCrypto.why})` }, () => {
  it('answers plain names, and its verifier is the one node:crypto makes', async () => {
    for (const names of PLAIN) {
      const c = await certWith(names);
      const [answer] = decodeCertificateAnswers(await addon!.parseCertificates([c.der]), 1);
      assert.ok(answer, `answered: ${JSON.stringify(names)}`);
      const fromNode = verifierFromPem(c.pem, 'test');
      const offLoop = certificateVerifier(c.der, answer);
      assert.ok(offLoop);
      assert.equal(offLoop.pem, fromNode.pem);
      assert.equal(offLoop.pemBase64, fromNode.pemBase64);
      assert.deepEqual(offLoop.indexKeys, fromNode.indexKeys);
      assert.deepEqual(offLoop.searchKeys, fromNode.searchKeys);
      assert.deepEqual(offLoop.key.spkiDer, fromNode.key.spkiDer);
      assert.equal(offLoop.key.kind, fromNode.key.kind);
    }
  });

  it('leaves to node:crypto what it cannot be sure of: names node quotes or prints otherwise, DER that is not one certificate', async () => {
    for (const names of ASK_NODE) {
      const c = await certWith(names);
      const [answer] = decodeCertificateAnswers(await addon!.parseCertificates([c.der]), 1);
      assert.equal(answer, undefined, JSON.stringify(names));
    }
    const c = await certWith([{ type: 'email', value: 'a@example.com' }]);
    const cut = c.der.subarray(0, c.der.length - 1);
    const trailing = Buffer.concat([c.der, Buffer.of(0)]);
    const garbage = Buffer.from('not a certificate');
    const answers = decodeCertificateAnswers(await addon!.parseCertificates([cut, c.der, trailing, garbage, Buffer.alloc(0)]), 5);
    assert.deepEqual(answers, [undefined, ['a@example.com'], undefined, undefined, undefined]);
    // P-384 keys are read too.
    const p384 = await certWith([{ type: 'email', value: 'p384@example.com' }], { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' });
    const [a384] = decodeCertificateAnswers(await addon!.parseCertificates([p384.der]), 1);
    assert.deepEqual(a384, ['p384@example.com']);
    assert.equal(certificateVerifier(p384.der, a384!)!.key.kind, 'ecdsa-p384');
  });

  it('a keyless write is canonicalized as before, its certificate parsed by the addon', async () => {
    await countingParses(async (asked) => {
      for (const names of [PLAIN[2]!, PLAIN[4]!, ASK_NODE[0]!]) {
        const c = await certWith(names);
        const doc = hashedRekordV1(c.key, undefined, { pem: c.pem });
        const before = asked();
        const got = await canonicalizeAsync(1, doc);
        assert.equal(asked(), before + 1, 'the certificate went to the addon');
        // The synchronous parse of the same entry, by node:crypto (a fresh copy of the PEM text, so no cache answers it).
        const again = hashedRekordV1(c.key, undefined, { pem: c.pem.replace(/\n$/, '\r\n') });
        const want = canonicalizeProposedEntry(again);
        const wantIndex = want.indexKeys.slice(1);
        assert.equal(got.kind, want.kind);
        assert.deepEqual(got.indexKeys.slice(1), wantIndex, JSON.stringify(names));
        const gotSpec = JSON.parse(got.body.toString()).spec.signature.publicKey.content;
        assert.equal(gotSpec, JSON.parse(want.body.toString()).spec.signature.publicKey.content);
      }
      // Known verifiers are not parsed again.
      const c = await certWith(PLAIN[2]!);
      const doc = hashedRekordV1(c.key, undefined, { pem: c.pem });
      await canonicalizeAsync(1, doc);
      const before = asked();
      await canonicalizeAsync(1, hashedRekordV1(c.key, undefined, { pem: c.pem }));
      assert.equal(asked(), before);
    });
  });

  it('a Rekor v2 keyless write too: the same entry as the synchronous parse', async () => {
    await countingParses(async (asked) => {
      for (const names of [PLAIN[3]!, PLAIN[4]!, ASK_NODE[1]!]) {
        const c = await certWith(names);
        const doc = hashedRekordV2(c.key, undefined, { certDer: c.der });
        const before = asked();
        const got = await canonicalizeAsync(2, doc);
        assert.equal(asked(), before + 1, 'the certificate went to the addon');
        const want = canonicalizeCreateEntryRequest(doc);
        assert.deepEqual(got.body, want.body);
        assert.deepEqual(got.indexKeys, want.indexKeys, JSON.stringify(names));
      }
    });
  });

  it('a failed certificate job leaves the entry to the synchronous parse', async () => {
    const real = addon!.parseCertificates;
    addon!.parseCertificates = () => Promise.reject(new Error('certificate batch failed'));
    try {
      const c = await certWith(PLAIN[2]!);
      const got = await canonicalizeAsync(1, hashedRekordV1(c.key, undefined, { pem: c.pem }));
      assert.deepEqual(got.indexKeys.slice(1), verifierFromPem(c.pem, 'test').searchKeys);
    } finally {
      addon!.parseCertificates = real;
    }
  });

  it('bad certificates and bad base64 fail as before', async () => {
    const c = await certWith([{ type: 'email', value: 'a@example.com' }]);
    const cutPem = `-----BEGIN CERTIFICATE-----\n${c.der.subarray(0, 200).toString('base64')}\n-----END CERTIFICATE-----\n`;
    const doc = hashedRekordV1(c.key, undefined, { pem: cutPem });
    await assert.rejects(canonicalizeAsync(1, doc), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MALFORMED');
      assert.throws(() => canonicalizeProposedEntry(hashedRekordV1(c.key, undefined, { pem: cutPem })), { message: e.message });
      return true;
    });
    const loose = hashedRekordV1(c.key, undefined, { pem: c.pem }) as { spec: { signature: { publicKey: { content: string } } } };
    loose.spec.signature.publicKey.content = loose.spec.signature.publicKey.content.slice(0, -1);
    await assert.rejects(canonicalizeAsync(1, loose), (e: Error & { code?: string }) => {
      assert.throws(() => canonicalizeProposedEntry(loose), { message: e.message });
      return true;
    });
  });
});
