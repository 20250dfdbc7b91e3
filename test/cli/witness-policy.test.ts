/**
 * `verify-blob` and `verify --witness-policy`: signatures logged by a `signet serve` whose writes wait for
 * a witness (`--witness-quorum`) carry cosigned checkpoints and meet a policy naming that witness; a
 * policy naming another witness, or a quorum of two, is refused with one line; a log without witnesses
 * gives checkpoints no policy accepts. Keyed and keyless, blobs and images.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encryptPrivateKey, generateKeyPair } from '../../src/keys/index.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { parseWitnessFlag } from '../../src/server/witness/cosigning.js';
import { parseWitnessedLogs } from '../../src/server/witness/index.js';
import { startWitness, type RunningWitness } from '../../src/server/witness/server.js';
import { cosignerVkey } from '../../src/tlog/cosignature.js';
import { RegistryClient } from '../../src/oci/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-wpolicy-'));
const p = (name: string): string => join(dir, name);
const env = { SIGNET_HOME: p('home'), COSIGN_PASSWORD: 'pw', SIGSTORE_ID_TOKEN: undefined, ACTIONS_ID_TOKEN_REQUEST_URL: undefined };
const ORIGIN = '127.0.0.1 - 42';
const logKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const witnessKey = generateKeyPairSync('ed25519');
const otherWitness = generateKeyPairSync('ed25519');

let witness: RunningWitness;
let witnessed: RunningServer;
let plain: RunningServer;
let registry: RunningRegistry;
const client = new RegistryClient({});
async function image(repository: string): Promise<string> {
  const img = await pushRandomImage(client, { registry: registry.host, repository }, 'v1');
  return `${registry.host}/${repository}@${img.digest}`;
}

const ok = (r: CliResult): void => assert.equal(r.code, 0, r.stderr);
function refused(r: CliResult, re: RegExp): void {
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, re);
  assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('Error')).length, 1, r.stderr);
}

before(async () => {
  witness = await startWitness({
    name: 'witness.test/w1',
    key: witnessKey.privateKey,
    logs: parseWitnessedLogs(JSON.stringify({ logs: [{ origin: ORIGIN, key: logKey.publicKey.export({ type: 'spki', format: 'pem' }) }] }), 'logs'),
    dataDir: p('witness'),
    listen: '127.0.0.1:0',
    requestLog: false,
  });
  witnessed = await startServer({
    dataDir: p('log'), listen: '127.0.0.1:0', requestLog: false, devOidc: true, logKey: logKey.privateKey, origin: ORIGIN,
    witnesses: [parseWitnessFlag(`${witness.url},${cosignerVkey('witness.test/w1', witnessKey.privateKey)}`)], witnessQuorum: 1, waitForWitnesses: true,
  });
  plain = await startServer({ dataDir: p('plain'), listen: '127.0.0.1:0', requestLog: false });
  registry = await startRegistry();
  const { privateKey, publicKey } = generateKeyPair('ecdsa-p256');
  writeFileSync(p('cosign.key'), encryptPrivateKey(privateKey, Buffer.from('pw')));
  writeFileSync(p('cosign.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(p('artifact'), 'witnessed bytes\n');
  const vkey = cosignerVkey('witness.test/w1', witnessKey.publicKey);
  writeFileSync(p('one.policy'), `# the test's witness\nwitness w1 ${vkey}\nquorum w1\n`);
  writeFileSync(p('other.policy'), `witness w2 ${cosignerVkey('witness.test/w2', otherWitness.publicKey)}\nquorum w2\n`);
  writeFileSync(p('two.policy'), `witness w1 ${vkey}\nwitness w2 ${cosignerVkey('witness.test/w2', otherWitness.publicKey)}\ngroup both all w1 w2\nquorum both\n`);
  writeFileSync(p('broken.policy'), `witness w1 ${vkey}\nquorum nobody\n`);
});
after(async () => {
  await witnessed?.close();
  await plain?.close();
  await witness?.close();
  await client.close();
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('--witness-policy', () => {
  test('verify-blob, keyed: a bundle from the witnessed log meets the policy; another witness, a quorum of two, a plain log do not', async () => {
    ok(await runCli(['sign-blob', '--key', p('cosign.key'), '--rekor-url', witnessed.url, '--bundle', p('w.json'), p('artifact')], { env }));
    ok(await runCli(['sign-blob', '--key', p('cosign.key'), '--rekor-url', plain.url, '--bundle', p('plain.json'), p('artifact')], { env }));
    const verify = (bundle: string, root: string, policy: string): Promise<CliResult> =>
      runCli(['verify-blob', '--key', p('cosign.pub'), '--bundle', bundle, '--trusted-root', root, '--witness-policy', p(policy), p('artifact')], { env });
    ok(await verify(p('w.json'), witnessed.trustedRootPath, 'one.policy'));
    refused(await verify(p('w.json'), witnessed.trustedRootPath, 'other.policy'), /cosigned by no witness of the policy; the witness policy's quorum w2 is not met/);
    refused(await verify(p('w.json'), witnessed.trustedRootPath, 'two.policy'), /cosigned by w1; the witness policy's quorum both is not met/);
    refused(await verify(p('plain.json'), plain.trustedRootPath, 'one.policy'), /quorum w1 is not met/);
    refused(await verify(p('w.json'), witnessed.trustedRootPath, 'broken.policy'), /--witness-policy .*line 2: quorum "nobody" is not defined above/);
    refused(
      await runCli(['verify-blob', '--key', p('cosign.pub'), '--bundle', p('w.json'), '--insecure-ignore-tlog', '--witness-policy', p('one.policy'), p('artifact')], { env }),
      /cannot be used with --insecure-ignore-tlog/,
    );
    // Without the policy the same bundles verify as before.
    ok(await runCli(['verify-blob', '--key', p('cosign.pub'), '--bundle', p('plain.json'), '--trusted-root', plain.trustedRootPath, p('artifact')], { env }));
  });

  test('verify-blob, keyless: the engine holds the bundle to the policy', async () => {
    const tok = await (await fetch(`${witnessed.url}/oidc/token`, { method: 'POST', body: JSON.stringify({ email: 'alice@example.com' }) })).json() as { id_token: string };
    ok(await runCli(['sign-blob', '--identity-token', tok.id_token, '--signing-config', witnessed.signingConfigPath, '--bundle', p('k.json'), '-y', p('artifact')], { env }));
    const id = ['--certificate-identity', 'alice@example.com', '--certificate-oidc-issuer', `${witnessed.url}/oidc`, '--trusted-root', witnessed.trustedRootPath];
    ok(await runCli(['verify-blob', ...id, '--bundle', p('k.json'), '--witness-policy', p('one.policy'), p('artifact')], { env }));
    refused(await runCli(['verify-blob', ...id, '--bundle', p('k.json'), '--witness-policy', p('two.policy'), p('artifact')], { env }), /quorum both is not met/);
  });

  test('verify (images), keyed: a referrer bundle meets the policy; a legacy .sig (a SET, no checkpoint) cannot', async () => {
    const ref = await image('wpolicy/app');
    ok(await runCli(['sign', '--key', p('cosign.key'), '--rekor-url', witnessed.url, '-y', ref], { env }));
    const verify = (policy: string): Promise<CliResult> => runCli(['verify', '--key', p('cosign.pub'), '--trusted-root', witnessed.trustedRootPath, '--witness-policy', p(policy), ref], { env });
    ok(await verify('one.policy'));
    refused(await verify('two.policy'), /quorum both is not met/);
    const legacy = await image('wpolicy/legacy');
    ok(await runCli(['sign', '--key', p('cosign.key'), '--rekor-url', witnessed.url, '--new-bundle-format=false', '-y', legacy], { env }));
    refused(
      await runCli(['verify', '--key', p('cosign.pub'), '--trusted-root', witnessed.trustedRootPath, '--witness-policy', p('one.policy'), legacy], { env }),
      /no inclusion proof with a checkpoint/,
    );
  });
});
