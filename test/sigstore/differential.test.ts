/**
 * Differential tests: the same bundles through Signet's engine (verifier.ts) and @sigstore/verify, valid
 * and mutated (a byte flipped in every base64 field, every field dropped, material swapped between
 * bundles). The rule: Signet never accepts what sigstore-js rejects; where Signet is stricter, the case
 * is listed in STRICTER with the reason, so a new disagreement fails the test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot as TrustedRootProto } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { parseBundle } from '../../src/sigstore/bundle.js';
import { parseTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { prepareTrust, verifyBundle } from '../../src/sigstore/verifier.js';
import type { Artifact } from '../../src/sigstore/verify.js';
import { readFixture } from './certificate-fixtures.js';
import { BASE64, byteFlips, drops, leaves, withValue, type Json } from './json-mutations.js';

const rootBytes = readFixture('trusted_root.json');
const trust = prepareTrust(parseTrustedRoot(rootBytes));
const theirTrust = toTrustMaterial(TrustedRootProto.fromJSON(JSON.parse(rootBytes.toString('utf8'))));
const theirVerifier = new Verifier(theirTrust);

interface Case {
  name: string;
  bundle: Buffer;
  identity: string;
  issuer: string;
  /** Artifact bytes (message signatures) or nothing (DSSE: the statement names the artifact). */
  data?: Buffer;
  digest?: Artifact;
}

const cosign: Case = {
  name: 'cosign oci-attestation (v0.3, DSSE, Rekor v1 dsse entry)',
  bundle: readFixture('cosign-oci-attestation.sigstore.json'),
  identity: 'cody@soyland.com',
  issuer: 'https://github.com/login/oauth',
};
const conformanceA: Case = {
  name: 'conformance a.txt (v0.1, message signature, inclusion proof without checkpoint)',
  bundle: readFixture('conformance-a.txt.sigstore.json'),
  identity: 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main',
  issuer: 'https://token.actions.githubusercontent.com',
};
{
  const doc = JSON.parse(conformanceA.bundle.toString('utf8'));
  conformanceA.digest = { digest: Buffer.from(doc.messageSignature.messageDigest.digest, 'base64'), hashAlg: 'sha256' };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function ours(c: Case, bundle: Buffer): string {
  try {
    verifyBundle(parseBundle(bundle), c.data ? { bytes: c.data } : c.digest, trust, { identity: { identity: c.identity, issuer: c.issuer } });
    return 'ok';
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
}

function theirs(c: Case, bundle: Buffer): string {
  try {
    const b = bundleFromJSON(JSON.parse(bundle.toString('utf8')));
    // sigstore-js takes subjectAlternativeName as a regular expression: anchor and escape it.
    theirVerifier.verify(toSignedEntity(b, c.data), { subjectAlternativeName: `^${escapeRegex(c.identity)}$`, extensions: { issuer: c.issuer } });
    return 'ok';
  } catch (e) {
    return (e as Error).message || String(e);
  }
}







/** Text fields that are signed but not base64 (the checkpoint note, the payload type, integers as strings). */
function textEdits(doc: Json): Array<{ name: string; bundle: Buffer }> {
  const out: Array<{ name: string; bundle: Buffer }> = [];
  for (const { path, value } of leaves(doc)) {
    if (typeof value !== 'string' || BASE64.test(value)) continue;
    const last = String(path[path.length - 1]);
    if (/^\d+$/.test(value)) out.push({ name: `increment ${path.join('.')}`, bundle: withValue(doc, path, String(BigInt(value) + 1n)) });
    else if (last !== 'mediaType') out.push({ name: `edit ${path.join('.')}`, bundle: withValue(doc, path, value.replace(/[a-z]/, (ch) => (ch === 'a' ? 'b' : 'a'))) });
  }
  return out;
}

/**
 * Cases where sigstore-js accepts and Signet refuses, each with the reason Signet is right to
 * (mutation names of the cosign bundle).
 */
const STRICTER: Array<[RegExp, string]> = [
  [
    /^(flip byte \d+ of|drop) verificationMaterial\.tlogEntries\.0\.inclusionProof\.(rootHash|treeSize)$/,
    'sigstore-js proves inclusion against the checkpoint and never reads the proof\'s own rootHash and treeSize; ' +
      'protobuf-specs marks both REQUIRED and sigstore-go compares them with the checkpoint, so a bundle that contradicts itself is refused',
  ],
  [
    /^flip byte 0 of verificationMaterial\.certificate\.rawBytes$/,
    'the outer SEQUENCE tag of the certificate is unsigned framing; sigstore-js\'s DER reader ignores the tag, Signet refuses a non-DER certificate',
  ],
];

function stricterReason(name: string): string | undefined {
  return STRICTER.find(([re]) => re.test(name))?.[1];
}

function compare(c: Case, mutations: Array<{ name: string; bundle: Buffer }>): { looser: string[]; stricter: string[]; count: number } {
  const looser: string[] = [];
  const stricter: string[] = [];
  for (const m of mutations) {
    const a = ours(c, m.bundle);
    const b = theirs(c, m.bundle);
    if (a === 'ok' && b !== 'ok') looser.push(`${m.name}: sigstore-js says ${b}`);
    if (a !== 'ok' && b === 'ok' && !stricterReason(m.name)) stricter.push(`${m.name}: Signet says ${a}`);
  }
  return { looser, stricter, count: mutations.length };
}

describe('differential: Signet verifier vs @sigstore/verify', () => {
  it('agree on the valid public-good bundle, and on a wrong identity, issuer or artifact', () => {
    assert.equal(ours(cosign, cosign.bundle), 'ok');
    assert.equal(theirs(cosign, cosign.bundle), 'ok');
    for (const c of [
      { ...cosign, identity: 'cody@soyland.co' },
      { ...cosign, issuer: 'https://accounts.google.com' },
      { ...conformanceA, data: Buffer.from('not a.txt') },
    ]) {
      assert.notEqual(ours(c, c.bundle), 'ok');
      assert.notEqual(theirs(c, c.bundle), 'ok');
    }
  });

  it('agree on the v0.1 bundle whose inclusion proof has no checkpoint: both refuse it', () => {
    assert.match(ours(conformanceA, conformanceA.bundle), /TLOG: .*checkpoint/);
    assert.notEqual(theirs(conformanceA, conformanceA.bundle), 'ok');
  });

  const doc = JSON.parse(cosign.bundle.toString('utf8')) as Json;
  for (const [what, gen] of [
    ['a byte flipped in every base64 field', byteFlips],
    ['every field dropped', drops],
    ['every text and integer field edited', textEdits],
  ] as const) {
    it(`never accepts what sigstore-js refuses: ${what}`, () => {
      const muts = gen(doc);
      assert.ok(muts.length >= 5, `${muts.length} mutations`);
      const r = compare(cosign, muts);
      assert.deepEqual(r.looser, [], 'Signet accepted bundles sigstore-js refuses');
      assert.deepEqual(r.stricter, [], 'Signet refused bundles sigstore-js accepts (add to STRICTER with a reason if right)');
    });
  }

  it('material swapped between two bundles is refused by both', () => {
    const a = JSON.parse(cosign.bundle.toString('utf8'));
    const b = JSON.parse(conformanceA.bundle.toString('utf8'));
    const swaps: Array<{ name: string; bundle: Buffer }> = [];
    const leafB = b.verificationMaterial.x509CertificateChain.certificates[0];
    swaps.push({ name: 'certificate from the other bundle', bundle: Buffer.from(JSON.stringify({ ...a, verificationMaterial: { ...a.verificationMaterial, certificate: leafB } })) });
    swaps.push({ name: 'tlog entry from the other bundle', bundle: Buffer.from(JSON.stringify({ ...a, verificationMaterial: { ...a.verificationMaterial, tlogEntries: b.verificationMaterial.tlogEntries } })) });
    swaps.push({ name: 'both tlog entries', bundle: Buffer.from(JSON.stringify({ ...a, verificationMaterial: { ...a.verificationMaterial, tlogEntries: [...a.verificationMaterial.tlogEntries, ...b.verificationMaterial.tlogEntries] } })) });
    swaps.push({ name: 'the same tlog entry twice', bundle: Buffer.from(JSON.stringify({ ...a, verificationMaterial: { ...a.verificationMaterial, tlogEntries: [a.verificationMaterial.tlogEntries[0], a.verificationMaterial.tlogEntries[0]] } })) });
    swaps.push({ name: 'signature from the other bundle', bundle: Buffer.from(JSON.stringify({ ...a, dsseEnvelope: { ...a.dsseEnvelope, signatures: [{ sig: b.messageSignature.signature }] } })) });
    for (const s of swaps) {
      assert.notEqual(ours(cosign, s.bundle), 'ok', s.name);
      assert.notEqual(theirs(cosign, s.bundle), 'ok', s.name);
    }
  });
});
