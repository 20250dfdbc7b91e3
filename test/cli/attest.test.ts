/**
 * `attest-blob` and `verify-blob-attestation` as users run them: keyed and keyless (against a real
 * `signet serve --dev-oidc`), every refusal one line with a non-zero exit and nothing written, and a
 * public-good attestation bundle made by cosign verified offline by its digest.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { encryptPrivateKey, generateKeyPair } from '../../src/keys/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { devToken } from '../helpers/dev-token.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PUBLIC_GOOD_BUNDLE = join(ROOT, 'test', 'sigstore', 'fixtures-public-good', 'cosign-oci-attestation.sigstore.json');
/** The subject digest of that attestation (an image cosign's e2e test pushed), its signer and issuer. */
const PG_DIGEST = '732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';
const PG_ID = ['--certificate-identity', 'cody@soyland.com', '--certificate-oidc-issuer', 'https://github.com/login/oauth'];
const COSIGN_FIXTURES = join(ROOT, 'test', 'cosign', 'fixtures-cosign');

let srv: RunningServer;
const dir = mkdtempSync(join(tmpdir(), 'signet-attest-cli-'));
const env = { SIGNET_HOME: join(dir, 'home'), SIGSTORE_ID_TOKEN: undefined, ACTIONS_ID_TOKEN_REQUEST_URL: undefined, COSIGN_PASSWORD: 'pw' };
let n = 0;
const file = (name: string): string => join(dir, `${++n}-${name}`);
const artifact = join(dir, 'app.tar.gz');
const predicate = join(dir, 'result.json');
const key = join(dir, 'cosign.key');
const pub = join(dir, 'cosign.pub');

/** One "Error: …" line on stderr, matching `re`, and the exit code. */
function refused(r: CliResult, exit: number, re: RegExp): void {
  assert.equal(r.code, exit, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, re);
}

before(async () => {
  srv = await startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true });
  writeFileSync(artifact, `an artifact ${Date.now()}\n`);
  writeFileSync(predicate, '{"result":"pass","tests":3}');
  const kp = generateKeyPair('ecdsa-p256');
  writeFileSync(key, encryptPrivateKey(kp.privateKey, Buffer.from('pw'), { N: 32768 }));
  writeFileSync(pub, kp.publicKey.export({ type: 'spki', format: 'pem' }));
});
after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('attest-blob / verify-blob-attestation with a key', () => {
  const verify = (bundle: string, extra: string[], target: string[] = [artifact]): Promise<CliResult> =>
    runCli(['verify-blob-attestation', '--key', pub, '--insecure-ignore-tlog', '--bundle', bundle, ...extra, ...target], { env });

  test('round trip: the envelope on stdout, the bundle written; verified for the file and its digest', async () => {
    const bundle = file('att.json');
    let r = await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--predicate', predicate, '--type', 'https://example.com/test-result/v1', '--bundle', bundle, artifact], { env });
    assert.equal(r.code, 0, r.stderr);
    const printed = r.stdout;
    const envelope = JSON.parse(printed);
    assert.equal(envelope.payloadType, 'application/vnd.in-toto+json');
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString());
    assert.equal(statement.subject[0].name, 'app.tar.gz');
    assert.deepEqual(statement.predicate, { result: 'pass', tests: 3 });
    assert.equal(JSON.parse(readFileSync(bundle, 'utf8')).dsseEnvelope.payload, envelope.payload);

    r = await verify(bundle, ['--type', 'https://example.com/test-result/v1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Verified OK/);
    const digest = createHash('sha256').update(readFileSync(artifact)).digest('hex');
    r = await verify(bundle, ['--type', 'https://example.com/test-result/v1', '--digest', digest, '--digestAlg', 'sha256'], []);
    assert.equal(r.code, 0, r.stderr);

    // The envelope alone (as printed) verifies too.
    const sig = file('envelope.json');
    writeFileSync(sig, printed);
    r = await runCli(['verify-blob-attestation', '--key', pub, '--insecure-ignore-tlog', '--signature', sig, '--type', 'https://example.com/test-result/v1', artifact], { env });
    assert.equal(r.code, 0, r.stderr);
  });

  test('refused, one line each: another type (listing the type found), another file, another digest, a tampered payload', async () => {
    const bundle = file('att.json');
    const r0 = await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--predicate', predicate, '--type', 'vuln', '--bundle', bundle, artifact], { env });
    assert.equal(r0.code, 0, r0.stderr);
    refused(await verify(bundle, ['--type', 'slsaprovenance1']), 1, /^Error: none of the attestations matched the predicate type: slsaprovenance1, found: https:\/\/cosign\.sigstore\.dev\/attestation\/vuln\/v1$/);
    refused(await verify(bundle, []), 1, /none of the attestations matched the predicate type: custom, found: /);
    const other = file('other.txt');
    writeFileSync(other, 'not the artifact\n');
    refused(await verify(bundle, ['--type', 'vuln'], [other]), 1, /does not match any subject/);
    refused(await verify(bundle, ['--type', 'vuln', '--digest', '00'.repeat(32)], []), 1, /does not match any subject/);
    const doc = JSON.parse(readFileSync(bundle, 'utf8'));
    const st = JSON.parse(Buffer.from(doc.dsseEnvelope.payload, 'base64').toString());
    st.predicate.scanner = { uri: 'forged' };
    doc.dsseEnvelope.payload = Buffer.from(JSON.stringify(st)).toString('base64');
    const tampered = file('tampered.json');
    writeFileSync(tampered, JSON.stringify(doc));
    refused(await verify(tampered, ['--type', 'vuln']), 1, /signature/);
  });

  test('a statement file naming another subject is signed as it is, and refused at verification', async () => {
    const statement = file('statement.json');
    writeFileSync(statement, JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'app.tar.gz', digest: { sha256: 'ab'.repeat(32) } }], predicateType: 'https://openvex.dev/ns', predicate: {} }));
    const bundle = file('att.json');
    const r = await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--statement', statement, '--type', 'spdx', '--bundle', bundle, artifact], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /WARNING: --type spdx is ignored with --statement: the statement's predicate type is https:\/\/openvex\.dev\/ns/);
    refused(await verify(bundle, ['--type', 'openvex']), 1, /does not match any subject/);
    assert.equal((await verify(bundle, ['--type', 'openvex', '--check-claims=false'], [])).code, 0);
  });

  test('usage errors exit 2 before anything is signed or written', async () => {
    const bundle = file('att.json');
    refused(await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--bundle', bundle, artifact], { env }), 2, /one of --predicate or --statement must be set/);
    refused(await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--predicate', predicate, '--statement', predicate, '--bundle', bundle, artifact], { env }), 2, /one of --predicate or --statement/);
    refused(await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--predicate', predicate, '--type', 'slsa', '--bundle', bundle, artifact], { env }), 2, /invalid predicate type "slsa"/);
    refused(await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--predicate', predicate, artifact], { env }), 2, /must specify --bundle/);
    refused(await runCli(['attest-blob', '--key', key, '--predicate', predicate, '--bundle', bundle, artifact], { env }), 2, /no transparency log is configured/);
    refused(await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--predicate', predicate, '--hash', 'xyz', '--bundle', bundle, artifact], { env }), 2, /not a sha256 hex digest/);
    refused(await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--new-bundle-format=false', '--predicate', predicate, '--timestamp-server-url', srv.url + '/api/v1/timestamp', '--bundle', bundle, artifact], { env }), 2, /legacy attestation bundle has no place for an RFC 3161 timestamp/);
    assert.equal(existsSync(bundle), false);
    refused(await runCli(['verify-blob-attestation', '--key', pub, '--insecure-ignore-tlog', '--bundle', bundle], { env }), 2, /needs the artifact/);
  });

  test('with Rekor v1: the dsse entry is verified offline against the trusted root', async () => {
    const bundle = file('att.json');
    let r = await runCli(['attest-blob', '--key', key, '--rekor-url', srv.url, '--predicate', predicate, '--bundle', bundle, '--output-signature', file('sig.json'), artifact], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /tlog entry created with index: \d+/);
    assert.equal(r.stdout, '');
    r = await runCli(['verify-blob-attestation', '--key', pub, '--trusted-root', srv.trustedRootPath, '--bundle', bundle, artifact], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /tlog entry verified offline/);
    refused(await runCli(['verify-blob-attestation', '--key', pub, '--bundle', bundle, artifact], { env }), 1, /no trusted root/);
  });
});

describe('attest-blob / verify-blob-attestation keyless', () => {
  const issuer = (): string => srv.url + '/oidc';
  test('signed under the dev issuer; verified for the identity, refused for another and for another file', async () => {
    const token = await devToken(srv.url, 'alice@example.com');
    const bundle = file('att.json');
    let r = await runCli(['attest-blob', '--signing-config', srv.signingConfigPath, '--identity-token', token, '--predicate', predicate, '--type', 'cyclonedx', '--bundle', bundle, artifact], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const v = (id: string, target = artifact): Promise<CliResult> =>
      runCli(['verify-blob-attestation', '--trusted-root', srv.trustedRootPath, '--certificate-identity', id, '--certificate-oidc-issuer', issuer(), '--type', 'cyclonedx', '--use-signed-timestamps', '--bundle', bundle, target], { env });
    r = await v('alice@example.com');
    assert.equal(r.code, 0, r.stderr);
    refused(await v('bob@example.com'), 1, /identity/);
    const other = file('other.txt');
    writeFileSync(other, 'x');
    refused(await v('alice@example.com', other), 1, /subject/);
  });
});

describe('a public-good attestation made by cosign, verified offline by digest', () => {
  const v = (extra: string[]): Promise<CliResult> => runCli(['verify-blob-attestation', '--bundle', PUBLIC_GOOD_BUNDLE, ...extra], { env });
  test('verifies with its identity, digest and type; fails for another identity, digest or type', async () => {
    const r = await v([...PG_ID, '--digest', PG_DIGEST, '--digestAlg', 'sha256']);
    assert.equal(r.code, 0, r.stderr);
    refused(await v(['--certificate-identity', 'mallory@soyland.com', '--certificate-oidc-issuer', 'https://github.com/login/oauth', '--digest', PG_DIGEST]), 1, /identity/);
    refused(await v([...PG_ID, '--digest', PG_DIGEST.replace(/^7/, '8')]), 1, /does not match any subject/);
    refused(await v([...PG_ID, '--digest', PG_DIGEST, '--type', 'slsaprovenance']), 1, /matched the predicate type: slsaprovenance, found: https:\/\/cosign\.sigstore\.dev\/attestation\/v1$/);
  });
});

describe('cosign\'s own blob attestation test data (DSSE envelopes and their key)', () => {
  const fx = (name: string): string => join(COSIGN_FIXTURES, name);
  const v = (envelope: string, type: string, blob = fx('some-payload')): Promise<CliResult> =>
    runCli(['verify-blob-attestation', '--key', fx('blob-attestation.pub'), '--insecure-ignore-tlog', '--signature', fx(`${envelope}.dsse.json`), '--type', type, blob], { env });
  test('the envelopes naming the blob verify as slsaprovenance; the others, another type and another blob fail', async () => {
    for (const ok of ['slsa-provenance', 'multiple-subjects']) {
      const r = await v(ok, 'slsaprovenance');
      assert.equal(r.code, 0, `${ok}: ${r.stderr}`);
    }
    refused(await v('slsa-provenance', 'custom'), 1, /predicate type: custom, found: https:\/\/slsa\.dev\/provenance\/v0\.2$/);
    refused(await v('slsa-provenance', 'slsaprovenance', predicate), 1, /does not match any subject/);
    refused(await v('empty-subject', 'slsaprovenance'), 1, /no subjects/);
    refused(await v('missing-sha256', 'slsaprovenance'), 1, /does not match any subject/);
    refused(await v('multiple-subjects-invalid', 'slsaprovenance'), 1, /does not match any subject/);
  });
});

test('--help of both commands shows examples', async () => {
  for (const cmd of ['attest-blob', 'verify-blob-attestation']) {
    const r = await runCli([cmd, '--help'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Examples:\n {2}signet /);
  }
});
