import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isSignetError } from '../../src/errors.js';
import { generateKeyPair, signerFromPrivateKey } from '../../src/keys/index.js';
import {
  BUNDLE_V03_MEDIA_TYPE,
  buildDsseBundle,
  buildMessageSignatureBundle,
  IN_TOTO_PAYLOAD_TYPE,
  parseBundle,
  signDsse,
} from '../../src/sigstore/index.js';

const malformed = (re?: RegExp) => (e: unknown) => isSignetError(e, 'MALFORMED') && (!re || re.test((e as Error).message));

const { privateKey } = generateKeyPair('ecdsa-p256');
const signer = signerFromPrivateKey(privateKey);
const artifact = Buffer.from('hello bundle');
const digest = createHash('sha256').update(artifact).digest();
const signature = signer.sign(artifact);
const msgBundle = buildMessageSignatureBundle({ digest, hashAlg: 'sha256', signature, publicKeyHint: signer.publicKey.hint });

/** Mutate the JSON of a good bundle and serialise it again (fine for tests: we want new bytes). */
function mutate(f: (b: any) => void, base = msgBundle): Buffer {
  const doc = JSON.parse(base.toString());
  f(doc);
  return Buffer.from(JSON.stringify(doc));
}

describe('building bundles', () => {
  test('a message-signature bundle looks like what sigstore-go writes for a key without log or TSA', () => {
    const doc = JSON.parse(msgBundle.toString());
    assert.deepEqual(Object.keys(doc), ['mediaType', 'verificationMaterial', 'messageSignature']);
    assert.deepEqual(doc, {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: signer.publicKey.hint } },
      messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: digest.toString('base64') }, signature: signature.toString('base64') },
    });
  });

  test('a DSSE bundle has one signature and no keyid', () => {
    const env = signDsse(signer, IN_TOTO_PAYLOAD_TYPE, Buffer.from('{"x":1}'));
    const doc = JSON.parse(buildDsseBundle({ envelope: env, publicKeyHint: signer.publicKey.hint }).toString());
    assert.deepEqual(Object.keys(doc.dsseEnvelope), ['payload', 'payloadType', 'signatures']);
    assert.deepEqual(doc.dsseEnvelope.signatures, [{ sig: env.signatures[0]!.sig.toString('base64') }]);
  });

  test('tlog entries and timestamps handed in are carried through', () => {
    const entry = { logIndex: '7', logId: { keyId: 'AAAA' }, kindVersion: { kind: 'hashedrekord', version: '0.0.1' }, integratedTime: '1', inclusionPromise: { signedEntryTimestamp: 'AA==' }, inclusionProof: { logIndex: '7', rootHash: 'AA==', treeSize: '8', hashes: [], checkpoint: { envelope: 'x' } }, canonicalizedBody: 'e30=' };
    const b = buildMessageSignatureBundle({ digest, hashAlg: 'sha256', signature, publicKeyHint: 'h', tlogEntries: [entry], rfc3161Timestamps: [Buffer.from([1, 2, 3])] });
    const p = parseBundle(b);
    assert.deepEqual(p.tlogEntries, [entry]);
    assert.deepEqual(p.rfc3161Timestamps, [Buffer.from([1, 2, 3])]);
    assert.ok(b.toString().includes('"timestampVerificationData":{"rfc3161Timestamps":[{"signedTimestamp":"AQID"}]}'));
  });

  test('a certificate instead of a hint', () => {
    const p = parseBundle(buildMessageSignatureBundle({ digest, hashAlg: 'sha256', signature, certificate: Buffer.from([0x30, 0x00]) }));
    assert.deepEqual(p.verificationMaterial, { kind: 'certificate', certificate: Buffer.from([0x30, 0x00]) });
  });

  test('wrong digest length is refused', () => {
    assert.throws(() => buildMessageSignatureBundle({ digest, hashAlg: 'sha384', signature, publicKeyHint: 'h' }), (e) => isSignetError(e, 'INTERNAL'));
  });
});

describe('parsing bundles', () => {
  test('round trip keeps the raw bytes and exposes every part', () => {
    const p = parseBundle(msgBundle);
    assert.equal(p.raw, msgBundle);
    assert.equal(p.mediaType, BUNDLE_V03_MEDIA_TYPE);
    assert.equal(p.version, '0.3');
    assert.equal(p.content.kind, 'messageSignature');
    if (p.content.kind !== 'messageSignature') return;
    assert.deepEqual(p.content.digest, digest);
    assert.deepEqual(p.content.signature, signature);
    assert.equal(p.content.hashAlg, 'sha256');
    assert.deepEqual(p.verificationMaterial, { kind: 'publicKey', hint: signer.publicKey.hint });
    assert.deepEqual(p.tlogEntries, []);
  });

  test('DSSE payload bytes are the decoded bytes, untouched', () => {
    const payload = Buffer.from('{ "spaces" :  true }\n');
    const p = parseBundle(buildDsseBundle({ envelope: signDsse(signer, 'text/plain', payload), publicKeyHint: '' }));
    assert.equal(p.content.kind, 'dsse');
    if (p.content.kind !== 'dsse') return;
    assert.deepEqual(p.content.payload, payload);
    assert.equal(p.content.payloadType, 'text/plain');
    assert.deepEqual(Object.keys(p.content.rawEnvelope), ['payload', 'payloadType', 'signatures']);
    assert.deepEqual(p.verificationMaterial, { kind: 'publicKey', hint: '' });
  });

  test('older media types are accepted', () => {
    for (const v of ['0.1', '0.2', '0.3']) {
      const p = parseBundle(mutate((b) => (b.mediaType = `application/vnd.dev.sigstore.bundle+json;version=${v}`)));
      assert.equal(p.version, v);
    }
  });

  test('URL-safe and unpadded base64 (protojson accepts both) decode to the same bytes', () => {
    const p = parseBundle(mutate((b) => (b.messageSignature.signature = signature.toString('base64url'))));
    assert.ok(p.content.kind === 'messageSignature' && p.content.signature.equals(signature));
  });

  const rejections: Array<[string, Buffer, RegExp]> = [
    ['not JSON', Buffer.from('{"mediaType":'), /not valid JSON/],
    ['a JSON array', Buffer.from('[]'), /not an object/],
    ['no media type', mutate((b) => delete b.mediaType), /no mediaType/],
    ['a wrong media type', mutate((b) => (b.mediaType = 'application/json')), /media type "application\/json" is not a supported/],
    ['a future media type', mutate((b) => (b.mediaType = 'application/vnd.dev.sigstore.bundle.v0.9+json')), /not a supported/],
    ['both contents', mutate((b) => (b.dsseEnvelope = { payload: 'e30=', payloadType: 'x', signatures: [{ sig: 'AA==' }] })), /both messageSignature and dsseEnvelope/],
    ['no content', mutate((b) => delete b.messageSignature), /neither messageSignature nor dsseEnvelope/],
    ['bad base64 signature', mutate((b) => (b.messageSignature.signature = 'MEUC!!==')), /signature is not valid base64/],
    ['base64 with whitespace', mutate((b) => (b.messageSignature.signature = 'ME UC')), /not valid base64/],
    ['empty signature', mutate((b) => (b.messageSignature.signature = '')), /signature is empty/],
    ['no message digest', mutate((b) => delete b.messageSignature.messageDigest), /messageDigest is not an object/],
    ['unknown hash algorithm', mutate((b) => (b.messageSignature.messageDigest.algorithm = 'MD5')), /unsupported hash algorithm/],
    ['digest of the wrong length', mutate((b) => (b.messageSignature.messageDigest.digest = 'AAAA')), /has 3 bytes/],
    ['no verification material', mutate((b) => delete b.verificationMaterial), /verificationMaterial is not an object/],
    ['no key material', mutate((b) => (b.verificationMaterial = {})), /no publicKey, certificate/],
    ['two kinds of key material', mutate((b) => (b.verificationMaterial.certificate = { rawBytes: 'MAA=' })), /both publicKey and certificate/],
    ['an unknown field', mutate((b) => (b.extra = 1)), /unknown field "extra"/],
    ['an unknown field deeper', mutate((b) => (b.messageSignature.messageDigest.x = 1)), /unknown field "x"/],
    ['tlogEntries not a list', mutate((b) => (b.verificationMaterial.tlogEntries = {})), /not a list/],
    ['a v0.3 tlog entry without inclusion proof', mutate((b) => (b.verificationMaterial.tlogEntries = [{ logIndex: '1', logId: { keyId: 'AA==' }, kindVersion: {}, canonicalizedBody: 'e30=' }])), /no inclusionProof/],
    ['a bad timestamp', mutate((b) => (b.verificationMaterial.timestampVerificationData = { rfc3161Timestamps: [{ signedTimestamp: '%%' }] })), /not valid base64/],
    ['a DSSE envelope with two signatures', mutate((b) => {
      delete b.messageSignature;
      b.dsseEnvelope = { payload: 'e30=', payloadType: 'x', signatures: [{ sig: 'AA==' }, { sig: 'AQ==' }] };
    }), /2 signatures, expected exactly one/],
    ['a DSSE envelope with bad payload base64', mutate((b) => {
      delete b.messageSignature;
      b.dsseEnvelope = { payload: "e30=x", payloadType: "x", signatures: [{ sig: "AA==" }] };
    }), /payload is not valid base64/],
  ];
  for (const [name, bytes, re] of rejections) {
    test(`rejects ${name}`, () => assert.throws(() => parseBundle(bytes), malformed(re)));
  }

  test('a v0.1 tlog entry needs an inclusion promise', () => {
    const e = { logIndex: '1', logId: { keyId: 'AA==' }, kindVersion: { kind: 'hashedrekord', version: '0.0.1' }, canonicalizedBody: 'e30=' };
    const v01 = (entry: object) => mutate((b) => {
      b.mediaType = 'application/vnd.dev.sigstore.bundle+json;version=0.1';
      b.verificationMaterial.tlogEntries = [entry];
    });
    assert.throws(() => parseBundle(v01(e)), malformed(/no inclusionPromise/));
    assert.equal(parseBundle(v01({ ...e, inclusionPromise: { signedEntryTimestamp: 'AA==' } })).tlogEntries.length, 1);
  });
});

describe('strict base64', () => {
  test('accepts padded, unpadded and URL-safe; refuses junk and non-canonical trailing bits', async () => {
    const { decodeBase64Strict } = await import('../../src/sigstore/index.js');
    assert.deepEqual(decodeBase64Strict('AAE=', 'x'), Buffer.from([0, 1]));
    assert.deepEqual(decodeBase64Strict('AAE', 'x'), Buffer.from([0, 1]));
    assert.deepEqual(decodeBase64Strict('-_8=', 'x'), Buffer.from([0xfb, 0xff]));
    for (const bad of ['AAF=', 'A', 'AA=A', 'AA===', 'AA A', 'AA\n', 'AA==AA==', '+_8=']) {
      assert.throws(() => decodeBase64Strict(bad, 'x'), malformed(/not valid base64/), JSON.stringify(bad));
    }
    assert.deepEqual(decodeBase64Strict('', 'x'), Buffer.alloc(0));
    for (const bad of ['=', '==', 'AA=', 'AAA==', 'AAAA=', 'AAAA==', 'AAB=', 'AAC', 'AB==', 'AAAAAB', 'é', 'AA\u0100A', 'AA_+']) {
      assert.throws(() => decodeBase64Strict(bad, 'x'), malformed(/not valid base64/), JSON.stringify(bad));
    }
  });

  test('agrees with a re-encoding reference on random near-base64 strings', async () => {
    const { decodeBase64Strict } = await import('../../src/sigstore/index.js');
    // The reference: decode, re-encode in the same alphabet, compare (the definition of canonical).
    const reference = (s: string): Buffer | null => {
      const std = /^[A-Za-z0-9+/]*={0,2}$/.test(s);
      if (!std && !/^[A-Za-z0-9_-]*={0,2}$/.test(s)) return null;
      const body = s.replace(/=+$/, '');
      if (body.length % 4 === 1 || (s.length > body.length && s.length % 4 !== 0)) return null;
      const buf = Buffer.from(body, std ? 'base64' : 'base64url');
      return buf.toString(std ? 'base64' : 'base64url').replace(/=+$/, '') === body ? buf : null;
    };
    const alphabet = 'AQgw+/-_=a9 .';
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    let accepted = 0;
    for (let i = 0; i < 20000; i++) {
      let s = '';
      for (let n = rnd(11); n > 0; n--) s += alphabet[rnd(alphabet.length)];
      if (rnd(2) === 0) s = Buffer.from(s).toString(rnd(2) ? 'base64' : 'base64url').slice(0, rnd(12) + 1);
      const want = reference(s);
      if (want === null) assert.throws(() => decodeBase64Strict(s, 'x'), malformed(/not valid base64/), JSON.stringify(s));
      else {
        assert.deepEqual(decodeBase64Strict(s, 'x'), want, JSON.stringify(s));
        accepted++;
      }
    }
    assert.ok(accepted > 1000, `only ${accepted} random strings were valid base64`);
    // Every UTF-16 code unit in every position of a quantum, and after a full one.
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      for (const s of [`${ch}AAA`, `A${ch}AA`, `AA${ch}A`, `AAA${ch}`, `AAAA${ch}A`, `AAAA${ch}Q==`, `AAAAAA${ch}=`]) {
        const want = reference(s);
        if (want === null) assert.throws(() => decodeBase64Strict(s, 'x'), malformed(/not valid base64/), JSON.stringify(s));
        else assert.deepEqual(decodeBase64Strict(s, 'x'), want, JSON.stringify(s));
      }
    }
  });
});
