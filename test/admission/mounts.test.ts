/**
 * `key.secretRef` and `policy.configMapRef` from Secrets and ConfigMaps mounted as volumes, in
 * directories built the way the kubelet builds them: a timestamped directory per version, `..data`
 * pointing at it (replaced by renaming `..data_tmp` over it), each key a symlink through `..data`, and
 * the old version deleted after the swap.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generateKeyPair } from '../../src/index.js';
import { loadPolicySet, readMounted } from '../../src/admission/index.js';
import { startAdmissionServer } from '../../src/cli/admission-server.js';
import { RegistryClient } from '../../src/oci/index.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-admission-mounts-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const pem = () => generateKeyPair('ecdsa-p256').publicKey.export({ type: 'spki', format: 'pem' }).toString();
let version = 0;

/** Write (or update) a volume as the kubelet's AtomicWriter does. */
function kubeletWrite(root: string, name: string, data: Record<string, string>): void {
  const base = join(root, name);
  mkdirSync(base, { recursive: true });
  const ts = join(base, `..2026_12_05_00_00_00.${++version}`);
  mkdirSync(ts);
  for (const [k, v] of Object.entries(data)) writeFileSync(join(ts, k), v);
  const old = existsSync(join(base, '..data')) ? readlinkSync(join(base, '..data')) : undefined;
  symlinkSync(ts.slice(base.length + 1), join(base, '..data_tmp'));
  renameSync(join(base, '..data_tmp'), join(base, '..data'));
  for (const k of Object.keys(data)) if (!existsSync(join(base, k))) symlinkSync(join('..data', k), join(base, k));
  for (const n of readdirSync(base)) if (!n.startsWith('.') && !(n in data)) unlinkSync(join(base, n));
  if (old) rmSync(join(base, old), { recursive: true, force: true });
}

function cip(name: string, key: string): string {
  return `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: ${name}}
spec:
  images: [{glob: "registry.example/**"}]
  authorities:
  - key:
      secretRef: {name: ${key}}
`;
}

describe('mounted Secrets and ConfigMaps', () => {
  const secrets = join(dir, 'secrets');
  const configmaps = join(dir, 'configmaps');
  const policies = join(dir, 'policies');
  mkdirSync(policies, { recursive: true });

  test('key.secretRef: a Secret with one key is the public key; a new version of it is a new policy (not the cached verdicts)', async () => {
    kubeletWrite(secrets, 'cosign-pub', { 'cosign.pub': pem() });
    writeFileSync(join(policies, 'a.yaml'), cip('a', 'cosign-pub'));
    const one = await loadPolicySet([join(policies, 'a.yaml')], { secretsDir: secrets });
    const a = one.policies[0]!.authorities[0]!;
    assert.equal(a.kind, 'key');
    kubeletWrite(secrets, 'cosign-pub', { 'cosign.pub': pem() });
    const two = await loadPolicySet([join(policies, 'a.yaml')], { secretsDir: secrets });
    assert.notEqual(two.policies[0]!.key, one.policies[0]!.key);
    assert.deepEqual(readdirSync(join(secrets, 'cosign-pub')).filter((n) => n.startsWith('..2026')).length, 1);
  });

  test('refused clearly: several keys, no keys, not mounted, no --secrets-dir, not a public key', async () => {
    const load = (secret: string, opts = { secretsDir: secrets }) => {
      writeFileSync(join(policies, 'b.yaml'), cip('b', secret));
      return loadPolicySet([join(policies, 'b.yaml')], opts);
    };
    kubeletWrite(secrets, 'two', { 'a.pub': pem(), 'b.pub': pem() });
    await assert.rejects(load('two'), (e: Error & { code?: string }) => e.code === 'MALFORMED' && /key\.secretRef: Secret two has 2 keys \(a\.pub, b\.pub\); it must hold exactly one/.test(e.message) && /b\.yaml/.test(e.message));
    kubeletWrite(secrets, 'empty', {});
    await assert.rejects(load('empty'), /Secret empty has no data/);
    await assert.rejects(load('missing'), /Secret missing is not mounted at .*secrets\/missing/);
    await assert.rejects(load('cosign-pub', {} as { secretsDir: string }), /--secrets-dir/);
    kubeletWrite(secrets, 'garbage', { key: 'not a key' });
    await assert.rejects(load('garbage'), /key\.secretRef: Secret garbage:/);
    await assert.rejects(load('../etc'), /not a Kubernetes object name/);
  });

  test('policy.configMapRef: the policy text from a mounted ConfigMap key', async () => {
    kubeletWrite(configmaps, 'cip-policies', { 'policy.cue': 'authorityMatches: {}\n', other: 'x' });
    const doc = (key: string) => `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: c}
spec:
  images: [{glob: "registry.example/**"}]
  authorities: [{static: {action: pass}}]
  policy:
    type: cue
    configMapRef: {name: cip-policies, key: ${key}}
`;
    writeFileSync(join(policies, 'c.yaml'), doc('policy.cue'));
    const set = await loadPolicySet([join(policies, 'c.yaml')], { configMapsDir: configmaps });
    assert.ok(set.policies[0]!.policy);
    writeFileSync(join(policies, 'c.yaml'), doc('nope'));
    await assert.rejects(loadPolicySet([join(policies, 'c.yaml')], { configMapsDir: configmaps }), /configMapRef\.key: ConfigMap cip-policies has no key nope \(it has other, policy\.cue\)/);
    await assert.rejects(loadPolicySet([join(policies, 'c.yaml')], {}), /--configmaps-dir/);
  });

  test('reads during kubelet swaps see one version whole, never a mix, never an error', async () => {
    kubeletWrite(configmaps, 'swapping', { a: 'v0', b: 'v0' });
    let stop = false;
    let swaps = 0;
    const writer = (async () => {
      while (!stop) {
        const v = `v${swaps + 1}`;
        kubeletWrite(configmaps, 'swapping', { a: v, b: v });
        swaps++;
        // Far more often than a kubelet would (its sync period is a minute).
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    let reads = 0;
    try {
      while (reads < 100 || swaps < 20) {
        const m = await readMounted(configmaps, 'swapping', 'ConfigMap');
        assert.deepEqual([...m.keys()], ['a', 'b']);
        assert.equal(m.get('a')!.toString(), m.get('b')!.toString(), 'keys from two versions');
        reads++;
      }
    } finally {
      stop = true;
      await writer;
    }
  });

  test('the webhook reloads its policies when a mounted Secret is swapped', async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
    const pdir = join(dir, 'webhook-policies');
    mkdirSync(pdir);
    kubeletWrite(secrets, 'rotating', { 'cosign.pub': pem() });
    writeFileSync(join(pdir, 'r.yaml'), cip('r', 'rotating'));
    const client = new RegistryClient({});
    const adm = await startAdmissionServer({ policies: [pdir], loadOptions: { secretsDir: secrets }, client, tlsCert: join(dir, 'tls.crt'), tlsKey: join(dir, 'tls.key'), listen: '127.0.0.1:0', log: false, reloadDelayMs: 50 });
    try {
      const before = adm.engine.policySet.policies[0]!.key;
      kubeletWrite(secrets, 'rotating', { 'cosign.pub': pem() });
      for (let i = 0; i < 200 && adm.engine.policySet.policies[0]!.key === before; i++) await new Promise((r) => setTimeout(r, 50));
      assert.notEqual(adm.engine.policySet.policies[0]!.key, before, 'policies not reloaded after the Secret changed');
      // A broken version (two keys) keeps the policies in use.
      const current = adm.engine.policySet.policies[0]!.key;
      kubeletWrite(secrets, 'rotating', { 'a.pub': pem(), 'b.pub': pem() });
      assert.equal(await adm.reload(), false);
      assert.equal(adm.engine.policySet.policies[0]!.key, current);
    } finally {
      await adm.close();
      await client.close();
    }
  });
});
