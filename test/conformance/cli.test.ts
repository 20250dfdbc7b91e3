/**
 * bin/conformance as the conformance suite runs it: a child process, exit 0 = success. verify-bundle on
 * the public-good bundle in both FILE_OR_DIGEST forms, and the failures the suite expects.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { buildMessageSignatureBundle } from '../../src/sigstore/bundle.js';
import { artifactFromArg, parseArgs } from '../../src/conformance/main.js';
import { readFixture } from '../sigstore/certificate-fixtures.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const bin = join(repo, 'bin', 'conformance');
const dir = mkdtempSync(join(tmpdir(), 'signet-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const bundle = join(dir, 'cosign.sigstore.json');
writeFileSync(bundle, readFixture('cosign-oci-attestation.sigstore.json'));
const root = join(dir, 'trusted_root.json');
writeFileSync(root, readFixture('trusted_root.json'));
const ID = 'cody@soyland.com';
const ISSUER = 'https://github.com/login/oauth';
const SUBJECT = '732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';

function run(...args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(bin, args, { cwd: dir, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

describe('bin/conformance verify-bundle', () => {
  it('DIGEST form: the subject digest verifies with the pinned public-good root and with --trusted-root', () => {
    assert.deepEqual(run('verify-bundle', '--bundle', bundle, '--certificate-identity', ID, '--certificate-oidc-issuer', ISSUER, `sha256:${SUBJECT}`), { code: 0, stderr: '' });
    assert.equal(run('verify-bundle', '--bundle', bundle, '--certificate-identity', ID, '--certificate-oidc-issuer', ISSUER, '--trusted-root', root, `sha256:${SUBJECT}`).code, 0);
  });

  it('wrong identity, wrong issuer, wrong artifact fail with a reason', () => {
    const wrongId = run('verify-bundle', '--bundle', bundle, '--certificate-identity', 'cody@soyland.co', '--certificate-oidc-issuer', ISSUER, `sha256:${SUBJECT}`);
    assert.notEqual(wrongId.code, 0);
    assert.match(wrongId.stderr, /identity policy/);
    const wrongIssuer = run('verify-bundle', '--bundle', bundle, '--certificate-identity', ID, '--certificate-oidc-issuer', 'https://accounts.google.com', `sha256:${SUBJECT}`);
    assert.notEqual(wrongIssuer.code, 0);
    assert.match(wrongIssuer.stderr, /issuer/);
    const wrongDigest = run('verify-bundle', '--bundle', bundle, '--certificate-identity', ID, '--certificate-oidc-issuer', ISSUER, `sha256:${'0'.repeat(64)}`);
    assert.notEqual(wrongDigest.code, 0);
    assert.match(wrongDigest.stderr, /subject/);
  });

  it('PATH form with a key-based bundle: the file is read, a wrong file fails, the log is required', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const data = Buffer.from('hello conformance');
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const b = buildMessageSignatureBundle({ digest: createHash('sha256').update(data).digest(), hashAlg: 'sha256', signature: sign('sha256', data, privateKey), publicKeyHint: createHash('sha256').update(spki).digest('base64') });
    const keyBundle = join(dir, 'key.sigstore.json');
    writeFileSync(keyBundle, b);
    const keyFile = join(dir, 'key.pub');
    writeFileSync(keyFile, publicKey.export({ format: 'pem', type: 'spki' }));
    const artifact = join(dir, 'a.txt');
    writeFileSync(artifact, data);
    // No log entry in this bundle: the engine demands one, as the suite does.
    const r = run('verify-bundle', '--bundle', keyBundle, '--key', keyFile, artifact);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /transparency log/);
  });

  it('usage errors: missing flags, both key and identity, unknown flags and commands', () => {
    assert.equal(run('verify-bundle', '--bundle', bundle, `sha256:${SUBJECT}`).code, 2);
    assert.equal(run('verify-bundle', '--bundle', bundle, '--key', 'k', '--certificate-identity', ID, '--certificate-oidc-issuer', ISSUER, `sha256:${SUBJECT}`).code, 2);
    assert.equal(run('verify-bundle', '--bundle', bundle, '--bogus', 'x', `sha256:${SUBJECT}`).code, 2);
    assert.equal(run('frobnicate').code, 2);
    assert.equal(run('verify-bundle', '--staging', '--bundle', bundle, '--certificate-identity', ID, '--certificate-oidc-issuer', ISSUER, `sha256:${SUBJECT}`).code, 2);
    assert.equal(run('sign-bundle', '--bundle', join(dir, 'out.json'), join(dir, 'a.txt')).code, 2);
  });
});

describe('conformance argument helpers', () => {
  it('sha256:<hex> is a digest only when no such path exists', async () => {
    const d = await artifactFromArg(`sha256:${SUBJECT}`);
    assert.ok('digest' in d && d.digest.toString('hex') === SUBJECT);
    const odd = join(dir, `sha256:${SUBJECT}`);
    writeFileSync(odd, 'a file with a digest-like name');
    const f = await artifactFromArg(odd);
    assert.ok('bytes' in f);
    await assert.rejects(artifactFromArg(join(dir, 'missing')), /missing/);
    await assert.rejects(artifactFromArg('sha256:abc'), /sha256:abc/);
  });

  it('flags: values, booleans, repeats refused', () => {
    const p = parseArgs(['--staging', '--bundle', 'b', '--key=k', 'f'], ['--staging', '--bundle', '--key']);
    assert.equal(p.flags.get('--staging'), true);
    assert.equal(p.flags.get('--key'), 'k');
    assert.deepEqual(p.positional, ['f']);
    assert.throws(() => parseArgs(['--bundle', 'a', '--bundle', 'b'], ['--bundle']), /twice/);
    assert.throws(() => parseArgs(['--bundle'], ['--bundle']), /needs a value/);
  });
});
