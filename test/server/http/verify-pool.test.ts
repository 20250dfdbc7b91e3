/**
 * The verification pool and the thread-pool verifier give exactly the inline verdicts: same canonical
 * bytes, same errors.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, it } from 'node:test';
import { SignetError } from '../../../src/errors.js';
import { HttpError } from '../../../src/server/http/router.js';
import { inlineVerifier, threadPoolVerifier, verifierPool } from '../../../src/server/http/verify-pool.js';
import { verifyBytes } from '../../../src/tlog/sig.js';
import { ecKey, edKey, hashedRekordV1, hashedRekordV2 } from '../../rekor/fixtures.js';

const pool = verifierPool(2);
const inline = inlineVerifier();
const threads = threadPoolVerifier();
after(() => Promise.all([pool.close(), threads.close()]));

async function outcome(v: typeof pool, api: 1 | 2, raw: Buffer): Promise<unknown> {
  try {
    const e = await v.canonicalize(api, raw);
    return { kind: e.kind, apiVersion: e.apiVersion, body: e.body.toString('hex'), keys: e.indexKeys };
  } catch (e) {
    if (e instanceof HttpError) return { http: e.status, message: e.message };
    if (e instanceof SignetError) return { code: e.code, message: e.message };
    return { other: (e as Error).message };
  }
}

it('agrees with inline verification on valid, tampered and malformed submissions, in concurrent batches', async () => {
  const key = ecKey();
  const p384 = ecKey('P-384');
  const good = [
    ...Array.from({ length: 40 }, () => JSON.stringify(hashedRekordV1(key))),
    ...Array.from({ length: 4 }, () => JSON.stringify(hashedRekordV1(p384))),
  ];
  const v2good = Array.from({ length: 6 }, () => JSON.stringify(hashedRekordV2(key)));
  const v2tampered = v2good.slice(0, 2).map((b) => {
    const d = JSON.parse(b) as { hashedRekordRequestV002: { digest: string } };
    const raw = Buffer.from(d.hashedRekordRequestV002.digest, 'base64');
    raw[0]! ^= 1;
    d.hashedRekordRequestV002.digest = raw.toString('base64');
    return JSON.stringify(d);
  });
  const tampered = good.slice(0, 5).map((b) => {
    const d = JSON.parse(b) as { spec: { data: { hash: { value: string } } } };
    d.spec.data.hash.value = d.spec.data.hash.value.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    return JSON.stringify(d);
  });
  const inputs: Array<[1 | 2, string]> = [
    ...good.map((b) => [1, b] as [1, string]),
    ...tampered.map((b) => [1, b] as [1, string]),
    // Ed25519 over a sha256 digest: refused before any signature check, the same way everywhere.
    [1, JSON.stringify(hashedRekordV1(edKey()))],
    [1, '{not json'],
    [1, '[]'],
    [1, '{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{}}'],
    [2, '{}'],
    [2, '"x"'],
    ...v2good.map((b) => [2, b] as [2, string]),
    ...v2tampered.map((b) => [2, b] as [2, string]),
  ];
  const viaPool = await Promise.all(inputs.map(([api, b]) => outcome(pool, api, Buffer.from(b))));
  const viaInline = await Promise.all(inputs.map(([api, b]) => outcome(inline, api, Buffer.from(b))));
  const viaThreads = await Promise.all(inputs.map(([api, b]) => outcome(threads, api, Buffer.from(b))));
  assert.deepEqual(viaPool, viaInline);
  assert.deepEqual(viaThreads, viaInline);
  const v2at = inputs.length - v2good.length - v2tampered.length;
  for (let i = 0; i < v2good.length; i++) assert.ok((viaThreads[v2at + i] as { body?: string }).body, `v2 entry ${i} accepted`);
  for (let i = 0; i < v2tampered.length; i++) assert.equal((viaThreads[v2at + v2good.length + i] as { code?: string }).code, 'VERIFICATION');
  for (let i = 0; i < good.length; i++) assert.ok((viaPool[i] as { body?: string }).body, `entry ${i} accepted`);
  for (let i = good.length; i < good.length + tampered.length; i++) assert.equal((viaPool[i] as { code?: string }).code, 'VERIFICATION');
  assert.deepEqual(viaPool[good.length + tampered.length + 1], { http: 400, message: 'request body is not valid JSON' });
});

it('refuses work after close', async () => {
  for (const p of [verifierPool(1), threadPoolVerifier({ signingKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey })]) {
    await p.close();
    await assert.rejects(p.canonicalize(1, Buffer.from('{}')), /shutting down/);
    if (p.sign) await assert.rejects(p.sign(Buffer.from('x')), /shutting down/);
  }
});

it('signs with the log key off the event loop (ECDSA P-256 and Ed25519), and offers no signing without a key', async () => {
  assert.equal(pool.sign, undefined);
  assert.equal(threads.sign, undefined);
  for (const type of ['ec', 'ed25519'] as const) {
    const { privateKey, publicKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
    for (const p of [verifierPool(2, { signingKey: privateKey }), threadPoolVerifier({ signingKey: privateKey })]) {
      try {
        const payloads = Array.from({ length: 150 }, (_, i) => Buffer.from(`{"logIndex":${i}}`));
        // Signing and verification jobs interleave in the same batches; each answer belongs to its own job.
        const [sigs, entry] = await Promise.all([Promise.all(payloads.map((d) => p.sign!(d))), p.canonicalize(1, Buffer.from(JSON.stringify(hashedRekordV1(ecKey()))))]);
        assert.equal(entry.kind, 'hashedrekord');
        sigs.forEach((s, i) => {
          assert.ok(verifyBytes(payloads[i]!, s, publicKey), `signature ${i} verifies`);
          assert.ok(!verifyBytes(payloads[(i + 1) % payloads.length]!, s, publicKey), `signature ${i} is for its own payload`);
        });
      } finally {
        await p.close();
      }
    }
  }
});

it('packs bodies that share one allocation pool without mixing them up', async () => {
  // node:http hands out small bodies as views into a shared pool: views at offsets must be sent as their own bytes.
  const key = ecKey();
  const docs = Array.from({ length: 20 }, () => JSON.stringify(hashedRekordV1(key)));
  const slab = Buffer.from(docs.join(''));
  let at = 0;
  const views = docs.map((d) => {
    const v = slab.subarray(at, at + Buffer.byteLength(d));
    at += v.length;
    return v;
  });
  const got = await Promise.all(views.map((v) => pool.canonicalize(1, v)));
  const want = await Promise.all(docs.map((d) => inline.canonicalize(1, Buffer.from(d))));
  assert.deepEqual(got.map((e) => e.body.toString('hex')), want.map((e) => e.body.toString('hex')));
  assert.equal(slab.toString(), docs.join(''), 'the caller\'s buffer is untouched (copied, not transferred)');
});
