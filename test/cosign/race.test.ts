/**
 * Ten signers, ten keys, one image, all at once — a CI fleet signing in parallel — against the real
 * docker-registry (distribution 2.8). Every signer must succeed and every signature must be there
 * and verify, in both formats, round after round.
 *
 * What made signers fail: distribution 2.8's filesystem driver rewrites a repository's link file for
 * a blob in place on every upload of that blob, and a manifest PUT that reads it meanwhile is refused
 * with `400 DIGEST_INVALID; MANIFEST_BLOB_UNKNOWN`. Racing signers upload identical blobs (the
 * simple-signing payload, the `.sig` config, the `{}` config of bundle referrers).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptPrivateKey, generateKeyPair, publicKeyInfo, signerFromPrivateKey, type PublicKeyInfo, type Signer } from '../../src/keys/index.js';
import { RegistryClient, type Repo } from '../../src/oci/index.js';
import { signImages } from '../../src/cosign/sign.js';
import { verifyOne } from '../../src/cosign/verify.js';
import { attachmentTag, parseImageManifest } from '../../src/cosign/storage.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';

const SIGNERS = 10;
/**
 * Rounds per format: ten separate `signet sign` processes, as in the report, and ten concurrent
 * library calls with a registry client each; a round takes 2–7 s on a loaded 2-core machine. The old
 * client lost signers (DIGEST_INVALID) in 8 of 25 legacy process rounds and 14 of 35 legacy library
 * rounds, so all nine legacy rounds passing by luck is about a 2% chance; against this file (five
 * rounds each) it failed the legacy tests in 4 runs of 4, and once dropped a bundle signature from
 * the fallback index.
 */
const ROUNDS = { legacy: { processes: 4, library: 5 }, bundle: { processes: 2, library: 3 } } as const;

let reg: RunningRegistry;
let client: RegistryClient;
let dir: string;
const keys: Array<{ file: string; signer: Signer; pub: PublicKeyInfo }> = [];
let n = 0;

before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({});
  dir = mkdtempSync(join(tmpdir(), 'signet-race-'));
  for (let i = 0; i < SIGNERS; i++) {
    const pair = generateKeyPair('ecdsa-p256');
    const file = join(dir, `key${i}.key`);
    writeFileSync(file, encryptPrivateKey(pair.privateKey, Buffer.from('pw'), { N: 32768 }));
    keys.push({ file, signer: signerFromPrivateKey(pair.privateKey), pub: publicKeyInfo(pair.publicKey) });
  }
});
after(async () => {
  await client?.close();
  await reg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function freshImage(): Promise<{ repo: Repo; digest: string; ref: string }> {
  const repo = { registry: reg.host, repository: `race/app${++n}` };
  const img = await pushRandomImage(client, repo, 'v1');
  return { repo, digest: img.digest, ref: `${repo.registry}/${repo.repository}@${img.digest}` };
}

/** Ten signatures are stored, and each key verifies exactly one of them. */
async function assertTenSignatures(format: 'legacy' | 'bundle', image: { repo: Repo; digest: string; ref: string }, round: number): Promise<void> {
  const stored =
    format === 'legacy'
      ? parseImageManifest((await client.getManifest(image.repo, attachmentTag(image.digest, 'sig'))).bytes).layers.length
      : (await client.referrers(image.repo, image.digest)).manifests.length;
  assert.equal(stored, SIGNERS, `round ${round}: ${stored} ${format} signatures stored`);
  const verified = await Promise.all(keys.map(async (k) => (await verifyOne({ client, key: k.pub, images: [image.ref], ignoreTlog: true }, image.ref)).verified.length));
  assert.deepEqual(verified, Array(SIGNERS).fill(1), `round ${round}: signatures verified per key`);
}

for (const format of ['legacy', 'bundle'] as const) {
  describe(`${SIGNERS} racing signers, ${format} format`, () => {
    test(`separate signet sign processes, ${ROUNDS[format].processes} rounds: every signer succeeds, every signature verifies`, async () => {
      for (let round = 1; round <= ROUNDS[format].processes; round++) {
        const image = await freshImage();
        const runs = await Promise.all(
          keys.map((k) =>
            runCli(['sign', '--key', k.file, '--tlog-upload=false', `--new-bundle-format=${format === 'bundle'}`, image.ref], { env: { COSIGN_PASSWORD: 'pw' } }),
          ),
        );
        const failed = runs.filter((r) => r.code !== 0).map((r) => r.stderr.trim());
        assert.deepEqual(failed, [], `round ${round}: ${failed.length} of ${SIGNERS} signers failed`);
        await assertTenSignatures(format, image, round);
      }
    });

    test(`concurrent library calls with separate clients, ${ROUNDS[format].library} rounds: the same`, async () => {
      for (let round = 1; round <= ROUNDS[format].library; round++) {
        const image = await freshImage();
        const clients = keys.map(() => new RegistryClient({}));
        try {
          const outcomes = await Promise.allSettled(keys.map((k, i) => signImages({ client: clients[i]!, signer: k.signer, images: [image.ref], newBundleFormat: format === 'bundle' })));
          const failed = outcomes.flatMap((o) => (o.status === 'rejected' ? [String((o.reason as Error).message)] : []));
          assert.deepEqual(failed, [], `round ${round}: ${failed.length} of ${SIGNERS} signers failed`);
        } finally {
          await Promise.all(clients.map((c) => c.close()));
        }
        await assertTenSignatures(format, image, round);
      }
    });
  });
}
