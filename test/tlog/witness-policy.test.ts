/** Witness policies (Sigsum's format with C2SP vkeys): parsing, quorum rules, and clear errors. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { cosignatureLine, cosignerVkey } from '../../src/tlog/cosignature.js';
import { checkWitnessPolicy, parseWitnessPolicy } from '../../src/tlog/witness-policy.js';
import { signCheckpoint } from '../../src/tlog/index.js';

const logKey = generateKeyPairSync('ed25519');
const w = ['a', 'b', 'c'].map((n) => ({ name: `w.test/${n}`, key: generateKeyPairSync('ed25519') }));
const text = 'log.test\n5\n' + Buffer.alloc(32, 1).toString('base64') + '\n';
const note = signCheckpoint({ origin: 'log.test', size: 5, rootHash: Buffer.alloc(32, 1) }, 'log.test', logKey.privateKey);
const cosigned = (...idx: number[]): string => note + idx.map((i) => cosignatureLine(text, w[i]!.name, w[i]!.key.privateKey, 1700000000)).join('');

const policy = (q: string): string => `# test policy
log 0000000000000000000000000000000000000000000000000000000000000000
witness A ${cosignerVkey(w[0]!.name, w[0]!.key.privateKey)} https://a.example
witness B ${cosignerVkey(w[1]!.name, w[1]!.key.privateKey)}
witness C ${cosignerVkey(w[2]!.name, w[2]!.key.privateKey)}
group two-of-three 2 A B C
group a-and-b all A B
group anyone any A B C
quorum ${q}
`;

describe('witness policy', () => {
  test('quorum rules: K of N, all, any, a single witness, none', () => {
    const cases: Array<[string, number[], boolean]> = [
      ['two-of-three', [0, 2], true],
      ['two-of-three', [1], false],
      ['a-and-b', [0, 1], true],
      ['a-and-b', [0, 2], false],
      ['anyone', [2], true],
      ['anyone', [], false],
      ['B', [1], true],
      ['B', [0], false],
      ['none', [], true],
    ];
    for (const [q, signers, ok] of cases) {
      const r = checkWitnessPolicy(cosigned(...signers), parseWitnessPolicy(policy(q)));
      assert.equal(r.ok, ok, `${q} with ${signers.join(',')}`);
      assert.deepEqual(r.cosignedBy.sort(), signers.map((i) => 'ABC'[i]!).sort());
    }
  });

  test('a forged cosignature by a policy witness rejects the checkpoint', () => {
    const forged = note + cosignatureLine(text.replace('\n5\n', '\n6\n'), w[0]!.name, w[0]!.key.privateKey, 1700000000);
    assert.throws(() => checkWitnessPolicy(forged, parseWitnessPolicy(policy('A'))), /invalid cosignature/);
  });

  test('a raw hex key names the witness by its local name', () => {
    const raw = w[0]!.key.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('hex');
    const p = parseWitnessPolicy(`witness w.test/a ${raw}\nquorum w.test/a\n`);
    assert.equal(checkWitnessPolicy(cosigned(0), p).ok, true);
  });

  test('malformed policies: one clear line naming the line', () => {
    const vk = cosignerVkey(w[0]!.name, w[0]!.key.privateKey);
    const bad: Array<[string, RegExp]> = [
      ['witness A\nquorum A', /line 1: expected: witness NAME KEY/],
      [`witness A ${vk}\nwitness A ${vk}\nquorum A`, /line 2: "A" is defined twice/],
      [`witness A ${vk}\ngroup G 2 A\nquorum G`, /line 2: group G needs 2 of only 1 members/],
      [`witness A ${vk}\ngroup G any A X\nquorum G`, /line 2: group G: "X" is not defined above/],
      [`witness A ${vk}\nquorum B`, /line 2: quorum "B" is not defined above/],
      [`witness A ${vk}`, /no quorum line/],
      [`witness A ${vk}\nquorum A\nquorum A`, /line 3: quorum is set twice/],
      ['frobnicate x\nquorum none', /line 1: unknown keyword "frobnicate"/],
      ['witness A w+00000000+AAAA\nquorum A', /line 1: verifier key/],
      ['witness none 00\nquorum none', /line 1: "none" is predefined/],
    ];
    for (const [text, re] of bad) assert.throws(() => parseWitnessPolicy(text), re, text);
  });
});
