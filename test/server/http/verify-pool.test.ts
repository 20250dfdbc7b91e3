/** The verification pool gives exactly the inline verdicts: same canonical bytes, same errors. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, it } from 'node:test';
import { SignetError } from '../../../src/errors.js';
import { HttpError } from '../../../src/server/http/router.js';
import { inlineVerifier, verifierPool } from '../../../src/server/http/verify-pool.js';
import { verifyBytes } from '../../../src/tlog/sig.js';
import { ecKey, hashedRekordV1 } from '../../rekor/fixtures.js';

const pool = verifierPool(2);
const inline = inlineVerifier();
after(() => pool.close());

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
  const good = Array.from({ length: 40 }, () => JSON.stringify(hashedRekordV1(key)));
  const tampered = good.slice(0, 5).map((b) => {
    const d = JSON.parse(b) as { spec: { data: { hash: { value: string } } } };
    d.spec.data.hash.value = d.spec.data.hash.value.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    return JSON.stringify(d);
  });
  const inputs: Array<[1 | 2, string]> = [
    ...good.map((b) => [1, b] as [1, string]),
    ...tampered.map((b) => [1, b] as [1, string]),
    [1, '{not json'],
    [1, '[]'],
    [1, '{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{}}'],
    [2, '{}'],
    [2, '"x"'],
  ];
  const viaPool = await Promise.all(inputs.map(([api, b]) => outcome(pool, api, Buffer.from(b))));
  const viaInline = await Promise.all(inputs.map(([api, b]) => outcome(inline, api, Buffer.from(b))));
  assert.deepEqual(viaPool, viaInline);
  for (let i = 0; i < good.length; i++) assert.ok((viaPool[i] as { body?: string }).body, `entry ${i} accepted`);
  for (let i = good.length; i < good.length + tampered.length; i++) assert.equal((viaPool[i] as { code?: string }).code, 'VERIFICATION');
  assert.deepEqual(viaPool[good.length + tampered.length], { http: 400, message: 'request body is not valid JSON' });
});

it('refuses work after close', async () => {
  const p = verifierPool(1);
  await p.close();
  await assert.rejects(p.canonicalize(1, Buffer.from('{}')), /shutting down/);
});

it('signs with the log key in the workers (ECDSA P-256 and Ed25519), and offers no signing without a key', async () => {
  assert.equal(pool.sign, undefined);
  for (const type of ['ec', 'ed25519'] as const) {
    const { privateKey, publicKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
    const p = verifierPool(2, { signingKey: privateKey });
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
