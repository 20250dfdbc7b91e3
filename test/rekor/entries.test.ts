import assert from 'node:assert/strict';
import { createHash, randomBytes, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { isSignetError } from '../../src/errors.js';
import { canonicalizeCreateEntryRequest, canonicalizeProposedEntry } from '../../src/rekor/index.js';
import { canonicalJsonBytes } from '../../src/tlog/index.js';
import { dsseEnvelope, dsseV1, ecKey, edKey, hashedRekordV1, hashedRekordV2, intotoV2, selfSignedCert } from './fixtures.js';

const sha256hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');

function rejects(f: () => unknown, code: string, re: RegExp): void {
  assert.throws(f, (e: unknown) => isSignetError(e) && e.code === code && re.test(e.message) && !e.message.includes('\n'));
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('hashedrekord 0.0.1', () => {
  const key = ecKey();
  const artifact = Buffer.from('hello artifact');

  it('canonicalizes to the exact Rekor body with index keys', () => {
    const req = hashedRekordV1(key, artifact);
    const e = canonicalizeProposedEntry(req);
    const sig = (req.spec as { signature: { content: string } }).signature.content;
    const expected = `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"${sha256hex(artifact)}"}},"signature":{"content":"${sig}","publicKey":{"content":"${b64(key.pem)}"}}}}`;
    assert.equal(e.body.toString(), expected);
    assert.equal(e.kind, 'hashedrekord');
    assert.deepEqual(e.indexKeys.sort(), [`sha256:${sha256hex(artifact)}`, sha256hex(key.pem)].sort());
  });

  it('writes the body byte for byte as RFC 8785 JSON of the entry, whatever form the request takes', async () => {
    const { key: ck, certPem } = await selfSignedCert();
    const base = hashedRekordV1(key, artifact) as any;
    const variants: any[] = [base, hashedRekordV1(ck, artifact, { pem: certPem })];
    const upper = clone(base);
    upper.spec.data.hash.value = upper.spec.data.hash.value.toUpperCase();
    variants.push(upper);
    const urlSafe = clone(base);
    urlSafe.spec.signature.content = urlSafe.spec.signature.content.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    variants.push(urlSafe);
    const p384 = clone(base);
    p384.spec.data.hash = { algorithm: 'sha384', value: createHash('sha384').update(artifact).digest('hex') };
    p384.spec.signature.content = b64(sign('sha384', artifact, key.privateKey));
    variants.push(p384);
    const messy = clone(base);
    messy.spec.signature.publicKey.content = b64(key.pem.replace(/\n/g, '\r\n'));
    variants.push(messy);
    for (const req of variants) {
      // Twice: the second time the key comes from the cache by its base64 text.
      for (let i = 0; i < 2; i++) {
        const e = canonicalizeProposedEntry(req);
        const d = req.spec.data.hash;
        const pem = Buffer.from(req.spec.signature.publicKey.content, 'base64').toString().includes('CERTIFICATE') ? certPem : key.pem;
        const want = canonicalJsonBytes({
          apiVersion: '0.0.1',
          kind: 'hashedrekord',
          spec: {
            data: { hash: { algorithm: d.algorithm, value: d.value.toLowerCase() } },
            signature: { content: Buffer.from(req.spec.signature.content, 'base64').toString('base64'), publicKey: { content: b64(pem) } },
          },
        });
        assert.equal(e.body.toString(), want.toString());
        // Search keys: the digest first, then the verifier's, lowercased, each once.
        const dk = `${d.algorithm}:${d.value.toLowerCase()}`;
        assert.deepEqual(e.indexKeys, pem === certPem ? [dk, sha256hex(certPem), 'alice@example.com', 'https://example.com/ci'] : [dk, sha256hex(key.pem)]);
      }
    }
    // A key known by its base64 text does not let a bad signature through.
    rejects(() => canonicalizeProposedEntry(hashedRekordV1(key, artifact, { signer: ecKey().privateKey })), 'VERIFICATION', /does not verify/);
  });

  it('re-encodes a non-canonical PEM so equal keys give equal bodies', () => {
    const req = hashedRekordV1(key, artifact);
    const messy = key.pem.replace(/\n/g, '\r\n').replace('-----END', '\r\n-----END');
    const req2 = clone(req);
    (req2.spec as { signature: { publicKey: { content: string } } }).signature.publicKey.content = b64(messy);
    assert.ok(canonicalizeProposedEntry(req).body.equals(canonicalizeProposedEntry(req2).body));
  });

  it('accepts uppercase hex and sha384/sha512 digests', () => {
    const req = hashedRekordV1(key, artifact) as { spec: { data: { hash: { value: string; algorithm: string } }; signature: { content: string } } };
    req.spec.data.hash.value = req.spec.data.hash.value.toUpperCase();
    assert.match(canonicalizeProposedEntry(req).body.toString(), new RegExp(sha256hex(artifact)));
    const sig384 = sign('sha384', artifact, key.privateKey);
    req.spec.data.hash = { algorithm: 'sha384', value: createHash('sha384').update(artifact).digest('hex') };
    req.spec.signature.content = b64(sig384);
    assert.equal(canonicalizeProposedEntry(req).kind, 'hashedrekord');
  });

  it('refuses a bad signature, a signature by another key, and a wrong digest', () => {
    const other = ecKey();
    rejects(() => canonicalizeProposedEntry(hashedRekordV1(key, artifact, { signer: other.privateKey })), 'VERIFICATION', /does not verify/);
    const req = hashedRekordV1(key, artifact) as { spec: { data: { hash: { value: string } } } };
    req.spec.data.hash.value = sha256hex('something else');
    rejects(() => canonicalizeProposedEntry(req), 'VERIFICATION', /does not verify/);
  });

  it('refuses malformed requests with precise messages', () => {
    const good = hashedRekordV1(key, artifact);
    const cases: Array<[(r: any) => void, RegExp]> = [
      [(r) => (r.kind = 'rekord'), /kind "rekord" is not supported/],
      [(r) => (r.apiVersion = '0.0.2'), /apiVersion "0.0.2" is not supported/],
      [(r) => (r.extra = 1), /unknown field "extra"/],
      [(r) => (r.spec.data.hash.value = 'abc'), /64 hex digits/],
      [(r) => (r.spec.data.hash.algorithm = 'md5'), /not one of sha256/],
      [(r) => (r.spec.signature.content = '!!!'), /not valid base64/],
      [(r) => (r.spec.signature.publicKey.content = b64('not a pem')), /not a PEM/],
      [(r) => (r.spec.data.content = 'aGk='), /unknown field "content"/],
      [(r) => delete r.spec.signature, /spec.signature must be a JSON object/],
    ];
    for (const [mut, re] of cases) {
      const r = clone(good);
      mut(r);
      rejects(() => canonicalizeProposedEntry(r), 'MALFORMED', re);
    }
    rejects(() => canonicalizeProposedEntry([]), 'MALFORMED', /must be a JSON object/);
    rejects(() => canonicalizeProposedEntry(hashedRekordV1(edKey(), artifact)), 'MALFORMED', /Ed25519 keys must be Ed25519ph signatures over a sha512 digest/);
  });

  it('indexes certificate SAN emails (lowercased) and URIs', async () => {
    const { key: ck, certPem } = await selfSignedCert();
    const e = canonicalizeProposedEntry(hashedRekordV1(ck, artifact, { pem: certPem }));
    assert.ok(e.indexKeys.includes('alice@example.com'));
    assert.ok(e.indexKeys.includes('https://example.com/ci'));
    assert.ok(e.indexKeys.includes(sha256hex(certPem)));
    assert.match(e.body.toString(), new RegExp(b64(certPem).slice(0, 40).replace(/[+/]/g, '.')));
  });
});

describe('dsse 0.0.1', () => {
  const key = ecKey();
  const payload = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'a', digest: { sha256: sha256hex('a') } }], predicateType: 'x', predicate: {} }));

  it('logs hashes of the envelope as submitted and of the payload', () => {
    const req = dsseV1(key, payload) as { spec: { proposedContent: { envelope: string } } };
    const e = canonicalizeProposedEntry(req);
    const body = JSON.parse(e.body.toString());
    assert.equal(body.spec.envelopeHash.value, sha256hex(req.spec.proposedContent.envelope));
    assert.equal(body.spec.payloadHash.value, sha256hex(payload));
    assert.equal(body.spec.signatures.length, 1);
    assert.equal(body.spec.signatures[0].verifier, b64(key.pem));
    assert.equal(body.spec.signatures[0].signature, JSON.parse(req.spec.proposedContent.envelope).signatures[0].sig);
    assert.ok(e.indexKeys.includes(`sha256:${sha256hex('a')}`), 'in-toto subject digest indexed');
    // Whitespace in the envelope is a different envelope (Rekor's documented quirk).
    const spaced = clone(req);
    spaced.spec.proposedContent.envelope = JSON.stringify(JSON.parse(req.spec.proposedContent.envelope), null, 1);
    assert.ok(!canonicalizeProposedEntry(spaced).body.equals(e.body));
  });

  it('refuses a signature no verifier accepts', () => {
    rejects(() => canonicalizeProposedEntry(dsseV1(key, payload, ecKey().pem)), 'VERIFICATION', /does not verify/);
    const r = dsseV1(key, payload) as any;
    r.spec.proposedContent.envelope = '{not json';
    rejects(() => canonicalizeProposedEntry(r), 'MALFORMED', /envelope is not valid JSON/);
    r.spec.proposedContent.verifiers = [];
    rejects(() => canonicalizeProposedEntry(r), 'MALFORMED', /verifiers must be a non-empty array/);
  });

  it('accepts Ed25519 envelopes (pure Ed25519 over PAE)', () => {
    const ed = edKey();
    const { envelope } = dsseEnvelope(ed, payload);
    const e = canonicalizeProposedEntry({ apiVersion: '0.0.1', kind: 'dsse', spec: { proposedContent: { envelope, verifiers: [b64(ed.pem)] } } });
    assert.equal(e.kind, 'dsse');
  });
});

describe('intoto 0.0.2', () => {
  const key = ecKey();
  const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1","subject":[],"predicateType":"p","predicate":{}}');

  it('drops the payload, keeps double-base64 signatures and canonical keys', () => {
    const req = intotoV2(key, payload) as any;
    const e = canonicalizeProposedEntry(req);
    const body = JSON.parse(e.body.toString());
    assert.equal(body.spec.content.envelope.payload, undefined);
    assert.equal(body.spec.content.envelope.signatures[0].sig, req.spec.content.envelope.signatures[0].sig);
    assert.equal(body.spec.content.envelope.signatures[0].publicKey, b64(key.pem));
    assert.equal(body.spec.content.envelope.signatures[0].keyid, undefined);
    assert.equal(body.spec.content.payloadHash.value, sha256hex(payload));
    assert.equal(body.spec.content.hash.value, req.spec.content.hash.value);
  });

  it('refuses single-base64 signatures, mismatched payload hashes and wrong keys', () => {
    const req = intotoV2(key, payload) as any;
    const r1 = clone(req);
    r1.spec.content.envelope.signatures[0].sig = Buffer.from(r1.spec.content.envelope.signatures[0].sig, 'base64').toString('latin1').replace(/=+$/, '') + '!';
    assert.throws(() => canonicalizeProposedEntry(r1), (e: unknown) => isSignetError(e, 'MALFORMED'));
    const r2 = clone(req);
    r2.spec.content.payloadHash.value = sha256hex('x');
    rejects(() => canonicalizeProposedEntry(r2), 'MALFORMED', /payloadHash does not match/);
    const r3 = clone(req);
    r3.spec.content.envelope.signatures[0].publicKey = b64(ecKey().pem);
    rejects(() => canonicalizeProposedEntry(r3), 'VERIFICATION', /does not verify/);
    // keyid is not signed, so it is the easy way to blow up an entry: the leaf must fit a C2SP bundle.
    const r4 = clone(req);
    r4.spec.content.envelope.signatures[0].keyid = 'k'.repeat(70_000);
    rejects(() => canonicalizeProposedEntry(r4), 'TOO_LARGE', /at most 65535/);
  });
});

describe('Rekor v2 hashedRekordRequestV002', () => {
  const key = ecKey();
  const artifact = Buffer.from('v2 artifact');

  it('builds the canonical v0.0.2 entry', () => {
    const req = hashedRekordV2(key, artifact) as any;
    const e = canonicalizeCreateEntryRequest(req);
    const r = req.hashedRekordRequestV002;
    const expected = `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{"algorithm":"SHA2_256","digest":"${r.digest}"},"signature":{"content":"${r.signature.content}","verifier":{"keyDetails":"PKIX_ECDSA_P256_SHA_256","publicKey":{"rawBytes":"${b64(key.spkiDer)}"}}}}}}`;
    assert.equal(e.body.toString(), expected);
    assert.equal(e.apiVersion, '0.0.2');
    assert.ok(e.indexKeys.includes(`sha256:${sha256hex(artifact)}`));
  });

  it('accepts proto field names, URL-safe base64 and enum numbers', () => {
    const req = hashedRekordV2(key, artifact) as any;
    const r = req.hashedRekordRequestV002;
    const snake = {
      hashed_rekord_request_v002: {
        digest: Buffer.from(r.digest, 'base64').toString('base64url'),
        signature: { content: r.signature.content, verifier: { public_key: { raw_bytes: r.signature.verifier.publicKey.rawBytes }, key_details: 5 } },
      },
    };
    assert.ok(canonicalizeCreateEntryRequest(snake).body.equals(canonicalizeCreateEntryRequest(req).body));
  });

  it('logs the DER SPKI sigstore-js sends in x509Certificate as a public key', () => {
    const req = hashedRekordV2(key, artifact) as any;
    const asCert = clone(req);
    const v = asCert.hashedRekordRequestV002.signature.verifier;
    v.x509Certificate = v.publicKey;
    delete v.publicKey;
    assert.ok(canonicalizeCreateEntryRequest(asCert).body.equals(canonicalizeCreateEntryRequest(req).body));
  });

  it('keeps real certificates as x509Certificate', async () => {
    const { key: ck, certDer } = await selfSignedCert();
    const e = canonicalizeCreateEntryRequest(hashedRekordV2(ck, artifact, { certDer }));
    assert.match(e.body.toString(), /"x509Certificate":\{"rawBytes":/);
    assert.ok(e.indexKeys.includes('alice@example.com'));
  });

  it('refuses bad requests', () => {
    const good = hashedRekordV2(key, artifact);
    const cases: Array<[(r: any) => void, string, RegExp]> = [
      [(r) => (r.hashedRekordRequestV002.digest = b64(randomBytes(48))), 'MALFORMED', /48 bytes; PKIX_ECDSA_P256_SHA_256 needs a 32-byte/],
      [(r) => (r.hashedRekordRequestV002.signature.verifier.keyDetails = 'PKIX_ECDSA_P384_SHA_384'), 'MALFORMED', /keyDetails is PKIX_ECDSA_P384_SHA_384 but the key is ecdsa-p256/],
      [(r) => (r.hashedRekordRequestV002.signature.verifier.keyDetails = 'PKIX_RSA_PSS_2048_SHA256'), 'MALFORMED', /not a supported PublicKeyDetails/],
      [(r) => delete r.hashedRekordRequestV002.signature.verifier.keyDetails, 'MALFORMED', /keyDetails is required/],
      [(r) => (r.hashedRekordRequestV002.extra = true), 'MALFORMED', /unknown field "extra"/],
      [(r) => (r.dsseRequestV002 = {}), 'MALFORMED', /exactly one of/],
      [(r) => (r.hashedRekordRequestV002.signature.content = b64(sign('sha256', Buffer.from('other'), key.privateKey))), 'VERIFICATION', /does not verify/],
    ];
    for (const [mut, code, re] of cases) {
      const r = clone(good);
      mut(r);
      rejects(() => canonicalizeCreateEntryRequest(r), code, re);
    }
    rejects(() => canonicalizeCreateEntryRequest({}), 'MALFORMED', /exactly one of/);
  });

  it('verifies Ed25519ph over a SHA-512 digest (v1 and v2)', async () => {
    const { ed25519ph } = await import('@noble/curves/ed25519.js');
    const ed = edKey();
    const seed = Buffer.from(ed.privateKey.export({ format: 'jwk' }).d!, 'base64url');
    const digest = createHash('sha512').update(artifact).digest();
    const sig = Buffer.from(ed25519ph.sign(artifact, seed));
    const v1 = { apiVersion: '0.0.1', kind: 'hashedrekord', spec: { data: { hash: { algorithm: 'sha512', value: digest.toString('hex') } }, signature: { content: b64(sig), publicKey: { content: b64(ed.pem) } } } };
    assert.equal(canonicalizeProposedEntry(v1).kind, 'hashedrekord');
    const v2 = { hashedRekordRequestV002: { digest: b64(digest), signature: { content: b64(sig), verifier: { publicKey: { rawBytes: b64(ed.spkiDer) }, keyDetails: 'PKIX_ED25519_PH' } } } };
    assert.match(canonicalizeCreateEntryRequest(v2).body.toString(), /"algorithm":"SHA2_512"/);
    // A pure Ed25519 signature over the same artifact is not an Ed25519ph signature.
    const pure = clone(v2) as any;
    pure.hashedRekordRequestV002.signature.content = b64(sign(null, artifact, ed.privateKey));
    rejects(() => canonicalizeCreateEntryRequest(pure), 'VERIFICATION', /does not verify/);
  });

  it('refuses pure Ed25519 for a digest', () => {
    const ed = edKey();
    const req = {
      hashedRekordRequestV002: {
        digest: b64(createHash('sha512').update(artifact).digest()),
        signature: { content: b64(sign(null, artifact, ed.privateKey)), verifier: { publicKey: { rawBytes: b64(ed.spkiDer) }, keyDetails: 'PKIX_ED25519' } },
      },
    };
    rejects(() => canonicalizeCreateEntryRequest(req), 'MALFORMED', /pure Ed25519/);
  });

  it('accepts the deprecated dsseRequestV002 sigstore-js sends', () => {
    const payload = Buffer.from('{"a":1}');
    const { sig } = dsseEnvelope(key, payload);
    const req = {
      dsseRequestV002: {
        envelope: { payload: b64(payload), payloadType: 'application/vnd.in-toto+json', signatures: [{ sig: b64(sig), keyid: '' }] },
        verifiers: [{ x509Certificate: { rawBytes: b64(key.spkiDer) }, keyDetails: 'PKIX_ECDSA_P256_SHA_256' }],
      },
    };
    const e = canonicalizeCreateEntryRequest(req);
    assert.equal(e.kind, 'dsse');
    assert.match(e.body.toString(), /"dsseV002":\{"payloadHash":\{"algorithm":"SHA2_256"/);
  });
});

describe('ECDSA over a digest (OpenSSL-backed)', () => {
  it('uses the native addon that npm ci builds', async (t) => {
    const { ecdsaBackend } = await import('../../src/rekor/ecdsa.js');
    if (ecdsaBackend.name !== 'native') return t.skip(`native ECDSA addon not in use: ${ecdsaBackend.why}`);
    assert.equal(ecdsaBackend.why, undefined);
  });

  it('the native addon refuses keys that are not EC and DER that is not one key, and checks argument types', async (t) => {
    const { createRequire } = await import('node:module');
    const { generateKeyPairSync } = await import('node:crypto');
    const { ecdsaBackend } = await import('../../src/rekor/ecdsa.js');
    if (ecdsaBackend.name !== 'native') return t.skip('native ECDSA addon not built');
    const addon = createRequire(import.meta.url)('../../../native/build/Release/log_crypto.node') as {
      verify(a: unknown, b: unknown, c: unknown): boolean;
    };
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const msg = randomBytes(8);
    const d = createHash('sha256').update(msg).digest();
    const sig = sign('sha256', msg, privateKey);
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    assert.equal(addon.verify(spki, d, sig), true);
    assert.equal(addon.verify(Buffer.concat([spki, Buffer.from([0])]), d, sig), false, 'trailing byte after the key');
    assert.equal(addon.verify(spki.subarray(0, spki.length - 1), d, sig), false, 'truncated key');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' });
    assert.equal(addon.verify(rsa, d, sig), false, 'an RSA key is not an ECDSA verifier');
    const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
    assert.equal(addon.verify(ed, d, sig), false);
    assert.equal(addon.verify(spki, Buffer.alloc(0), sig), false, 'empty digest');
    assert.throws(() => addon.verify('x', d, sig), TypeError);
    assert.throws(() => addon.verify(spki, d, undefined), TypeError);
    assert.throws(() => addon.verify(spki, new Uint16Array(16), sig), TypeError);
  });

  it('the addon reads standard P-256/P-384 keys itself, other forms through the decoder: node:crypto\'s verdicts either way', async (t) => {
    const { createECDH, createPublicKey, generateKeyPairSync, verify: nodeVerify } = await import('node:crypto');
    const { nativeCrypto } = await import('../../src/native.js');
    const addon = nativeCrypto.addon;
    if (!addon) return t.skip('native addon not built');
    for (const [curve, ecdhName, size] of [['P-256', 'prime256v1', 32], ['P-384', 'secp384r1', 48]] as const) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const standard = publicKey.export({ format: 'der', type: 'spki' });
      // The same key with a compressed point: valid, but not the form the addon reads itself.
      const ecdh = createECDH(ecdhName);
      ecdh.setPrivateKey(Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'));
      const head = Buffer.from(standard.subarray(0, standard.length - (2 * size + 1)));
      head[1] = head[1]! - size;
      head[head.length - 2] = head[head.length - 2]! - size;
      const compressed = Buffer.concat([head, ecdh.getPublicKey(null, 'compressed')]);
      assert.ok(createPublicKey({ key: compressed, format: 'der', type: 'spki' }).equals(publicKey));
      const offCurve = Buffer.from(standard);
      offCurve[offCurve.length - 1] = offCurve[offCurve.length - 1]! ^ 1;
      const hashAlg = curve === 'P-256' ? 'sha256' : 'sha384';
      for (let i = 0; i < 20; i++) {
        const m = randomBytes(16);
        const digest = createHash(hashAlg).update(m).digest();
        const good = sign(hashAlg, m, privateKey);
        const other = sign(hashAlg, randomBytes(16), privateKey);
        const trailing = Buffer.concat([good, Buffer.of(0)]);
        for (const [key, keyName] of [[standard, 'standard'], [compressed, 'compressed']] as const) {
          assert.equal(addon.verify(key, digest, good), true, `${curve} ${keyName}: a good signature`);
          assert.equal(nodeVerify(hashAlg, m, publicKey, good), true);
          assert.equal(addon.verify(key, digest, other), false, `${curve} ${keyName}: another message's signature`);
          assert.equal(addon.verify(key, digest, trailing), nodeVerify(hashAlg, m, publicKey, trailing), `${curve} ${keyName}: a byte after the DER`);
          assert.equal(addon.verify(key, digest, trailing), false);
        }
        assert.equal(addon.verify(offCurve, digest, good), false, `${curve}: a point off the curve is no key`);
        const batch = await addon.verifyMany([standard, compressed, offCurve, standard], [digest, digest, digest, digest], [good, good, good, trailing]);
        assert.deepEqual([...batch], [1, 1, 0, 0]);
      }
    }
  });

  it('the native batch calls verify many in order, sign many that node:crypto verifies, and refuse bad input', async (t) => {
    const { generateKeyPairSync, verify: nodeVerify } = await import('node:crypto');
    const { nativeCrypto, unpackSignatures } = await import('../../src/native.js');
    const addon = nativeCrypto.addon;
    if (!addon) return t.skip('native addon not built');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const msgs = Array.from({ length: 20 }, () => randomBytes(12));
    const digests = msgs.map((m) => createHash('sha256').update(m).digest());
    const sigs = msgs.map((m, i) => (i % 3 === 1 ? sign('sha256', randomBytes(4), privateKey) : sign('sha256', m, privateKey)));
    const verdicts = await addon.verifyMany(msgs.map(() => spki), digests, sigs);
    assert.deepEqual([...verdicts], msgs.map((_, i) => (i % 3 === 1 ? 0 : 1)));
    // Keys are parsed once per batch and remembered a few at a time: a batch interleaving more keys than
    // it remembers, with unparseable, trailing-garbage and non-EC keys among them, must give exactly the
    // verdicts of one check per entry.
    const pairs = Array.from({ length: 11 }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
    const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
    const mixed = Array.from({ length: 120 }, (_, i) => {
      const kp = pairs[(i * 7) % pairs.length]!;
      const m = randomBytes(8);
      const good = sign('sha256', m, kp.privateKey);
      const spkiOf = kp.publicKey.export({ format: 'der', type: 'spki' });
      const variant = i % 10;
      const key = variant === 3 ? spkiOf.subarray(0, 20) : variant === 5 ? Buffer.concat([spkiOf, Buffer.of(0)]) : variant === 7 ? ed : spkiOf;
      const sig = variant === 8 ? sign('sha256', randomBytes(8), pairs[(i * 7 + 1) % pairs.length]!.privateKey) : good;
      return { key, digest: createHash('sha256').update(m).digest(), sig };
    });
    const expected = mixed.map((j) => (addon.verify(j.key, j.digest, j.sig) ? 1 : 0));
    assert.ok(expected.filter((v) => v === 1).length >= 60 && expected.includes(0), 'the batch mixes valid and invalid entries');
    assert.deepEqual([...(await addon.verifyMany(mixed.map((j) => j.key), mixed.map((j) => j.digest), mixed.map((j) => j.sig)))], expected);
    assert.deepEqual([...(await addon.verifyMany([], [], []))], []);
    assert.throws(() => addon.verifyMany([spki], [], []), TypeError);
    assert.throws(() => addon.verifyMany([spki], ['x' as unknown as Uint8Array], [sigs[0]!]), TypeError);
    for (const [type, md] of [['ec', 'sha256'], ['ed25519', '']] as const) {
      const kp = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
      const nk = addon.signingKey(kp.privateKey.export({ format: 'der', type: 'pkcs8' }));
      const out = unpackSignatures(await addon.signMany(nk, md, msgs), msgs.length);
      out.forEach((sig, i) => {
        assert.ok(nodeVerify(md || null, msgs[i]!, kp.publicKey, sig), `${type} signature ${i} verifies`);
        assert.ok(!nodeVerify(md || null, msgs[(i + 1) % msgs.length]!, kp.publicKey, sig), `${type} signature ${i} is for its own payload`);
      });
    }
    assert.throws(() => addon.signingKey(Buffer.from('not a key')), /not a DER private key/);
    const nk = addon.signingKey(privateKey.export({ format: 'der', type: 'pkcs8' }));
    assert.throws(() => addon.signMany(nk, 'no-such-digest', msgs), /unknown digest/);
    assert.throws(() => addon.signMany({} as never, 'sha256', msgs), TypeError);
    assert.throws(() => unpackSignatures(Buffer.from([0, 5, 1]), 1), /truncated/);
  });

  it('the native Merkle tile expansion gives the same subtree hashes as the TypeScript one, for every width', async (t) => {
    const { nativeCrypto } = await import('../../src/native.js');
    const addon = nativeCrypto.addon;
    if (!addon) return t.skip('native addon not built');
    const { ExpandedTile, leafHash } = await import('../../src/tlog/index.js');
    const { expandTile } = await import('../../src/server/log/common.js');
    const hs = Array.from({ length: 256 }, (_, i) => leafHash(randomBytes(i % 7)));
    for (let width = 1; width <= 256; width++) {
      const data = Buffer.concat(hs.slice(0, width));
      const mine = expandTile(data);
      const ref = new ExpandedTile(data);
      for (let count = 1; count <= width; count *= 2) {
        for (let start = 0; start + count <= width; start += count) assert.deepEqual(Buffer.from(mine.node(start, count)), Buffer.from(ref.node(start, count)), `${width}: ${start}+${count}`);
      }
    }
    assert.equal(addon.merkleLevels(new Uint8Array(0)).length, 0);
    assert.equal(addon.merkleLevels(new Uint8Array(32)).length, 0);
    assert.throws(() => addon.merkleLevels(new Uint8Array(33)), TypeError);
    assert.throws(() => addon.merkleLevels('x' as never), TypeError);
    assert.throws(() => new ExpandedTile(Buffer.concat(hs.slice(0, 4)), new Uint8Array(32)), /interior levels/);
  });
});
