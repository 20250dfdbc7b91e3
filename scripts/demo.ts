/**
 * The quickstart's main job, end to end on this machine, every step through the real `signet` CLI:
 * start a whole private Sigstore (`signet serve --dev-oidc`: transparency log, CA, timestamp authority,
 * development OIDC issuer) and a docker-registry on 127.0.0.1, push a small image, then sign it keyless
 * and with a key, verify both against the server's trusted root, and show that a wrong identity and a
 * wrong key are refused.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RegistryClient } from '../src/oci/index.js';
import { pushRandomImage, startRegistry } from '../test/helpers/registry.js';
import { spawnServe } from '../test/server/http/spawn.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'signet-demo-'));
const data = join(dir, 'sigstore');
const env = { ...process.env, COSIGN_PASSWORD: 'demo-password' };

function signet(args: string[], opts: { expectFailure?: boolean; quiet?: boolean } = {}): string {
  const shown = args.map((a) => (a.length > 80 ? a.slice(0, 20) + '…' : a)).join(' ');
  process.stdout.write(`\n$ signet ${shown}\n`);
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, env, encoding: 'utf8' });
  if (!opts.quiet) process.stdout.write(r.stdout);
  process.stdout.write(r.stderr);
  if ((r.status === 0) === Boolean(opts.expectFailure)) {
    throw new Error(`signet ${args[0]} ${opts.expectFailure ? 'succeeded but should have failed' : `failed with exit code ${r.status}`}`);
  }
  if (opts.expectFailure) process.stdout.write(`(exit code ${r.status}, as expected)\n`);
  return r.stdout;
}


const registry = await startRegistry();
const client = new RegistryClient({});
const server = await spawnServe(data, ['--dev-oidc'], env);
try {
  const trustedRoot = join(data, 'trusted_root.json');
  const signingConfig = join(data, 'signing_config.json');
  process.stdout.write(`Started signet serve at ${server.url} (log, CA, TSA, dev OIDC) and docker-registry on ${registry.host}\n`);
  const image = await pushRandomImage(client, { registry: registry.host, repository: 'demo/app' }, 'v1');
  const ref = `${registry.host}/demo/app:v1`;
  process.stdout.write(`Pushed ${ref} (${image.digest})\n`);

  // Keyless: a short-lived certificate for an OIDC identity, the signature in the log, a timestamp.
  const token = signet(['dev', 'token', '--server', server.url, '--email', 'release@example.com'], { quiet: true }).trim();
  signet(['sign', '--signing-config', signingConfig, '--identity-token', token, '-y', ref]);
  const identity = ['--certificate-identity', 'release@example.com', '--certificate-oidc-issuer', `${server.url}/oidc`];
  signet(['verify', '--trusted-root', trustedRoot, ...identity, ref]);
  signet(['verify', '--trusted-root', trustedRoot, '--certificate-identity', 'mallory@example.com', '--certificate-oidc-issuer', `${server.url}/oidc`, ref], { expectFailure: true });

  // A key pair, in cosign's format, with the signature in the same log (cosign's legacy .sig format).
  signet(['generate-key-pair']);
  signet(['sign', '--key', 'cosign.key', '--signing-config', signingConfig, '--new-bundle-format=false', '-y', ref]);
  signet(['verify', '--key', 'cosign.pub', '--trusted-root', trustedRoot, ref]);
  signet(['tree', ref]);
  signet(['generate-key-pair', '--output-key-prefix', 'other']);
  signet(['verify', '--key', 'other.pub', '--trusted-root', trustedRoot, ref], { expectFailure: true });
  signet(['log', 'info', '--rekor-url', server.url]);
  process.stdout.write('\nDemo complete: the image was signed keyless and with a key, logged, timestamped and verified; a wrong identity and a wrong key were refused.\n');
} finally {
  server.child.kill('SIGTERM');
  await client.close();
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}
