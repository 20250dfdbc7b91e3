import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { isSignetError } from '../../src/errors.js';
import {
  canonicalJson,
  canonicalJsonBytes,
  entryId,
  entryUuid,
  formatCheckpoint,
  leafHash,
  logIdFromPublicKey,
  noteKeyHash,
  noteKeyId,
  openNote,
  parseCheckpoint,
  parseEntryId,
  parseNote,
  setPayload,
  signCheckpoint,
  signNote,
  signSET,
  signatureLine,
  verifyCheckpoint,
  verifyInclusion,
  verifyNote,
  verifySET,
} from '../../src/tlog/index.js';

const isTlog = (e: unknown) => isSignetError(e, 'TLOG');
const isMalformed = (e: unknown) => isSignetError(e, 'MALFORMED');
const b64 = (s: string) => Buffer.from(s, 'base64');
const spki = (s: string) => createPublicKey({ key: b64(s), format: 'der', type: 'spki' });

// Log keys from the public-good Sigstore trusted root (trusted_root.json in @sigstore/tuf's seeds.json, TUF
// repository tuf-repo-cdn.sigstore.dev): Rekor v1 (ECDSA P-256) and the Rekor v2 shard log2025-1 (Ed25519).
const REKOR_V1_KEY = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==';
const REKOR_V1_LOG_ID = 'wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=';
const LOG2025_1_KEY = 'MCowBQYDK2VwAyEAt8rlp1knGwjfbcXAYPYAkn0XiLz1x8O4t0YkEhie244=';
const LOG2025_1_LOG_ID = 'zxGZFVvd0FEmjR8WrFwMdcAJ9vtaY/QXf44Y1wUeP6A=';
// Staging shard key, from sigstore-conformance test/assets/trusted_root.staging.json (commit feadc3f04ce1). That
// file's logId for it (RycrnT…) is SHA-256 of the SPKI; the shard's checkpoints and bundles use the C2SP key hash
// (8w1am…, as in conformance test/assets/bundle-verify/rekor2-dsse-happy-path/bundle.sigstore.json, commit eb5ee13aee35).
const ALPHA1_KEY = 'MCowBQYDK2VwAyEAPn+AREHoBaZ7wgS1zBqpxmLSGnyhxXj4lFxSdWVB8o8=';
const ALPHA1_SPKI_HASH = 'RycrnT/11WQ15JtgBXeYVLlFYMtbAka7+JnxUQaOX5E=';
const ALPHA1_KEY_HASH = '8w1amZ2S5mJIQkQmPxdMuOrL/oJkvFg9MnQXmeOCXck=';
const ALPHA1_CHECKPOINT =
  'log2025-alpha1.rekor.sigstage.dev\n7132\noxP/ea30nl5qRXK7CWd0YGGajQNclTGmRbyTqZVS0AU=\n\n— log2025-alpha1.rekor.sigstage.dev 8w1amVmcxxHofaeiQdnXseduy+i75L3TKSG91maGEGjUkBbuRQ4oDZ08bVTO9M+MQJMfz0+vbuOeBrr8yYsofI36egQ=\n';

// A Rekor v1 entry from cosign's pkg/cosign/testdata/oci-attestation.sigstore.json (commit b801d69100bd):
// checkpoint, inclusion proof, SET and canonicalized body as rekor.sigstore.dev returned them.
const V1 = {
  checkpoint:
    'rekor.sigstore.dev - 1193050959916656506\n53604735\nnd/V1IEweXlu0reIQGaGK1d51xW4Rj8fUyTrmcUkrMY=\n\n— rekor.sigstore.dev wNI9ajBFAiEAuh6liXP/rBKWjuO/W8jooM66eVHSXo3Cf8kEAIryZLACIAfCuhLOHpSnU3WA68gZci57o2JuwX7S5H6ANbGePH58\n',
  logIndex: 175508996,
  treeIndex: 53604734,
  treeSize: 53604735,
  integratedTime: 1740770291,
  set: 'MEUCIQDIgcWm5sXPh52rA/3BLyvfymD4RLEze5cx0WrDCF7tXAIgDtDq9wgYo8Z6RQ/LIaMRY/clocjCbX1qZTI9EVrGbzQ=',
  rootHash: 'nd/V1IEweXlu0reIQGaGK1d51xW4Rj8fUyTrmcUkrMY=',
  hashes: [
    'p7adBuLwiHyxFA7sjjx9Jt+YJ9NJ6pPRsqrlFv/Prl4=', 'V8kTVhZDHU0oMb8SoiG+IJzfi1+zs8k07t7msfdk3DU=', 'Y9K/VuEpG5hexjkO0eGf5aWgfD1no2I/HmjLL79pGOw=',
    '49xFd2wqEUENt7vh3yabkMXtEu6nNJxA6xJDF35HkvQ=', 'fldHlNczrXBcOY4UnkC1im8c3AZGOojtqHIrnWG81FA=', '9JKlhk57UmiGCygvf555Z0loJkdvt8BLIwGeMAuJM1o=',
    'JuKjSUhL4pgP2+mTbT/X01oQa16n9Nh2ruwSgN9Ft3o=', '6g/GERajYnzZjZ0EXQIVHpGIKry1LMG0+RJhvtcbSwI=', '62MSvX4iwxK6VPg9s7NR+Y1jiYkd/SsZpVoaUYjD8wg=',
    'K7s/kEEUl/59VblorlWa2aJO8TuH5uy8kn/7qSY+T94=', 'GlND1TZKB9H1XkH8gmyEmNId6gWGYnXjA0ykMIJaI44=', '315PrxqKtUW8bpqBdn6SMyj+smOwK7jCa7Px7i4AIOQ=',
    'lL6jxdDTg23iUvuwRop1833jkmWSvr7sLBM3hXZ8tTU=', 'eExzddanJoxYTKoErFFSTDFUR3UvwaaXxcddWwQJd7I=', 'ebCKJ53lKWPqIx8mXXgznF9DGoQv70J7JTlFAav6s5E=',
    'vemyaMj0Na1LMjbB/9Dmkq8T+jAb3o+yCESgAayUABU=',
  ],
  body:
    'eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoiZHNzZSIsInNwZWMiOnsiZW52ZWxvcGVIYXNoIjp7ImFsZ29yaXRobSI6InNoYTI1NiIsInZhbHVlIjoiYzZhZGFhZjE0OTA4NGYxOTc3YzE0YjViMTQxMmY4ODI1OGU1ODMwZDg3YTVjNjQ0MDNjNDAzYjliNzNmZjEzNiJ9LCJwYXlsb2FkSGFzaCI6eyJhbGdvcml0aG0iOiJzaGEyNTYiLCJ2YWx1ZSI6IjE1NjkyNjE2ZTljNDM1OTA3YzQxNDExNDY2ZTQ5M2YxOTVhMzljYTY4Yzk3M2E0ZjUzOTBkZjNkMzAxMzk4YmQifSwic2lnbmF0dXJlcyI6W3sic2lnbmF0dXJlIjoiTUVRQ0lEb21pdVlWZ05LeWZZei9sZXF2dEVZMnh1aWZ0ZWlnanErTGZTaHU5MkJCQWlCeGl4c0daTllCVlJoR2pYNk9aaVBRQklvVWYraThWZ1BoLy9BVC96NFZnZz09IiwidmVyaWZpZXIiOiJMUzB0TFMxQ1JVZEpUaUJEUlZKVVNVWkpRMEZVUlMwdExTMHRDazFKU1VONmVrTkRRV3hYWjBGM1NVSkJaMGxWUmpKbEswTnBNRmx6VEc1UVlVWlZhMjVpVGtSMFZXTnhXR3d3ZDBObldVbExiMXBKZW1vd1JVRjNUWGNLVG5wRlZrMUNUVWRCTVZWRlEyaE5UV015Ykc1ak0xSjJZMjFWZFZwSFZqSk5ValIzU0VGWlJGWlJVVVJGZUZaNllWZGtlbVJIT1hsYVV6RndZbTVTYkFwamJURnNXa2RzYUdSSFZYZElhR05PVFdwVmQwMXFTVFJOVkd0NFQwUkZlRmRvWTA1TmFsVjNUV3BKTkUxVWEzbFBSRVY0VjJwQlFVMUdhM2RGZDFsSUNrdHZXa2w2YWpCRFFWRlpTVXR2V2tsNmFqQkVRVkZqUkZGblFVVnJMME5wV1ZKdFFUbDZjMkUzWVcxekx5dG1TU3QzUjJWWVQwWjRibWMwU2pCM1Uyb0tNV3AxWWpkcmVFRnlTR2hIZDNablkxWkZNM1ZpY2tkWVRsRkNPVmd6YTNOSE1FWXJUV2xZU0VjNFoxSjZlSEp5TUV0UFEwRllVWGRuWjBaM1RVRTBSd3BCTVZWa1JIZEZRaTkzVVVWQmQwbElaMFJCVkVKblRsWklVMVZGUkVSQlMwSm5aM0pDWjBWR1FsRmpSRUY2UVdSQ1owNVdTRkUwUlVablVWVmpVR1J2Q25SWmJIVkNTRWswWm10WmVUTjVhV28xVTFrME56STRkMGgzV1VSV1VqQnFRa0puZDBadlFWVXpPVkJ3ZWpGWmEwVmFZalZ4VG1wd1MwWlhhWGhwTkZrS1drUTRkMGhuV1VSV1VqQlNRVkZJTDBKQ1VYZEZiMFZSV1RJNWEyVlZRbnBpTTJ4eldWYzFhMHh0VG5aaVZFRnpRbWR2Y2tKblJVVkJXVTh2VFVGRlFncENRalZ2WkVoU2QyTjZiM1pNTW1Sd1pFZG9NVmxwTldwaU1qQjJZa2M1Ym1GWE5IWmlNa1l4WkVkbmQweG5XVXRMZDFsQ1FrRkhSSFo2UVVKRFFWRm5Da1JDTlc5a1NGSjNZM3B2ZGt3eVpIQmtSMmd4V1drMWFtSXlNSFppUnpsdVlWYzBkbUl5UmpGa1IyZDNaMWx2UjBOcGMwZEJVVkZDTVc1clEwSkJTVVVLWmtGU05rRklaMEZrWjBSa1VGUkNjWGh6WTFKTmJVMWFTR2g1V2xwNlkwTnZhM0JsZFU0ME9ISm1LMGhwYmt0QlRIbHVkV3BuUVVGQldsWk9MM0V6U2dwQlFVRkZRWGRDU0UxRlZVTkpVVU5rVEhKM01XSTVja1UyY2taa0swNUJTbFpRWVhjMFJHMUlNRmxPVDBneVFWbEpUMk0wWnpJMlYyMW5TV2RITjBkMUNtSTFhSG8zWjNwR2NIWm9aR0k1U0ZGelQySlhabFJPWTFWcFUwOXRjbTVRYkcxaFVXRkxWWGREWjFsSlMyOWFTWHBxTUVWQmQwMUVZVUZCZDFwUlNYZ0tRVTEzUWpZMlkwTkxWbWhQV1hFeVNrMTRNakJHVUdaS1dFUTJTelp2WVZWV09HRkpiRU5wVnk5WlRFeGFaR3RYYWxSWGExaDBOSEZKWWxCblZXVkJiQW8yZDBsM1pFTnRibTVUVFhjNVprYzNSblZMZWpFMFVsbEdVMkpGTVZaTWFFNXBWMmhIV1hCbVEyb3dNRVowVGxKdldFWXJUa1pSTjBSUFMycHFjVGQ0Q2xCcWVtRUtMUzB0TFMxRlRrUWdRMFZTVkVsR1NVTkJWRVV0TFMwdExRbz0ifV19fQ==',
};

// A Rekor v2 response for log2025-1.rekor.sigstore.dev from sigstore-js packages/sign/src/__tests__/external/rekor-v2.test.ts.
const V2 = {
  checkpoint:
    'log2025-1.rekor.sigstore.dev\n412115\n+8vUkEgBK/ansexBUomzocaWoPEmPIzxJC/y+xNMQN4=\n\n— log2025-1.rekor.sigstore.dev zxGZFahCZ/+MqTjH4rC5MWcdLDWbpetE5l30RZfQc4BQkRjWSoKipEUPjvHENeZDHIlAsuezJcLzUVvItpNjaSRoMAs=\n',
  index: 412114,
  size: 412115,
  hashes: [
    'KIoYVJ0TqmaEkFboP7YWTjSh8vFjVECmokcTOAByfIM=', 'Umf0h0cK2hegTzNnSgsXszyiA4bp5OvEvP+GrWq3C8w=', 'vNQeSNBfepYZI2Ez3ViKdCft0JH87ZS8IGKwixxUVjc=',
    'JBAugd5awOqmHXIKgz1MOjlR5f37VqmP0bWoRVcHX5M=', 'xYH2mAxGxfOgvSOLnItT2LsJt+Z2a2egjf8QJFwK7jA=', 'PbZWM3NitzChx9A22m/kddDtzh2bAKX5Fy7j76l3z2k=',
    'sKX9Sbsahvw5DiC2oP6pbZsDi1NzuNS1nIULXkCC57o=', 'pfTCxXHnCM253jwYxVJcuUhmoTTtDxznn92QhN0M4Ws=', 'cJ8uk2ZvZyfg+HRILKOHcyHu2pvI8Fz3R1MyMvyzWtA=',
  ],
  body:
    'eyJhcGlWZXJzaW9uIjoiMC4wLjIiLCJraW5kIjoiaGFzaGVkcmVrb3JkIiwic3BlYyI6eyJoYXNoZWRSZWtvcmRWMDAyIjp7ImRhdGEiOnsiYWxnb3JpdGhtIjoiU0hBMl8yNTYiLCJkaWdlc3QiOiI1ZEoyU2FrVWVPWFk0dXQxaEJIUG9teitoVG42dGMwS1R6Y0dvc0ErZXBFPSJ9LCJzaWduYXR1cmUiOnsiY29udGVudCI6Ik1FWUNJUURjSk84Mm56MXJydHUxRHhTcHJ1WDFvZ0p1bThkbDRJaUdCTVB6M2pZY2JnSWhBS3dROHdOdTFPbjhwWWZoQUpDSzhPcVQwT09HVGgveUFRK0FuL2UzZC9kVSIsInZlcmlmaWVyIjp7ImtleURldGFpbHMiOiJQS0lYX0VDRFNBX1AyNTZfU0hBXzI1NiIsInB1YmxpY0tleSI6eyJyYXdCeXRlcyI6Ik1Ga3dFd1lIS29aSXpqMENBUVlJS29aSXpqMERBUWNEUWdBRTBxOVErdGRHMTk1Q1hLZm1VeDFZYXR2Wi9tTjNyaGpwT2ZtMWx2c2tXcHJIOVB4cGU5WGM2TGpFSmJCY1ZQaHV0a2ZVdkJCOVJEays0MlNORTYvNXhnPT0ifX19fX19',
};

test('a real Rekor v1 checkpoint verifies with the public-good Rekor key; its proof and SET too', () => {
  const key = spki(REKOR_V1_KEY);
  assert.equal(logIdFromPublicKey(key), b64(REKOR_V1_LOG_ID).toString('hex'));
  assert.equal(logIdFromPublicKey(b64(REKOR_V1_KEY)), b64(REKOR_V1_LOG_ID).toString('hex'));
  // Rekor v1's key hint is SHA-256(SPKI)[:4], i.e. the log ID's first bytes
  assert.deepEqual(Buffer.from(noteKeyId('rekor.sigstore.dev', key)), b64(REKOR_V1_LOG_ID).subarray(0, 4));

  const cp = verifyCheckpoint(V1.checkpoint, { name: 'rekor.sigstore.dev', publicKey: key }, { origin: 'rekor.sigstore.dev - 1193050959916656506' });
  assert.equal(cp.size, V1.treeSize);
  assert.equal(Buffer.from(cp.rootHash).toString('base64'), V1.rootHash);
  assert.deepEqual(cp.extensions, []);
  assert.equal(cp.verified.length, 1);

  const body = b64(V1.body);
  verifyInclusion(leafHash(body), V1.treeIndex, V1.treeSize, V1.hashes.map(b64), cp.rootHash);
  assert.throws(() => verifyInclusion(leafHash(body), V1.treeIndex - 1, V1.treeSize, V1.hashes.map(b64), cp.rootHash), isTlog);

  const fields = { body: V1.body, integratedTime: V1.integratedTime, logID: logIdFromPublicKey(key), logIndex: V1.logIndex };
  verifySET(fields, b64(V1.set), key);
  verifySET({ ...fields, body }, b64(V1.set), key); // raw bytes are base64-encoded the same way
  assert.throws(() => verifySET({ ...fields, integratedTime: V1.integratedTime + 1 }, b64(V1.set), key), isTlog);
  assert.throws(() => verifySET({ ...fields, logIndex: V1.treeIndex }, b64(V1.set), key), isTlog);
  assert.throws(() => verifySET(fields, b64(V1.set).subarray(1), key), isTlog);
  assert.equal(setPayload(fields).toString().slice(0, 9), '{"body":"');
  assert.match(setPayload(fields).toString(), /","integratedTime":1740770291,"logID":"c0d23d6a[0-9a-f]{56}","logIndex":175508996\}$/);
});

test('a real Rekor v2 (Ed25519) checkpoint verifies; key IDs follow C2SP', () => {
  const key = spki(LOG2025_1_KEY);
  assert.equal(Buffer.from(noteKeyHash('log2025-1.rekor.sigstore.dev', key)).toString('base64'), LOG2025_1_LOG_ID);
  const alpha1 = spki(ALPHA1_KEY);
  assert.equal(Buffer.from(noteKeyHash('log2025-alpha1.rekor.sigstage.dev', alpha1)).toString('base64'), ALPHA1_KEY_HASH);
  assert.equal(logIdFromPublicKey(alpha1), b64(ALPHA1_SPKI_HASH).toString('hex'));
  assert.equal(verifyCheckpoint(ALPHA1_CHECKPOINT, { name: 'log2025-alpha1.rekor.sigstage.dev', publicKey: alpha1 }).size, 7132);
  const cp = verifyCheckpoint(V2.checkpoint, { name: 'log2025-1.rekor.sigstore.dev', publicKey: key }, { origin: 'log2025-1.rekor.sigstore.dev' });
  assert.equal(cp.size, V2.size);
  verifyInclusion(leafHash(b64(V2.body)), V2.index, V2.size, V2.hashes.map(b64), cp.rootHash);
});

test('tampered or mismatched checkpoints are refused', () => {
  const v1 = { name: 'rekor.sigstore.dev', publicKey: spki(REKOR_V1_KEY) };
  const v2 = { name: 'log2025-1.rekor.sigstore.dev', publicKey: spki(LOG2025_1_KEY) };
  const tamper = (s: string, from: string, to: string) => {
    assert.ok(s.includes(from));
    return s.replace(from, to);
  };
  // a different size, root or origin: the signature no longer covers the text
  assert.throws(() => verifyCheckpoint(tamper(V1.checkpoint, '\n53604735\n', '\n53604736\n'), v1), isTlog);
  assert.throws(() => verifyCheckpoint(tamper(V1.checkpoint, 'nd/V1IEweX', 'nd/V1IEweY'), v1), isTlog);
  assert.throws(() => verifyCheckpoint(tamper(V2.checkpoint, '412115', '412116'), v2), isTlog);
  assert.throws(() => verifyCheckpoint(tamper(V2.checkpoint, 'log2025-1.rekor.sigstore.dev\n4', 'log2025-2.rekor.sigstore.dev\n4'), v2), isTlog);
  // a flipped signature byte
  const sig = V2.checkpoint.split(' ').pop()!.trim();
  const raw = b64(sig);
  raw[40]! ^= 1;
  assert.throws(() => verifyCheckpoint(V2.checkpoint.replace(sig, raw.toString('base64')), v2), (e) => isTlog(e) && /invalid signature by log2025-1/.test((e as Error).message));
  // the wrong key, the wrong name, or the wrong origin
  assert.throws(() => verifyCheckpoint(V1.checkpoint, v2), (e) => isTlog(e) && /no signature by a trusted key/.test((e as Error).message));
  assert.throws(() => verifyCheckpoint(V1.checkpoint, { ...v1, name: 'rekor.sigstore.dev - 1193050959916656506' }), isTlog);
  assert.throws(() => verifyCheckpoint(V1.checkpoint, { ...v1, publicKey: spki(LOG2025_1_KEY) }), isTlog);
  assert.throws(() => verifyCheckpoint(V1.checkpoint, v1, { origin: 'rekor.sigstore.dev' }), (e) => isTlog(e) && /expected "rekor.sigstore.dev"/.test((e as Error).message));
  // structural damage
  assert.throws(() => verifyCheckpoint(V1.checkpoint.slice(0, -1), v1), isMalformed);
  assert.throws(() => verifyCheckpoint(V1.checkpoint.replace('\n\n', '\n'), v1), isMalformed);
  assert.throws(() => verifyCheckpoint(V1.checkpoint.replace('— ', '- '), v1), isMalformed);
  // an extra signature line by someone else is ignored; both keys trusted -> both verified
  const both = V2.checkpoint + V1.checkpoint.split('\n\n')[1]!;
  assert.equal(verifyCheckpoint(both, v2).verified.length, 1);
  assert.throws(() => verifyCheckpoint(both, [v1, v2]), isTlog); // v1's signature is over other text: a known key that fails
});

const KEYS: [string, KeyObject][] = [
  ['ed25519', generateKeyPairSync('ed25519').privateKey],
  ['p256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey],
  ['p384', generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey],
  ['rsa', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey],
];

test('notes signed by each key type verify, with unknown co-signers ignored', () => {
  const text = 'example.com/log\n42\n' + Buffer.alloc(32, 9).toString('base64') + '\n';
  for (const [kind, priv] of KEYS) {
    const pub = createPublicKey(priv);
    const note = signNote(text, 'example.com/log', priv);
    assert.match(note, /\n\n— example\.com\/log [A-Za-z0-9+/=]+\n$/, kind);
    assert.deepEqual(verifyNote(note, 'example.com/log', pub).text, text);
    const other = generateKeyPairSync('ed25519').privateKey;
    const cosigned = note + signatureLine(text, 'witness.example', other);
    const res = verifyNote(cosigned, 'example.com/log', pub);
    assert.equal(res.verified.length, 1);
    assert.deepEqual(Buffer.from(res.verified[0]!.keyId), Buffer.from(noteKeyId('example.com/log', pub)));
    assert.equal(openNote(cosigned, [{ name: 'example.com/log', publicKey: pub }, { name: 'witness.example', publicKey: createPublicKey(other) }]).verified.length, 2);
    assert.throws(() => verifyNote(note, 'example.com/log', createPublicKey(other)), isTlog, kind);
    assert.throws(() => verifyNote(note.replace('\n42\n', '\n43\n'), 'example.com/log', pub), isTlog, kind);
  }
  // Rekor v1 style: the SPKI-hash key ID on an Ed25519 key is accepted too
  const [, ed] = KEYS[0]!;
  const spkiId = Buffer.from(logIdFromPublicKey(ed), 'hex').subarray(0, 4);
  verifyNote(signNote(text, 'rekor.example', ed, { keyId: spkiId }), 'rekor.example', createPublicKey(ed));
  // an explicit key ID list narrows what is accepted
  assert.throws(() => verifyNote(signNote(text, 'rekor.example', ed, { keyId: spkiId }), 'rekor.example', createPublicKey(ed), { keyIds: [Uint8Array.of(1, 2, 3, 4)] }), isTlog);
});

test('signed note parsing is strict', () => {
  const [, ed] = KEYS[0]!;
  const good = signNote('hello\n\nworld\n', 'n', ed);
  const p = parseNote(good);
  assert.equal(p.text, 'hello\n\nworld\n'); // text may contain blank lines; the last one separates
  assert.equal(p.signatures.length, 1);
  assert.deepEqual(parseNote(Buffer.from(good)), p);
  const line = good.slice(good.lastIndexOf('\n\n') + 2);
  const bad = [
    good.slice(0, -1), // no final newline
    'hello\n— n AAAAAAA=\n', // no blank line
    'hello\n\n', // no signatures
    'hello\n\n\n', // an empty signature line
    `hello\n\n${line}\n`, // blank line after signatures
    `hello\n\n${line.replace('— n ', '— n  ')}`, // two spaces
    `hello\n\n${line.replace('— n ', '— a+b ')}`, // '+' in the name
    `hello\n\n${line.replace('— n ', '— \u00a0 ')}`, // a Unicode space as the name
    `hello\n\n${line.replace('— n ', '—n ')}`,
    `hello\n\n${line.replace('— n ', '-- n ')}`,
    'hello\n\n— n AAAA\n', // too short for key ID + signature
    'hello\n\n— n AAAAAA==x\n', // not base64
    'hello\n\n— n AAAAAAA\n', // unpadded
    `hel\tlo\n\n${line}`, // control character
    `hello\r\n\n${line}`,
  ];
  for (const b of bad) assert.throws(() => parseNote(b), isMalformed, JSON.stringify(b));
  assert.throws(() => parseNote(Uint8Array.of(0x68, 0xff, 0x0a, 0x0a)), isMalformed);
  assert.throws(() => parseNote('x\n\n' + '— n AAAAAAA=\n'.repeat(101)), isMalformed);
  assert.equal(parseNote('x\n\n' + '— n AAAAAAA=\n'.repeat(16)).signatures.length, 16);
  assert.throws(() => signNote('no newline', 'n', ed), isTlog);
  assert.throws(() => signNote('x\n', 'has space', ed), isTlog);
  assert.throws(() => signNote('x\n', '', ed), isTlog);
});

test('checkpoints format and parse per C2SP tlog-checkpoint', () => {
  const root = Buffer.alloc(32, 0xab);
  const text = formatCheckpoint({ origin: 'example.com/log', size: 10, rootHash: root });
  assert.equal(text, `example.com/log\n10\n${root.toString('base64')}\n`);
  const withExt = formatCheckpoint({ origin: 'o', size: 0, rootHash: root, extensions: ['Timestamp: 1689177396617352539'] });
  assert.equal(withExt, `o\n0\n${root.toString('base64')}\nTimestamp: 1689177396617352539\n`);
  assert.deepEqual(parseCheckpoint(withExt), { origin: 'o', size: 0, rootHash: root, extensions: ['Timestamp: 1689177396617352539'] });
  const r = root.toString('base64');
  for (const bad of [`o\n010\n${r}\n`, `o\n-1\n${r}\n`, `o\n1e3\n${r}\n`, `o\n10\n${r}`, `\n10\n${r}\n`, `o\n10\n`, `o\n10\nAAAA\n`, `o\n10\n${r}\n\n`, `o\n99999999999999999999\n${r}\n`, `o\n10\n${r.slice(0, -1)}\n`]) {
    assert.throws(() => parseCheckpoint(bad), isMalformed, JSON.stringify(bad));
  }
  assert.throws(() => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash: root }), isTlog);
  assert.throws(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: root.subarray(1) }), isTlog);
  assert.throws(() => formatCheckpoint({ origin: 'o', size: 1.5, rootHash: root }), isTlog);
  assert.throws(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: root, extensions: [''] }), isTlog);

  const [, p256] = KEYS[1]!;
  const note = signCheckpoint({ origin: 'example.com/log', size: 10, rootHash: root }, 'example.com/log', p256);
  const cp = verifyCheckpoint(note, { name: 'example.com/log', publicKey: createPublicKey(p256) }, { origin: 'example.com/log' });
  assert.equal(cp.size, 10);
  assert.equal(cp.text, text);
});

test('canonical JSON follows RFC 8785', () => {
  // RFC 8785 §3.2.2 sample input and its canonical output
  const sample = JSON.parse(
    '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
  );
  assert.equal(canonicalJson(sample), '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
  // RFC 8785 §3.2.3 property sorting by UTF-16 code units (the emoji's surrogates sort before U+FB33)
  const sorting = JSON.parse('{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}');
  assert.equal(
    canonicalJson(sorting),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
  // RFC 8785 Appendix B number samples (IEEE 754 bit patterns -> canonical text)
  const num = (bits: string) => Buffer.from(bits, 'hex').readDoubleBE(0);
  const samples: [string, string][] = [
    ['0000000000000000', '0'], ['8000000000000000', '0'], ['0000000000000001', '5e-324'], ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'], ['ffefffffffffffff', '-1.7976931348623157e+308'], ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'], ['4430000000000000', '295147905179352830000'], ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'], ['44b52d02c7e14af7', '1.0000000000000001e+23'], ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'], ['444b1ae4d6e2ef50', '1e+21'], ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'], ['41b3de4355555553', '333333333.3333332'], ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'], ['41b3de4355555556', '333333333.3333334'], ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'], ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  for (const [bits, want] of samples) assert.equal(canonicalJson(num(bits)), want, bits);
  for (const bits of ['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000']) assert.throws(() => canonicalJson(num(bits)), isSignetError);
  assert.throws(() => canonicalJson('\ud800' as string), isSignetError);
  assert.throws(() => canonicalJson(new Date(0) as unknown as string), isSignetError);
  assert.equal(canonicalJson({ b: undefined, a: [1, 'x'] }), '{"a":[1,"x"]}');
  // Already in order (no sort), and out of order only at the end.
  assert.equal(canonicalJson({ a: 1, b: { x: 1, y: 2 }, c: 3 }), '{"a":1,"b":{"x":1,"y":2},"c":3}');
  assert.equal(canonicalJson({ a: 1, b: 2, d: 4, c: 3 }), '{"a":1,"b":2,"c":3,"d":4}');
});

test('the SET payload is exactly the canonical JSON of its four members', () => {
  const logID = 'ab'.repeat(32);
  const bodies: (string | Uint8Array)[] = ['', 'eyJhIjoxfQ==', 'quote " backslash \\ newline \n ctrl \u0001 € 😀', Buffer.from('{"kind":"hashedrekord"}'), new Uint8Array(0)];
  for (const body of bodies) {
    for (const [integratedTime, logIndex] of [[0, 0], [1740770291, 175508996], [Number.MAX_SAFE_INTEGER, 1]]) {
      const b64 = typeof body === 'string' ? body : Buffer.from(body).toString('base64');
      const want = canonicalJsonBytes({ body: b64, integratedTime: integratedTime!, logID, logIndex: logIndex! });
      assert.deepEqual(setPayload({ body, integratedTime: integratedTime!, logID, logIndex: logIndex! }), want);
    }
  }
  assert.throws(() => setPayload({ body: 'a\ud800b', integratedTime: 1, logID, logIndex: 1 }), isTlog);
  assert.throws(() => setPayload({ body: 'x', integratedTime: 1.5, logID, logIndex: 1 }), isTlog);
});

test('Rekor entry UUIDs and entry IDs', () => {
  const body = Buffer.from('{"apiVersion":"0.0.1"}');
  const uuid = entryUuid(body);
  assert.equal(uuid, Buffer.from(leafHash(body)).toString('hex'));
  // rekor.sigstore.dev's public tree 1193050959916656506 is above 2^53: pass it as a string or bigint
  const id = entryId('1193050959916656506', uuid);
  assert.equal(id, '108e9186e8c5677a' + uuid);
  assert.equal(entryId(1193050959916656506n, uuid), id);
  assert.equal(entryId(3, uuid), '0000000000000003' + uuid);
  assert.deepEqual(parseEntryId(id), { treeId: 1193050959916656506n, uuid });
  assert.deepEqual(parseEntryId(uuid.toUpperCase()), { uuid });
  for (const bad of ['', uuid.slice(1), uuid + '0', '0000000000000000' + uuid, 'g'.repeat(64), 'ffffffffffffffff' + uuid]) {
    assert.throws(() => parseEntryId(bad), isTlog, bad);
  }
  assert.throws(() => entryId(0, uuid), isTlog);
  assert.throws(() => entryId('012', uuid), isTlog);
  assert.throws(() => entryId(1, uuid.toUpperCase()), isTlog);
  assert.throws(() => entryId(2n ** 63n, uuid), isTlog);

  const [, p256] = KEYS[1]!;
  const fields = { body, integratedTime: 1700000000, logID: logIdFromPublicKey(p256), logIndex: 7 };
  const set = signSET(fields, p256);
  verifySET(fields, set, createPublicKey(p256));
  assert.throws(() => verifySET({ ...fields, body: Buffer.from('x') }, set, createPublicKey(p256)), isTlog);
  assert.throws(() => setPayload({ ...fields, logID: 'ABC' }), isTlog);
  assert.throws(() => setPayload({ ...fields, logIndex: -1 }), isTlog);
});
