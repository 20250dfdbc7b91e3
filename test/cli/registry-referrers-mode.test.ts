/**
 * --registry-referrers-mode: `legacy` (default) falls back to the sha256-<digest> tag on a registry
 * without the OCI 1.1 referrers API (Debian's docker-registry has none); `oci-1-1` refuses such a
 * registry in one line, before anything is written.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encryptPrivateKey, generateKeyPair } from '../../src/keys/index.js';
import { RegistryClient } from '../../src/oci/index.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';

describe('--registry-referrers-mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-refmode-'));
  const key = join(dir, 'cosign.key');
  const env = { COSIGN_PASSWORD: 'pw', SIGSTORE_ID_TOKEN: undefined, TUF_ROOT: join(dir, 'tuf') };
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry();
    writeFileSync(key, encryptPrivateKey(generateKeyPair('ecdsa-p256').privateKey, Buffer.from('pw'), { N: 32768 }));
  });
  after(async () => {
    await reg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('oci-1-1 on a registry without the referrers API: one clear line, nothing written; legacy signs through the tag fallback', async () => {
    const client = new RegistryClient({ retry: { retries: 0 } });
    const repo = { registry: reg.host, repository: 'refmode/app' };
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${reg.host}/refmode/app@${img.digest}`;
    let r = await runCli(['sign', '--key', key, '--tlog-upload=false', '-y', '--registry-referrers-mode=oci-1-1', ref], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^Error: 127\.0\.0\.1:\d+ has no OCI 1\.1 referrers API, and --registry-referrers-mode=oci-1-1 forbids the sha256-<digest> tag fallback/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.deepEqual((await client.referrers(repo, img.digest)).manifests, [], 'nothing was written');
    assert.deepEqual(await client.listTags(repo), ['v1']);

    r = await runCli(['sign', '--key', key, '--tlog-upload=false', '-y', ref], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await client.referrers(repo, img.digest)).manifests.length, 1);
    r = await runCli(['verify', '--key', key, '--insecure-ignore-tlog', '--registry-referrers-mode', 'oci-1-1', ref], { env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /has no OCI 1\.1 referrers API/);
    r = await runCli(['verify', '--key', key, '--insecure-ignore-tlog', '--registry-referrers-mode', 'sideways', ref], { env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /"sideways" is not legacy or oci-1-1/);
    await client.close();
  });
});
