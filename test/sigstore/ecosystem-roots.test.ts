/**
 * Trusted roots as the Sigstore ecosystem publishes them (test/sigstore/fixtures/README.md): Sigstore's
 * staging root (a CT log key in PKCS#1, no operators) and the public-good root as sigstore-python embeds
 * it. Each parses, a staging bundle verifies against its root, the public-good root agrees with the one
 * Signet pins, and a log whose key Signet cannot use fails only the bundles that need it — with a
 * message that names it and says why — in the library and in bin/conformance.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSignetError } from '../../src/errors.js';
import { parseBundle } from '../../src/sigstore/bundle.js';
import { parseTrustedRoot, type TrustedRoot } from '../../src/sigstore/trustedroot.js';
import { publicGoodTrustedRootBytes } from '../../src/sigstore/tuf.js';
import { prepareTrust, verifyBundle } from '../../src/sigstore/verifier.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const fixture = (name: string): Buffer => readFileSync(join(repo, 'test', 'sigstore', 'fixtures', name));

const stagingBytes = fixture('trusted_root.staging.json');
/**
 * The conformance bundle's inclusion proof has no checkpoint, which Signet and sigstore-js both refuse
 * (differential.test.ts); without it the entry stands on its SET, which is what v0.1 bundles require.
 */
const stagingBundle = (() => {
  const doc = JSON.parse(fixture('a.txt.staging.sigstore.json').toString('utf8'));
  delete doc.verificationMaterial.tlogEntries[0].inclusionProof;
  return Buffer.from(JSON.stringify(doc));
})();
const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const DIGEST = Buffer.from(JSON.parse(stagingBundle.toString('utf8')).messageSignature.messageDigest.digest, 'base64');

/** The staging root with one change, through its JSON. */
function staging(patch: (doc: any) => void = () => {}): TrustedRoot {
  const doc = JSON.parse(stagingBytes.toString('utf8'));
  patch(doc);
  return parseTrustedRoot(JSON.stringify(doc));
}

function verifyStaging(root: TrustedRoot) {
  return verifyBundle(parseBundle(stagingBundle), { digest: DIGEST, hashAlg: 'sha256' }, prepareTrust(root), { identity: { identity: IDENTITY, issuer: ISSUER } });
}

describe("the ecosystem's trusted roots", () => {
  it('staging: parses whole, the PKCS#1 RSA CT log key included, and every log ID is its key hash', () => {
    const root = staging();
    assert.equal(root.unusable, undefined);
    assert.deepEqual(root.tlogs.map((l) => l.baseUrl), ['https://rekor.sigstage.dev', 'https://log2025-alpha1.rekor.sigstage.dev']);
    assert.equal(root.tlogs[0]!.operator, undefined);
    const trust = prepareTrust(root);
    assert.deepEqual(trust.ctlogs.map((l) => l.baseUrl), ['https://ctfe.sigstage.dev/test', 'https://ctfe.sigstage.dev/2022', 'https://ctfe.sigstage.dev/2022-2']);
    const rsa = trust.ctlogs[0]!;
    assert.equal(rsa.publicKey?.asymmetricKeyType, 'rsa');
    assert.equal(rsa.publicKey?.asymmetricKeyDetails?.modulusLength, 4096);
    // RFC 6962: the log ID is SHA-256 of the key's SubjectPublicKeyInfo — the PKCS#1 bytes were read as that key.
    for (const l of trust.ctlogs) assert.ok(createHash('sha256').update(l.publicKey!.export({ format: 'der', type: 'spki' })).digest().equals(l.logId), l.baseUrl);
    assert.equal(trust.cas.length, 1);
    assert.equal(trust.tsas.length, 1);
  });

  it('staging: the conformance suite\'s staging bundle verifies against it (SET, chain, SCT, identity)', () => {
    const r = verifyStaging(staging());
    assert.equal(r.tlogEntries, 1);
    assert.equal(r.identity?.issuer, ISSUER);
    assert.deepEqual(r.timestamps.map((t) => t.time.toISOString()), ['2023-06-16T14:12:05.000Z']);
  });

  it('public-good: the root sigstore-python ships parses, and everything in it is what Signet pins', () => {
    const published = parseTrustedRoot(fixture('trusted_root.public-good.json'));
    const pinned = parseTrustedRoot(publicGoodTrustedRootBytes());
    assert.equal(published.unusable, undefined);
    assert.equal(pinned.unusable, undefined);
    for (const l of published.tlogs) {
      const p = pinned.tlogs.find((x) => x.logId.equals(l.logId));
      assert.ok(p, `pinned root lacks ${l.baseUrl}`);
      assert.equal(p.baseUrl, l.baseUrl);
      assert.ok(p.spkiDer.equals(l.spkiDer));
      assert.deepEqual(p.validFor, l.validFor);
    }
    assert.deepEqual(published.certificateAuthorities, pinned.certificateAuthorities);
    assert.deepEqual(published.ctlogs, pinned.ctlogs);
    assert.deepEqual(published.timestampAuthorities, pinned.timestampAuthorities);
    assert.ok(pinned.tlogs.length >= published.tlogs.length);
  });

  it('a log Signet cannot use is skipped when the bundle does not need it', () => {
    const root = staging((d) => {
      d.ctlogs[0].publicKey.keyDetails = 'ML_DSA_65'; // ctfe.sigstage.dev/test
      d.ctlogs[1].publicKey.rawBytes = 'AAAA'; // ctfe.sigstage.dev/2022
      d.tlogs[1].publicKey.keyDetails = 'LMS_SHA256'; // log2025-alpha1
    });
    assert.deepEqual(root.unusable?.map((u) => [u.list, u.baseUrl]), [
      ['tlogs', 'https://log2025-alpha1.rekor.sigstage.dev'],
      ['ctlogs', 'https://ctfe.sigstage.dev/test'],
      ['ctlogs', 'https://ctfe.sigstage.dev/2022'],
    ]);
    assert.equal(verifyStaging(root).tlogEntries, 1);
  });

  it('a certificate authority Signet cannot read is skipped when the bundle does not need it, named when it does', () => {
    const broken = { uri: 'https://broken.example', certChain: { certificates: [{ rawBytes: Buffer.from('not a certificate').toString('base64') }] }, validFor: { start: '2020-01-01T00:00:00Z' } };
    assert.equal(verifyStaging(staging((d) => d.certificateAuthorities.unshift(broken))).tlogEntries, 1);
    assert.throws(
      () => verifyStaging(staging((d) => (d.certificateAuthorities = [broken]))),
      (e: unknown) => isSignetError(e, 'VERIFICATION') && /^certificate chain: .*certificate authority https:\/\/broken\.example.*(does not parse|truncated|not a DER)/.test((e as Error).message),
    );
  });

  it('the transparency log the bundle needs, unusable: the error names its log ID and why', () => {
    const root = staging((d) => {
      d.tlogs[0].publicKey.keyDetails = 'ML_DSA_87';
    });
    assert.throws(
      () => verifyStaging(root),
      (e: unknown) =>
        isSignetError(e, 'TLOG') &&
        (e as Error).message.includes('transparency log https://rekor.sigstage.dev (log ID 0y8wo8MtY5wrdiIFohx7sHeI5oKDpK5vQhGHI6G+pJY=)') &&
        /ML-DSA keys are not supported/.test((e as Error).message),
    );
  });

  it('the CT log the bundle\'s SCT needs, unusable: the error names the log and why', () => {
    const root = staging((d) => {
      d.ctlogs[2].publicKey.rawBytes = Buffer.from('not a key').toString('base64');
    });
    assert.throws(
      () => verifyStaging(root),
      (e: unknown) =>
        isSignetError(e, 'VERIFICATION') &&
        /^SCT: SCT is from CT log https:\/\/ctfe\.sigstage\.dev\/2022-2, which the trusted root lists with a key Signet cannot use: ctlogs\[2\]\.publicKey\.rawBytes is not a DER SubjectPublicKeyInfo$/.test((e as Error).message),
    );
  });
});

describe('bin/conformance verify-bundle with the staging root', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-ecosystem-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = join(dir, 'a.txt.staging.sigstore.json');
  writeFileSync(bundle, stagingBundle);
  const run = (root: string) =>
    spawnSync(join(repo, 'bin', 'conformance'), ['verify-bundle', '--staging', '--bundle', bundle, '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', ISSUER, '--trusted-root', root, `sha256:${DIGEST.toString('hex')}`], { cwd: dir, encoding: 'utf8' });

  it('verifies (exit 0, nothing on stderr)', () => {
    const root = join(dir, 'staging.json');
    writeFileSync(root, stagingBytes);
    const r = run(root);
    assert.deepEqual({ code: r.status, stderr: r.stderr }, { code: 0, stderr: '' });
  });

  it('with the needed log unusable: a non-zero exit and one line naming the log and why', () => {
    const doc = JSON.parse(stagingBytes.toString('utf8'));
    doc.tlogs[0].publicKey.rawBytes = 'AAAA';
    const root = join(dir, 'broken.json');
    writeFileSync(root, JSON.stringify(doc));
    const r = run(root);
    assert.notEqual(r.status, 0);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /transparency log https:\/\/rekor\.sigstage\.dev \(log ID 0y8wo8MtY5wrdiIFohx7sHeI5oKDpK5vQhGHI6G\+pJY=\).*rawBytes is not a DER SubjectPublicKeyInfo/);
  });
});
