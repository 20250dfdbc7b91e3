/**
 * The quickstart's main job, end to end on this machine: start a docker-registry on 127.0.0.1, push a
 * small image, make a key pair, sign the image in both of cosign's formats, verify it, show what is
 * attached, and show that a different key is refused. Every step runs the real `signet` CLI.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RegistryClient } from '../src/oci/index.js';
import { pushRandomImage, startRegistry } from '../test/helpers/registry.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'signet-demo-'));
const env = { ...process.env, COSIGN_PASSWORD: 'demo-password' };

function signet(args: string[], expectFailure = false): void {
  process.stdout.write(`\n$ signet ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, env, stdio: 'inherit' });
  if ((r.status === 0) === expectFailure) {
    throw new Error(`signet ${args[0]} ${expectFailure ? 'succeeded but should have failed' : `failed with exit code ${r.status}`}`);
  }
  if (expectFailure) process.stdout.write(`(exit code ${r.status}, as expected)\n`);
}

const registry = await startRegistry();
const client = new RegistryClient({});
try {
  const repo = { registry: registry.host, repository: 'demo/app' };
  const image = await pushRandomImage(client, repo, 'v1');
  const ref = `${registry.host}/demo/app:v1`;
  process.stdout.write(`Started docker-registry on ${registry.host} and pushed ${ref} (${image.digest})\n`);

  signet(['generate-key-pair']);
  signet(['sign', '--key', 'cosign.key', '--tlog-upload=false', '-a', 'env=demo', ref]);
  signet(['sign', '--key', 'cosign.key', '--tlog-upload=false', '--new-bundle-format=false', ref]);
  signet(['verify', '--key', 'cosign.pub', '--insecure-ignore-tlog', '-a', 'env=demo', ref]);
  signet(['tree', ref]);
  signet(['generate-key-pair', '--output-key-prefix', 'other']);
  signet(['verify', '--key', 'other.pub', '--insecure-ignore-tlog', ref], true);
  process.stdout.write('\nDemo complete: the image was signed in both formats and verified; a different key was refused.\n');
} finally {
  await client.close();
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}
