/**
 * cosign's KMS plug-in protocol end to end: a plug-in program written for the tests (a local key file
 * behind sigstore's cliplugin protocol v1) on PATH as `sigstore-kms-testkms` creates keys
 * (`generate-key-pair --kms`), gives public keys and signs blobs and images; plug-ins that fail, crash,
 * print garbage, sign wrongly, hang or are missing give one clear line.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parsePublicKey } from '../../src/keys/index.js';
import { RegistryClient } from '../../src/oci/index.js';
import { runCli } from '../helpers/cli.js';
import { installKmsPlugin } from '../helpers/kms-plugin.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-kms-'));
const bin = installKmsPlugin(join(dir, 'bin'), 'testkms');
const blob = join(dir, 'artifact.txt');
const callLog = join(dir, 'calls.log');
let reg: RunningRegistry;

function cli(args: string[], env: Record<string, string | undefined> = {}) {
  return runCli(args, { env: { PATH: `${bin}${delimiter}${process.env.PATH}`, SIGNET_TEST_PLUGIN_MODE: undefined, ...env } });
}

function oneLine(r: { code: number; stderr: string }, re: RegExp): void {
  assert.notEqual(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('plug-in:'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, re);
}

before(async () => {
  writeFileSync(blob, 'signed through a KMS plug-in\n');
  reg = await startRegistry();
});
after(async () => {
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('KMS plug-in', () => {
  const keyFile = join(dir, 'release.pem');
  const ref = `testkms://${keyFile}`;

  test('generate-key-pair --kms: defaultAlgorithm, then createKey; the public key written to <prefix>.pub', async () => {
    const r = await cli(['generate-key-pair', '--kms', ref, '--output-key-prefix', join(dir, 'release')], { SIGNET_TEST_PLUGIN_LOG: callLog });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Public key written to .*release\.pub/);
    assert.ok(existsSync(keyFile));
    assert.equal(parsePublicKey(readFileSync(join(dir, 'release.pub'))).kind, 'ecdsa-p256');
    const calls = readFileSync(callLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);
    assert.deepEqual(calls.map((c) => c[0]), ['1', '1']);
    const args = calls.map((c) => JSON.parse(c[1]!) as { methodName: string; initOptions: { protocolVersion: string; keyResourceID: string; hashFunc: number }; createKey?: { algorithm: string } });
    assert.deepEqual(args.map((a) => a.methodName), ['defaultAlgorithm', 'createKey']);
    assert.deepEqual(args[1]!.initOptions, { protocolVersion: '1', keyResourceID: keyFile, hashFunc: 5 });
    assert.equal(args[1]!.createKey!.algorithm, 'ecdsa-p256-sha256');
    // The plug-in refuses to replace the key: its error message is the one line.
    const again = await cli(['generate-key-pair', '--kms', ref, '--output-key-prefix', join(dir, 'again')]);
    oneLine(again, /^Error: KMS plug-in sigstore-kms-testkms: createKey: .*release\.pem already exists$/);
  });

  test('public-key, sign-blob and verify-blob through the plug-in', async () => {
    const pub = await cli(['public-key', '--key', ref]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(pub.stdout, readFileSync(join(dir, 'release.pub'), 'utf8'));
    const bundle = join(dir, 'blob.bundle.json');
    const s = await cli(['sign-blob', '--key', ref, '--tlog-upload=false', '--bundle', bundle, blob]);
    assert.equal(s.code, 0, s.stderr);
    for (const key of [join(dir, 'release.pub'), ref]) {
      const v = await cli(['verify-blob', '--key', key, '--bundle', bundle, '--insecure-ignore-tlog', blob]);
      assert.equal(v.code, 0, v.stderr);
    }
  });

  test('a P-384 key signs with SHA-384 (hashFunc 6) and verifies', async () => {
    const p384 = join(dir, 'p384.pem');
    writeFileSync(p384, generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const log = join(dir, 'p384.log');
    const sig = join(dir, 'p384.sig');
    const s = await cli(['sign-blob', '--key', `testkms://${p384}`, '--tlog-upload=false', '--new-bundle-format=false', '--output-signature', sig, blob], { SIGNET_TEST_PLUGIN_LOG: log });
    assert.equal(s.code, 0, s.stderr);
    const sign = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(JSON.parse(l)[1]) as { methodName: string; initOptions: { hashFunc: number } }).find((a) => a.methodName === 'signMessage')!;
    assert.equal(sign.initOptions.hashFunc, 6);
    const v = await cli(['verify-blob', '--key', `testkms://${p384}`, '--signature', sig, '--insecure-ignore-tlog', blob]);
    assert.equal(v.code, 0, v.stderr);
  });

  test('sign an image in a registry through the plug-in, verify with the exported key', async () => {
    const client = new RegistryClient();
    const repo = { registry: reg.host, repository: 'kms/app' };
    const img = await pushRandomImage(client, repo, 'v1');
    await client.close();
    const image = `${reg.host}/${repo.repository}@${img.digest}`;
    const s = await cli(['sign', '--key', ref, '--tlog-upload=false', image]);
    assert.equal(s.code, 0, s.stderr);
    const v = await cli(['verify', '--key', join(dir, 'release.pub'), '--insecure-ignore-tlog', image]);
    assert.equal(v.code, 0, v.stderr);
  });
});

describe('KMS plug-in failures, one line each', () => {
  const ref = `testkms://${join(dir, 'release.pem')}`;
  const sign = (env: Record<string, string | undefined>, extra: string[] = []) =>
    cli(['sign-blob', ...extra, '--key', ref, '--tlog-upload=false', '--bundle', join(dir, 'never.json'), blob], env);

  test('an errorMessage', async () => {
    oneLine(await sign({ SIGNET_TEST_PLUGIN_MODE: 'error' }), /^Error: KMS plug-in sigstore-kms-testkms: publicKey: no such key .*release\.pem$/);
  });
  test('exits non-zero with nothing on stdout', async () => {
    oneLine(await sign({ SIGNET_TEST_PLUGIN_MODE: 'crash' }), /^Error: KMS plug-in sigstore-kms-testkms answered publicKey with something that is not JSON and exited with status 3$/);
  });
  test('prints garbage', async () => {
    oneLine(await sign({ SIGNET_TEST_PLUGIN_MODE: 'garbage' }), /^Error: KMS plug-in sigstore-kms-testkms answered publicKey with something that is not JSON$/);
  });
  test('returns a signature that does not verify', async () => {
    oneLine(await sign({ SIGNET_TEST_PLUGIN_MODE: 'badsig' }), /^Error: KMS plug-in sigstore-kms-testkms returned a signature that does not verify with the key's public key$/);
    assert.ok(!existsSync(join(dir, 'never.json')));
  });
  test('never answers: the command\'s deadline ends it', async () => {
    oneLine(await sign({ SIGNET_TEST_PLUGIN_MODE: 'hang' }, ['-t', '2s']), /^Error: timed out after 2s \(-t\/--timeout\) while waiting for KMS plug-in sigstore-kms-testkms \(publicKey\)$/);
  });
  test('missing plug-ins, and cosign\'s built-in providers without one', async () => {
    oneLine(await cli(['public-key', '--key', 'nokms://key']), /^Error: key reference scheme nokms:\/\/ is not supported: no KMS plug-in sigstore-kms-nokms on PATH/);
    oneLine(await cli(['generate-key-pair', '--kms', 'awskms:///alias/release']), /^Error: awskms:\/\/ keys need the KMS plug-in sigstore-kms-awskms on PATH \(Signet has no built-in AWS KMS client\)$/);
    oneLine(await cli(['sign-blob', '--key', 'hashivault://release', '--tlog-upload=false', '--bundle', join(dir, 'never.json'), blob]), /sigstore-kms-hashivault on PATH/);
  });
});
