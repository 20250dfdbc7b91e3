/**
 * The sign/verify commands against registries that demand credentials, as users meet them: basic auth
 * with --registry-username/--registry-password, and bearer tokens with credentials from a Docker config
 * written by `signet login`. A command without credentials fails with one line and pushes nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptPrivateKey, generateKeyPair, publicKeyInfo } from '../../src/keys/index.js';
import { RegistryClient } from '../../src/oci/index.js';
import { attachmentTag } from '../../src/cosign/storage.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-auth-'));
const keys = generateKeyPair('ecdsa-p256');
const keyFile = join(dir, 'cosign.key');
const pubFile = join(dir, 'cosign.pub');
writeFileSync(keyFile, encryptPrivateKey(keys.privateKey, Buffer.from('pw'), { N: 32768 }));
writeFileSync(pubFile, publicKeyInfo(keys.publicKey).pem);
let basic: RunningRegistry;
let token: RunningRegistry;

before(async () => {
  [basic, token] = await Promise.all([startRegistry({ auth: 'basic' }), startRegistry({ auth: 'token' })]);
});
after(async () => {
  await Promise.all([basic.stop(), token.stop()]);
});

test('basic auth: --registry-username/--registry-password sign and verify; no credentials is a clear auth error', async () => {
  const client = new RegistryClient({ username: basic.username, password: basic.password });
  try {
    const img = await pushRandomImage(client, { registry: basic.host, repository: 'auth/app' }, 'v1');
    const ref = `${basic.host}/auth/app:v1`;
    const creds = ['--registry-username', basic.username!, '--registry-password', basic.password!];
    const env = { COSIGN_PASSWORD: 'pw', DOCKER_CONFIG: join(dir, 'empty-docker') };
    const anonymous = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', ref], { env });
    assert.equal(anonymous.code, 1, anonymous.stderr);
    assert.match(anonymous.stderr, /^Error: .*(401|unauthorized|authentication)/im);
    assert.equal(anonymous.stderr.trim().split('\n').length, 1);
    const signed = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', '--new-bundle-format=false', ...creds, ref], { env });
    assert.equal(signed.code, 0, signed.stderr);
    assert.ok(await client.headManifest({ registry: basic.host, repository: 'auth/app' }, attachmentTag(img.digest, 'sig')));
    // COSIGN_REGISTRY_* environment variables work like the flags.
    const verified = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', ref], {
      env: { ...env, COSIGN_REGISTRY_USERNAME: basic.username, COSIGN_REGISTRY_PASSWORD: basic.password },
    });
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal(JSON.parse(verified.stdout)[0].critical.image['docker-manifest-digest'], img.digest);
  } finally {
    await client.close();
  }
});

test('token auth: credentials from a Docker config written by signet login', async () => {
  const client = new RegistryClient({ username: token.username, password: token.password });
  try {
    const img = await pushRandomImage(client, { registry: token.host, repository: 'tok/app' }, 'v1');
    const ref = `${token.host}/tok/app@${img.digest}`;
    const env = { COSIGN_PASSWORD: 'pw', DOCKER_CONFIG: join(dir, 'docker') };
    const login = await runCli(['login', token.host, '-u', token.username!, '--password-stdin'], { env, input: token.password! });
    assert.equal(login.code, 0, login.stderr);
    const signed = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', ref], { env });
    assert.equal(signed.code, 0, signed.stderr);
    const verified = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', ref], { env });
    assert.equal(verified.code, 0, verified.stderr);
    // The token server saw per-repository scopes with push only for the signing command's repository.
    const scopes = token.tokenServer!.requests.flatMap((r) => r.scopes).join(' ');
    assert.match(scopes, /repository:tok\/app:(pull,push|push,pull)/);
  } finally {
    await client.close();
  }
});
