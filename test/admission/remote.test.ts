/**
 * TrustRoot `spec.remote`: the trusted root of a private Sigstore through its TUF repository — here the
 * one `signet serve` publishes under /tuf/ — starting from the base64 root.json in the resource, cached
 * per TrustRoot, and an image signed keyless by that serve admitted through it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RegistryClient } from '../../src/oci/index.js';
import { signImages } from '../../src/cosign/sign.js';
import { obtainKeylessSigner, resolveKeylessServices } from '../../src/sigstore/sign-keyless.js';
import { parseSigningConfig } from '../../src/sigstore/signing-config.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { AdmissionEngine, loadPolicySet } from '../../src/admission/index.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-admission-remote-'));
let reg: RunningRegistry;
let srv: RunningServer;
let image: string;

before(async () => {
  [reg, srv] = await Promise.all([startRegistry(), startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true })]);
  const client = new RegistryClient({});
  try {
    const tokenRes = await fetch(srv.url + '/oidc/token', { method: 'POST', body: JSON.stringify({ email: 'remote@example.com' }) });
    const ks = await obtainKeylessSigner(resolveKeylessServices(parseSigningConfig(readFileSync(srv.signingConfigPath))), ((await tokenRes.json()) as { id_token: string }).id_token);
    const p = await pushRandomImage(client, { registry: reg.host, repository: 'remote/app' });
    image = `${reg.host}/remote/app@${p.digest}`;
    await signImages({ client, signer: ks.signer, keyless: ks, images: [image] });
  } finally {
    await client.close();
  }
});

after(async () => {
  await Promise.all([reg?.stop(), srv?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const policies = (mirror: string, root: string) => `apiVersion: policy.sigstore.dev/v1alpha1
kind: TrustRoot
metadata: {name: private}
spec:
  remote:
    mirror: ${mirror}
    root: ${root}
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: remote}
spec:
  images: [{glob: "${reg.host}/remote/**"}]
  authorities:
  - keyless:
      trustRootRef: private
      identities: [{issuer: "${srv.url}/oidc", subject: remote@example.com}]
`;

test('a TrustRoot from signet serve\'s TUF repository admits what that serve signed; its cache is reused and refreshed', async () => {
  const file = join(dir, 'cip.yaml');
  const tufCacheDir = join(dir, 'tuf');
  writeFileSync(file, policies(`${srv.url}/tuf`, readFileSync(srv.tufRootPath).toString('base64')));
  const set = await loadPolicySet([file], { tufCacheDir });
  assert.equal(set.remote, true);
  const caches = readdirSync(tufCacheDir);
  assert.equal(caches.length, 1);
  assert.match(caches[0]!, /^private-/);
  assert.ok(existsSync(join(tufCacheDir, caches[0]!, 'given-root.json')));
  const client = new RegistryClient({});
  try {
    const v = await new AdmissionEngine(set, { client }).evaluate(image);
    assert.equal(v.verdict, 'pass', v.errors.join('; '));
    // A reload (the periodic refresh) starts from the cache: same directory, same verdict.
    const again = await loadPolicySet([file], { tufCacheDir });
    assert.deepEqual(readdirSync(tufCacheDir), caches);
    assert.equal(again.policies[0]!.key, set.policies[0]!.key);
    assert.equal((await new AdmissionEngine(again, { client }).evaluate(image)).verdict, 'pass');
  } finally {
    await client.close();
  }
});

test('remote TrustRoots refused clearly: an unreachable mirror, a root that is not base64 TUF root metadata, another targets path', async () => {
  const root = readFileSync(srv.tufRootPath).toString('base64');
  const load = (text: string) => {
    writeFileSync(join(dir, 'bad.yaml'), text);
    return loadPolicySet([join(dir, 'bad.yaml')], { tufCacheDir: join(dir, 'tuf-bad') });
  };
  await assert.rejects(load(policies('http://127.0.0.1:1/tuf', root)), (e: Error & { code?: string }) => e.code === 'MALFORMED' && /bad\.yaml \(document 1\): spec\.remote: TUF mirror http:\/\/127\.0\.0\.1:1\/tuf: /.test(e.message));
  await assert.rejects(load(policies(`${srv.url}/tuf`, Buffer.from('{"not": "a root"}').toString('base64'))), /spec\.remote: TUF mirror .*not TUF root metadata/);
  await assert.rejects(load(policies(`${srv.url}/tuf`, '"not base64!"')), /spec\.remote\.root: expected a base64 root\.json/);
  await assert.rejects(load(policies(`${srv.url}/tuf`, root).replace('    root:', '    targets: other\n    root:')), /spec\.remote\.targets: only the TUF default "targets" is supported/);
});
