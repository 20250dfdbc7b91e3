/**
 * `signet attest`, `verify-attestation`, `download attestation`, `attach attestation` and the
 * attachment commands on `.att`, as a user runs them against the real docker-registry: cosign's output
 * shapes, one-line errors with cosign's exit codes, and nothing pushed by a failed command.
 */
import assert from 'node:assert/strict';
import { sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encryptPrivateKey, generateKeyPair, publicKeyInfo } from '../../src/keys/index.js';
import { RegistryClient, type Repo } from '../../src/oci/index.js';
import { attachmentTag, parseImageManifest } from '../../src/cosign/storage.js';
import { pushIndex, pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { runCli } from '../helpers/cli.js';
import { devToken } from '../helpers/dev-token.js';

let reg: RunningRegistry;
let client: RegistryClient;
const dir = mkdtempSync(join(tmpdir(), 'signet-attest-cli-'));
const keys = generateKeyPair('ecdsa-p256');
const keyFile = join(dir, 'cosign.key');
const pubFile = join(dir, 'cosign.pub');
const otherPub = join(dir, 'other.pub');
const predicate = join(dir, 'provenance.json');
const env = { COSIGN_PASSWORD: 'pw' };
let n = 0;
const SLSA1 = 'https://slsa.dev/provenance/v1';

const errorLines = (stderr: string) => stderr.trim().split('\n').filter((l) => l.startsWith('Error'));

async function freshImage(): Promise<{ repo: Repo; digest: string; ref: string; tagged: string }> {
  const repo = { registry: reg.host, repository: `attestcli/app${++n}` };
  const img = await pushRandomImage(client, repo, 'v1');
  return { repo, digest: img.digest, ref: `${repo.registry}/${repo.repository}@${img.digest}`, tagged: `${repo.registry}/${repo.repository}:v1` };
}

async function nothingPushed(img: { repo: Repo; digest: string }): Promise<void> {
  assert.equal((await client.referrers(img.repo, img.digest)).manifests.length, 0, 'no referrer pushed');
  assert.equal(await client.headManifest(img.repo, attachmentTag(img.digest, 'att')), null, 'no .att pushed');
}

const attest = (args: string[]) => runCli(['attest', '--key', keyFile, '--tlog-upload=false', ...args], { env });
const verifyAtt = (args: string[]) => runCli(['verify-attestation', '--key', pubFile, '--insecure-ignore-tlog', ...args], { env });

before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({});
  writeFileSync(keyFile, encryptPrivateKey(keys.privateKey, Buffer.from('pw'), { N: 32768 }));
  writeFileSync(pubFile, publicKeyInfo(keys.publicKey).pem);
  writeFileSync(otherPub, publicKeyInfo(generateKeyPair('ecdsa-p256').publicKey).pem);
  writeFileSync(predicate, JSON.stringify({ buildDefinition: { buildType: 'https://example.com/b/v1' }, runDetails: { builder: { id: 'https://example.com/builder' } } }));
});
after(async () => {
  await client.close();
  await reg.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('attest and verify-attestation', () => {
  for (const newFormat of [true, false]) {
    test(`${newFormat ? 'new format' : 'legacy'}: one envelope per line on stdout, -o text a summary, the checks on stderr`, async () => {
      const img = await freshImage();
      const a = await attest([`--new-bundle-format=${newFormat}`, '--predicate', predicate, '--type', 'slsaprovenance1', img.tagged]);
      assert.equal(a.code, 0, a.stderr);
      assert.match(a.stderr, /Resolved .* attesting the digest/);
      assert.match(a.stderr, /Pushed attestation for/);
      const v = await verifyAtt(['--type', 'slsaprovenance1', img.tagged]);
      assert.equal(v.code, 0, v.stderr);
      const lines = v.stdout.trim().split('\n');
      assert.equal(lines.length, 1);
      const env0 = JSON.parse(lines[0]!);
      assert.equal(env0.payloadType, 'application/vnd.in-toto+json');
      assert.equal(env0.signatures.length, 1);
      const statement = JSON.parse(Buffer.from(env0.payload, 'base64').toString());
      assert.equal(statement.predicateType, SLSA1);
      assert.equal(statement.subject[0].digest.sha256, img.digest.slice(7));
      assert.match(v.stderr, /Verification for .* --/);
      assert.match(v.stderr, /verified against the specified public key/);
      const t = await verifyAtt(['--type', 'slsaprovenance1', '-o', 'text', img.ref]);
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, new RegExp(`predicate type: ${SLSA1.replace(/[./]/g, '\\$&')}`));
      assert.match(t.stdout, /signed by:\s+the given key/);
      assert.match(t.stdout, new RegExp(`subject:\\s+${img.repo.registry}/${img.repo.repository}@${img.digest}`));
    });
  }

  test('exit codes: no attestations 10, missing image 11, wrong key 12, wrong type 1 listing the types found, usage 2; one error line each', async () => {
    const img = await freshImage();
    const none = await verifyAtt([img.ref]);
    assert.equal(none.code, 10, none.stderr);
    assert.equal(errorLines(none.stderr).length, 1);
    const missing = await verifyAtt([`${img.repo.registry}/${img.repo.repository}:nope`]);
    assert.equal(missing.code, 11, missing.stderr);
    assert.equal((await attest(['--predicate', predicate, img.ref])).code, 0);
    // An image with an attestation but no signature: verify finds no signatures (10), as cosign; the
    // attestation's bundle is not a signature that failed (12).
    const unsigned = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', img.ref], { env });
    assert.equal(unsigned.code, 10, unsigned.stderr);
    const wrongKey = await runCli(['verify-attestation', '--key', otherPub, '--insecure-ignore-tlog', img.ref], { env });
    assert.equal(wrongKey.code, 12, wrongKey.stderr);
    assert.equal(errorLines(wrongKey.stderr).length, 1);
    const wrongType = await verifyAtt(['--type', 'cyclonedx', img.ref]);
    assert.equal(wrongType.code, 1);
    assert.match(wrongType.stderr, /none of the attestations matched the predicate type: cyclonedx, found: https:\/\/cosign\.sigstore\.dev\/attestation\/v1/);
    assert.equal(errorLines(wrongType.stderr).length, 1);
    const usage = await runCli(['verify-attestation', img.ref], { env });
    assert.equal(usage.code, 2);
    // Policies: a CEL policy that holds, one that does not (its file named), and one that does not parse.
    writeFileSync(join(dir, 'good.cel'), 'statement._type.startsWith("https://in-toto.io/Statement/") && predicateType == "https://cosign.sigstore.dev/attestation/v1"\n');
    writeFileSync(join(dir, 'bad.cel'), 'predicateType == "https://slsa.dev/provenance/v1"\n');
    writeFileSync(join(dir, 'broken.cel'), 'predicateType ==\n');
    const good = await verifyAtt(['--policy', join(dir, 'good.cel'), img.ref]);
    assert.equal(good.code, 0, good.stderr);
    const bad = await verifyAtt(['--policy', join(dir, 'good.cel'), '--policy', join(dir, 'bad.cel'), img.ref]);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /bad\.cel/);
    assert.doesNotMatch(bad.stdout, /payload/, 'nothing printed as verified when a policy fails');
    const broken = await verifyAtt(['--policy', join(dir, 'broken.cel'), img.ref]);
    assert.notEqual(broken.code, 0);
    assert.match(broken.stderr, /broken\.cel/);
    assert.equal(errorLines(broken.stderr).length, 1);
  });

  test('bad inputs push nothing: no --predicate, a missing or invalid predicate file, a wrong password, an unknown type', async () => {
    const img = await freshImage();
    let r = await attest([img.ref]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /predicate cannot be empty/);
    r = await attest(['--predicate', join(dir, 'absent.json'), img.ref]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /absent\.json/);
    assert.equal(errorLines(r.stderr).length, 1);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"buildDefinition": {}}');
    r = await attest(['--predicate', bad, '--type', 'slsaprovenance1', img.ref]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /runDetails/);
    r = await runCli(['attest', '--key', keyFile, '--tlog-upload=false', '--predicate', predicate, img.ref], { env: { COSIGN_PASSWORD: 'wrong' } });
    assert.notEqual(r.code, 0);
    r = await attest(['--predicate', predicate, '--type', 'slsa', img.ref]);
    assert.equal(r.code, 2);
    r = await attest(['--predicate', predicate, '--new-bundle-format=false', '--type', 'slsaprovenance1', `${img.repo.registry}/${img.repo.repository}:nope`]);
    assert.equal(r.code, 11);
    await nothingPushed(img);
  });

  test('a .att layer that is not a DSSE envelope: a clear one-line error', async () => {
    const img = await freshImage();
    const junk = join(dir, 'junk.json');
    writeFileSync(junk, '{"not":"an envelope"}');
    const r = await runCli(['attach', 'attestation', '--attestation', junk, img.ref]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /payloadType/);
    await nothingPushed(img);
  });
});

describe('download, attach, tree, triangulate, clean', () => {
  test('download attestation prints bundles then envelopes, filtered by --predicate-type and --platform', async () => {
    const img = await freshImage();
    assert.equal((await attest(['--predicate', predicate, '--type', 'slsaprovenance1', img.ref])).code, 0);
    assert.equal((await attest(['--new-bundle-format=false', '--predicate', predicate, img.ref])).code, 0);
    let d = await runCli(['download', 'attestation', img.ref]);
    assert.equal(d.code, 0, d.stderr);
    const lines = d.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.equal(lines[0].mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.deepEqual(Object.keys(lines[1]), ['payloadType', 'payload', 'signatures']);
    const tr = await runCli(['tree', img.ref]);
    assert.match(tr.stdout, /application\/vnd\.dev\.sigstore\.bundle\.v0\.3\+json \(https:\/\/slsa\.dev\/provenance\/v1\)/);
    d = await runCli(['download', 'attestation', '--predicate-type', 'custom', img.ref]);
    assert.equal(d.stdout.trim().split('\n').length, 1);
    d = await runCli(['download', 'attestation', '--predicate-type', 'cyclonedx', img.ref]);
    assert.equal(d.code, 10);

    const repo = { registry: reg.host, repository: `attestcli/multi${++n}` };
    const idx = await pushIndex(client, repo, 'v1');
    assert.equal((await attest(['-r', '--new-bundle-format=false', '--predicate', predicate, `${repo.registry}/${repo.repository}:v1`])).code, 0);
    d = await runCli(['download', 'attestation', '--platform', 'linux/arm64', `${repo.registry}/${repo.repository}:v1`]);
    assert.equal(d.code, 0, d.stderr);
    const st = JSON.parse(Buffer.from(JSON.parse(d.stdout.trim()).payload, 'base64').toString());
    assert.equal(st.subject[0].digest.sha256, idx.images[1]!.digest.slice(7));
    d = await runCli(['download', 'attestation', '--platform', 'linux/s390x', `${repo.registry}/${repo.repository}:v1`]);
    assert.equal(d.code, 11);
  });

  test('attach attestation: an envelope made by test code lands as a .att layer that verify-attestation accepts; tree, triangulate and clean see it', async () => {
    const img = await freshImage();
    const payload = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'x', digest: { sha256: img.digest.slice(7) } }], predicateType: 'https://example.com/scan/v1', predicate: { ok: true } }));
    const type = 'application/vnd.in-toto+json';
    const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} ${type} ${payload.length} `), payload]);
    const envelope = JSON.stringify({ payloadType: type, payload: payload.toString('base64'), signatures: [{ keyid: '', sig: cryptoSign('sha256', pae, keys.privateKey).toString('base64') }] });
    const file = join(dir, 'envelope.json');
    writeFileSync(file, envelope);
    const a = await runCli(['attach', 'attestation', '--attestation', file, img.tagged]);
    assert.equal(a.code, 0, a.stderr);
    const layer = parseImageManifest((await client.getManifest(img.repo, attachmentTag(img.digest, 'att'))).bytes).layers[0]!;
    assert.equal(layer.mediaType, 'application/vnd.dsse.envelope.v1+json');
    assert.equal(layer.annotations?.predicateType, 'https://example.com/scan/v1');
    const v = await verifyAtt(['--type', 'https://example.com/scan/v1', img.ref]);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout.trim(), envelope);

    const tri = await runCli(['triangulate', '--type', 'attestation', img.tagged]);
    assert.equal(tri.stdout.trim(), `${img.repo.registry}/${img.repo.repository}:${attachmentTag(img.digest, 'att')}`);
    const tr = await runCli(['tree', img.ref]);
    assert.match(tr.stdout, /Attestations for an image tag: .*\.att/);
    const cl = await runCli(['clean', '--type', 'attestation', '-f', img.ref]);
    assert.equal(cl.code, 0, cl.stderr);
    assert.equal(await client.headManifest(img.repo, attachmentTag(img.digest, 'att')), null);
  });
});

describe('keyless and GitHub Actions', () => {
  let srv: RunningServer;
  before(async () => {
    srv = await startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true });
  });
  after(async () => {
    await srv.close();
  });

  test('keyless attest through signet serve; verify-attestation by identity, -o text names the signer; another identity exits 12', async () => {
    const img = await freshImage();
    const token = await devToken(srv.url, 'dana@example.com');
    const keylessEnv = { SIGNET_HOME: join(dir, 'home'), SIGSTORE_ID_TOKEN: undefined, ACTIONS_ID_TOKEN_REQUEST_URL: undefined };
    for (const fmt of ['true', 'false']) {
      const a = await runCli(['attest', '--signing-config', srv.signingConfigPath, '--identity-token', token, `--new-bundle-format=${fmt}`, '--predicate', predicate, '--type', 'slsaprovenance1', img.ref], { env: keylessEnv });
      assert.equal(a.code, 0, a.stderr);
    }
    const args = (who: string) => ['verify-attestation', '--trusted-root', srv.trustedRootPath, '--insecure-ignore-sct', '--certificate-identity', who, '--certificate-oidc-issuer', srv.url + '/oidc', '--type', 'slsaprovenance1'];
    const v = await runCli([...args('dana@example.com'), '-o', 'text', img.ref], { env: keylessEnv });
    assert.equal(v.code, 0, v.stderr);
    assert.equal((v.stdout.match(/signed by:\s+dana@example\.com/g) ?? []).length, 2, v.stdout);
    assert.match(v.stdout, /bundle referrer/);
    assert.match(v.stdout, /legacy \.att/);
    const wrong = await runCli([...args('mallory@example.com'), img.ref], { env: keylessEnv });
    assert.equal(wrong.code, 12, wrong.stderr);
  });

  test('inside GitHub Actions, attest --type slsaprovenance1 without --predicate attests the run\'s own provenance; outside, it is a usage error', async () => {
    const img = await freshImage();
    const gh = {
      ...env,
      GITHUB_ACTIONS: 'true',
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: 'octo/app',
      GITHUB_WORKFLOW_REF: 'octo/app/.github/workflows/release.yml@refs/heads/main',
      GITHUB_EVENT_NAME: 'push',
      GITHUB_REPOSITORY_ID: '1',
      GITHUB_REPOSITORY_OWNER_ID: '2',
      RUNNER_ENVIRONMENT: 'github-hosted',
      GITHUB_REF: 'refs/heads/main',
      GITHUB_SHA: 'b'.repeat(40),
      GITHUB_RUN_ID: '42',
      GITHUB_RUN_ATTEMPT: '1',
    };
    const a = await runCli(['attest', '--key', keyFile, '--tlog-upload=false', '--type', 'slsaprovenance1', img.ref], { env: gh });
    assert.equal(a.code, 0, a.stderr);
    const v = await verifyAtt(['--type', 'slsaprovenance1', img.ref]);
    assert.equal(v.code, 0, v.stderr);
    const st = JSON.parse(Buffer.from(JSON.parse(v.stdout.trim()).payload, 'base64').toString());
    assert.equal(st.predicate.runDetails.builder.id, 'https://github.com/octo/app/.github/workflows/release.yml@refs/heads/main');
    assert.equal(st.predicate.buildDefinition.resolvedDependencies[0].digest.gitCommit, 'b'.repeat(40));
    const outside = await runCli(['attest', '--key', keyFile, '--tlog-upload=false', '--type', 'slsaprovenance1', img.ref], { env: { ...env, GITHUB_ACTIONS: undefined } });
    assert.equal(outside.code, 2);
  });
});
