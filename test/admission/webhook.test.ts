/**
 * `signet admission` end to end: a real docker-registry, a real `signet serve --dev-oidc` (keyless
 * signing and the log), workloads made by the real kubectl wrapped in AdmissionReviews and sent over
 * HTTPS to the webhook; the answers checked against admission.k8s.io/v1 and their JSONPatches applied.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { attestImages, generateKeyPair, signerFromPrivateKey, tlogTarget } from '../../src/index.js';
import { RegistryClient, type Repo } from '../../src/oci/index.js';
import { signImages } from '../../src/cosign/sign.js';
import { obtainKeylessSigner, resolveKeylessServices, type KeylessSigner } from '../../src/sigstore/sign-keyless.js';
import { parseSigningConfig } from '../../src/sigstore/signing-config.js';
import { loadTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { prepareTrust } from '../../src/sigstore/verifier.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { AdmissionEngine, loadPolicySet, type Trust } from '../../src/admission/index.js';
import { startAdmissionServer, type RunningAdmission } from '../../src/cli/admission-server.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { handPod, kubectlCronJob, kubectlDeployment, kubectlJob } from '../helpers/k8s.js';
import { runCli } from '../helpers/cli.js';

let reg: RunningRegistry;
let srv: RunningServer;
let client: RegistryClient;
let alice: KeylessSigner;
let mallory: KeylessSigner;
let adm: RunningAdmission;
let trust: Trust;
let ca: Buffer;
const dir = mkdtempSync(join(tmpdir(), 'signet-admission-'));
const policyDir = join(dir, 'policies');
const keys = generateKeyPair('ecdsa-p256');
const otherKeys = generateKeyPair('ecdsa-p256');
const pem = (k: typeof keys) => k.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const img: Record<string, { repo: Repo; digest: string; tag: string; byTag: string; byDigest: string }> = {};
let uidN = 0;

async function token(email: string): Promise<string> {
  const r = await fetch(srv.url + '/oidc/token', { method: 'POST', body: JSON.stringify({ email }) });
  return ((await r.json()) as { id_token: string }).id_token;
}

async function push(name: string, repository: string): Promise<void> {
  const repo = { registry: reg.host, repository };
  const p = await pushRandomImage(client, repo, 'v1');
  img[name] = { repo, digest: p.digest, tag: 'v1', byTag: `${reg.host}/${repository}:v1`, byDigest: `${reg.host}/${repository}@${p.digest}` };
}

function indent(text: string, n: number): string {
  return text.trimEnd().split('\n').map((l) => ' '.repeat(n) + l).join('\n');
}

function cips(): string {
  const issuer = srv.url + '/oidc';
  return `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: keyless-alice
spec:
  images:
  - glob: "${reg.host}/adm/keyless/**"
  authorities:
  - name: alice
    keyless:
      url: ${srv.url}
      identities:
      - issuer: ${issuer}
        subject: alice@example.com
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: keyed
spec:
  images:
  - glob: "${reg.host}/adm/key/**"
  authorities:
  - key:
      data: |
${indent(pem(keys), 8)}
---
apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: keyed-other
spec:
  images:
  - glob: "${reg.host}/adm/otherkey/**"
  authorities:
  - key:
      data: |
${indent(pem(otherKeys), 8)}
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: warn-only
spec:
  mode: warn
  images:
  - glob: "${reg.host}/adm/warn/**"
  authorities:
  - static:
      action: fail
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: provenance
spec:
  images:
  - glob: "${reg.host}/adm/att/**"
  authorities:
  - name: alice-provenance
    keyless:
      identities:
      - issuer: ${issuer}
        subject: alice@example.com
    attestations:
    - name: built-by-example
      predicateType: slsaprovenance1
      policy:
        type: cue
        data: |
          predicate: runDetails: builder: id: "https://example.com/builder"
`;
}

function review(object: unknown, opts: { namespace?: string; operation?: string; kind?: string } = {}) {
  const o = object as { kind: string; apiVersion: string };
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${++uidN}`,
      kind: { group, version, kind: opts.kind ?? o.kind },
      resource: { group, version, resource: o.kind.toLowerCase() + 's' },
      namespace: opts.namespace ?? 'secure',
      operation: opts.operation ?? 'CREATE',
      userInfo: { username: 'test' },
      object,
      dryRun: false,
    },
  };
}

function post(path: string, body: unknown, raw = false): Promise<{ status: number; json: any }> {
  const url = new URL(path, adm.url);
  const data = Buffer.from(raw ? String(body) : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', ca, headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        try {
          resolve({ status: res.statusCode!, json: JSON.parse(text) });
        } catch {
          reject(new Error(`not JSON (${res.statusCode}): ${text}`));
        }
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

function get(path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    request(new URL(path, adm.url), { ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
    })
      .on('error', reject)
      .end();
  });
}

/** admission.k8s.io/v1 AdmissionReview response shape, as the API server checks it. */
function checkResponseShape(out: any, uid: string): void {
  assert.equal(out.apiVersion, 'admission.k8s.io/v1');
  assert.equal(out.kind, 'AdmissionReview');
  assert.equal(out.response.uid, uid);
  assert.equal(typeof out.response.allowed, 'boolean');
  const allowedKeys = new Set(['uid', 'allowed', 'status', 'patch', 'patchType', 'auditAnnotations', 'warnings']);
  for (const k of Object.keys(out.response)) assert.ok(allowedKeys.has(k), `unexpected response field ${k}`);
  if (out.response.status) {
    assert.equal(typeof out.response.status.code, 'number');
    assert.equal(typeof out.response.status.message, 'string');
  }
  if (out.response.warnings) assert.ok(Array.isArray(out.response.warnings) && out.response.warnings.every((w: unknown) => typeof w === 'string'));
  if (out.response.patch !== undefined) {
    assert.equal(out.response.patchType, 'JSONPatch');
    assert.match(out.response.patch, /^[A-Za-z0-9+/]*={0,2}$/);
  }
}

/** RFC 6902 `replace` (all the webhook emits), applied by hand: the path must exist. */
function applyPatch(doc: any, patch: Array<{ op: string; path: string; value: unknown }>): any {
  const copy = JSON.parse(JSON.stringify(doc));
  for (const p of patch) {
    assert.equal(p.op, 'replace');
    const parts = p.path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    let at = copy;
    for (const k of parts.slice(0, -1)) {
      assert.ok(at[k] !== undefined, `patch path ${p.path} does not exist`);
      at = at[k];
    }
    const last = parts[parts.length - 1]!;
    assert.ok(last in at, `patch path ${p.path} does not exist`);
    at[last] = p.value;
  }
  return copy;
}

const deployment = (name: string, images: string[]) => parseYaml(kubectlDeployment(name, images));

before(async () => {
  [reg, srv] = await Promise.all([startRegistry(), startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true })]);
  client = new RegistryClient({});
  const services = resolveKeylessServices(parseSigningConfig(readFileSync(srv.signingConfigPath)));
  alice = await obtainKeylessSigner(services, await token('alice@example.com'));
  mallory = await obtainKeylessSigner(services, await token('mallory@example.com'));
  await Promise.all([
    push('alice', 'adm/keyless/app'),
    push('alice2', 'adm/keyless/init'),
    push('unsigned', 'adm/keyless/unsigned'),
    push('mallory', 'adm/keyless/mallory'),
    push('keyed', 'adm/key/app'),
    push('otherkey', 'adm/otherkey/app'),
    push('warn', 'adm/warn/app'),
    push('nomatch', 'adm/elsewhere/app'),
    push('attGood', 'adm/att/good'),
    push('attBad', 'adm/att/bad'),
    push('attNone', 'adm/att/none'),
    push('attMallory', 'adm/att/mallory'),
  ]);
  const provenance = (builder: string) => Buffer.from(JSON.stringify({ buildDefinition: { buildType: 'https://example.com/build/v1', externalParameters: {} }, runDetails: { builder: { id: builder } } }));
  await attestImages({ client, signer: alice.signer, keyless: alice, images: [img.attGood!.byDigest], predicate: provenance('https://example.com/builder'), type: 'slsaprovenance1' });
  await attestImages({ client, signer: alice.signer, keyless: alice, images: [img.attBad!.byDigest], predicate: provenance('https://evil.example.com/builder'), type: 'slsaprovenance1' });
  await attestImages({ client, signer: mallory.signer, keyless: mallory, images: [img.attMallory!.byDigest], predicate: provenance('https://example.com/builder'), type: 'slsaprovenance1' });
  await signImages({ client, signer: alice.signer, keyless: alice, images: [img.attNone!.byDigest] });
  await signImages({ client, signer: alice.signer, keyless: alice, images: [img.alice!.byDigest, img.alice2!.byDigest] });
  await signImages({ client, signer: mallory.signer, keyless: mallory, images: [img.mallory!.byDigest] });
  const tlog = await tlogTarget({ tlogUpload: true, rekorUrl: srv.url });
  const signer = signerFromPrivateKey(keys.privateKey);
  await signImages({ client, signer, images: [img.keyed!.byDigest, img.otherkey!.byDigest], tlog: tlog! });
  mkdirSync(policyDir);
  writeFileSync(join(policyDir, 'cips.yaml'), cips());
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-days', '1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
  ca = readFileSync(join(dir, 'tls.crt'));
  const root = await loadTrustedRoot(srv.trustedRootPath);
  trust = { name: srv.trustedRootPath, root, material: prepareTrust(root) };
  adm = await startAdmissionServer({
    policies: [policyDir],
    loadOptions: { defaultTrust: trust },
    client,
    tlsCert: join(dir, 'tls.crt'),
    tlsKey: join(dir, 'tls.key'),
    listen: '127.0.0.1:0',
    namespaces: new Map<string, Record<string, string>>([
      ['secure', { 'policy.sigstore.dev/include': 'true' }],
      ['open', {}],
    ]),
    log: false,
    reloadDelayMs: 50,
  });
});

after(async () => {
  await adm?.close();
  await client?.close();
  await Promise.all([reg?.stop(), srv?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('validating', () => {
  test('a Deployment (kubectl) of an image signed keyless by the right identity is admitted; the answer is a v1 AdmissionReview', async () => {
    const body = review(deployment('web', [img.alice!.byTag]));
    const r = await post('/validate', body);
    assert.equal(r.status, 200);
    checkResponseShape(r.json, body.request.uid);
    assert.equal(r.json.response.allowed, true, JSON.stringify(r.json));
  });

  test('unsigned, wrong identity, wrong key: denied, each image named with the policy, the authority and why', async () => {
    const body = review(deployment('bad', [img.unsigned!.byTag, img.mallory!.byTag, img.otherkey!.byTag]));
    const r = await post('/validate', body);
    checkResponseShape(r.json, body.request.uid);
    const res = r.json.response;
    assert.equal(res.allowed, false);
    assert.equal(res.status.code, 403);
    const m: string = res.status.message;
    assert.match(m, new RegExp(`spec\\.template\\.spec\\.containers\\[0\\]\\.image: ${img.unsigned!.byTag.replace(/[.]/g, '\\.')}: policy keyless-alice: authority alice: no signatures found`));
    assert.match(m, /containers\[1\]\.image: .*mallory.*policy keyless-alice: authority alice: .*mallory@example\.com.*does not match.*alice@example\.com/);
    assert.match(m, /containers\[2\]\.image: .*otherkey.*policy keyed-other: authority authority-0: no matching signatures/);
  });

  test('verdicts are cached per repository: the same manifest copied into a repository without signatures is denied', async () => {
    const src = img.alice!.repo;
    const dst = { registry: reg.host, repository: 'adm/keyless/copied' };
    const m = await client.getManifest(src, img.alice!.digest);
    for (const d of [m.json.config, ...m.json.layers]) await client.putBlob(dst, await client.getBlob(src, d.digest));
    await client.putManifest(dst, 'v1', m.bytes, m.mediaType);
    assert.equal((await post('/validate', review(deployment('orig', [img.alice!.byDigest])))).json.response.allowed, true);
    const copy = `${reg.host}/adm/keyless/copied@${img.alice!.digest}`;
    const r = await post('/validate', review(deployment('copy', [copy])));
    assert.equal(r.json.response.allowed, false);
    assert.match(r.json.response.status.message, /adm\/keyless\/copied.*no signatures found/);
  });

  test('a key authority admits what its key signed (with the log entry checked against the trusted root)', async () => {
    const body = review(deployment('keyed', [img.keyed!.byDigest]));
    const r = await post('/validate', body);
    assert.equal(r.json.response.allowed, true, JSON.stringify(r.json));
  });

  test('mode: warn admits with a warning naming the policy', async () => {
    const body = review(deployment('w', [img.warn!.byTag]));
    const r = await post('/validate', body);
    checkResponseShape(r.json, body.request.uid);
    assert.equal(r.json.response.allowed, true);
    assert.equal(r.json.response.warnings.length, 1);
    assert.match(r.json.response.warnings[0], /policy warn-only: authority authority-0: disallowed by static policy/);
  });

  test('a namespace without the include label is not checked', async () => {
    const body = review(deployment('open', [img.unsigned!.byTag]), { namespace: 'open' });
    const r = await post('/validate', body);
    assert.equal(r.json.response.allowed, true);
    const unknown = review(deployment('unknown', [img.unsigned!.byTag]), { namespace: 'nowhere' });
    assert.equal((await post('/validate', unknown)).json.response.allowed, true);
    // A namespaceObject in the request counts too.
    const withNs: any = review(deployment('nsobj', [img.unsigned!.byTag]), { namespace: 'open' });
    withNs.request.namespaceObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'open', labels: { 'policy.sigstore.dev/include': 'true' } } };
    assert.equal((await post('/validate', withNs)).json.response.allowed, false);
  });

  test('Jobs, CronJobs (kubectl) and Pods with init and ephemeral containers: every image is checked', async () => {
    const job = parseYaml(kubectlJob('j', img.unsigned!.byTag));
    const rj = await post('/validate', review(job));
    assert.equal(rj.json.response.allowed, false);
    assert.match(rj.json.response.status.message, /spec\.template\.spec\.containers\[0\]\.image/);
    const cron = parseYaml(kubectlCronJob('c', img.alice!.byTag));
    assert.equal((await post('/validate', review(cron))).json.response.allowed, true);
    const pod = parseYaml(handPod('p', { init: img.alice2!.byTag, main: img.alice!.byTag, ephemeral: img.unsigned!.byTag }));
    const rp = await post('/validate', review(pod));
    assert.equal(rp.json.response.allowed, false);
    assert.match(rp.json.response.status.message, /spec\.ephemeralContainers\[0\]\.image/);
    assert.doesNotMatch(rp.json.response.status.message, /initContainers/);
    const goodPod = parseYaml(handPod('p2', { init: img.alice2!.byTag, main: img.alice!.byTag }));
    assert.equal((await post('/validate', review(goodPod))).json.response.allowed, true);
    const badInit = parseYaml(handPod('p3', { init: img.unsigned!.byTag, main: img.alice!.byTag }));
    assert.match((await post('/validate', review(badInit))).json.response.status.message, /spec\.initContainers\[0\]\.image/);
  });

  test('UPDATE is checked; DELETE and CONNECT are allowed; other kinds are allowed', async () => {
    assert.equal((await post('/validate', review(deployment('u', [img.unsigned!.byTag]), { operation: 'UPDATE' }))).json.response.allowed, false);
    assert.equal((await post('/validate', review(deployment('d', [img.unsigned!.byTag]), { operation: 'DELETE' }))).json.response.allowed, true);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: {} };
    assert.equal((await post('/validate', review(cm))).json.response.allowed, true);
  });

  test('an image no policy matches is denied by default', async () => {
    const r = await post('/validate', review(deployment('nm', [img.nomatch!.byTag])));
    assert.equal(r.json.response.allowed, false);
    assert.match(r.json.response.status.message, /no ClusterImagePolicy matches this image/);
  });

  test('a registry that cannot be reached fails closed, naming the registry', async () => {
    const set = await loadPolicySet([policyDir], { defaultTrust: trust });
    const c = new RegistryClient({ retry: { retries: 0 } });
    try {
      const engine = new AdmissionEngine(set, { client: c });
      // A glob that matches a registry on a port nothing listens on.
      set.policies[0]!.globs.push({ glob: '127.0.0.1:9/**', re: /^127\.0\.0\.1:9\// });
      const v = await engine.evaluate('127.0.0.1:9/adm/app:v1');
      assert.equal(v.verdict, 'fail');
      assert.match(v.errors[0]!, /127\.0\.0\.1:9/);
    } finally {
      await c.close();
    }
  });

  test('a malformed AdmissionReview is a 400 with a JSON body', async () => {
    const notJson = await post('/validate', '{nope', true);
    assert.equal(notJson.status, 400);
    assert.equal(typeof notJson.json.message, 'string');
    const wrongKind = await post('/validate', { apiVersion: 'admission.k8s.io/v1', kind: 'Pod' });
    assert.equal(wrongKind.status, 400);
    assert.match(wrongKind.json.message, /not an AdmissionReview: kind/);
    const noUid = await post('/mutate', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'CREATE' } });
    assert.equal(noUid.status, 400);
    assert.match(noUid.json.message, /request\.uid/);
    const v1beta1 = await post('/validate', { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x', operation: 'CREATE' } });
    assert.equal(v1beta1.status, 400);
  });
});

describe('attestations', () => {
  test('an attestation by the right identity that passes its CUE policy is admitted', async () => {
    const r = await post('/validate', review(deployment('att', [img.attGood!.byTag])));
    assert.equal(r.json.response.allowed, true, JSON.stringify(r.json));
  });

  test('a failing attestation policy, a missing attestation, an attestation by the wrong identity: denied with the reason', async () => {
    const r = await post('/validate', review(deployment('att', [img.attBad!.byTag, img.attNone!.byTag, img.attMallory!.byTag])));
    assert.equal(r.json.response.allowed, false);
    const m: string = r.json.response.status.message;
    assert.match(m, /containers\[0\]\.image: .*adm\/att\/bad.*policy provenance: authority alice-provenance: attestation built-by-example \(https:\/\/slsa\.dev\/provenance\/v1\): .*validation errors?.*evil\.example\.com/);
    assert.match(m, /containers\[1\]\.image: .*adm\/att\/none.*attestation built-by-example .*(no attestations|none of the attestations)/);
    assert.match(m, /containers\[2\]\.image: .*adm\/att\/mallory.*attestation built-by-example .*mallory@example\.com/);
  });
});

/** A TrustRoot resource (sigstoreKeys: base64 of PEM, as the CRD's []byte fields) made from a trusted_root.json. */
function trustRootYaml(name: string, rootJson: any): string {
  const b64pem = (label: string, der: string) => Buffer.from(`-----BEGIN ${label}-----\n${der.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`).toString('base64');
  const auths = (list: any[]) => list.map((c) => `    - subject: {organization: signet, commonName: test}\n      uri: ${c.uri}\n      certChain: ${c.certChain.certificates.map((x: any) => b64pem('CERTIFICATE', x.rawBytes)).join('')}`).join('\n');
  const tlog = rootJson.tlogs[0];
  return [
    'apiVersion: policy.sigstore.dev/v1alpha1',
    'kind: TrustRoot',
    `metadata: {name: ${name}}`,
    'spec:',
    '  sigstoreKeys:',
    '    certificateAuthorities:',
    auths(rootJson.certificateAuthorities),
    '    timestampAuthorities:',
    auths(rootJson.timestampAuthorities),
    '    tLogs:',
    `    - baseURL: ${tlog.baseUrl}`,
    '      hashAlgorithm: sha-256',
    `      publicKey: ${b64pem('PUBLIC KEY', tlog.publicKey.rawBytes)}`,
    '',
  ].join('\n');
}

describe('trust roots', () => {
  test('a TrustRoot (sigstoreKeys of the private Sigstore) named by trustRootRef admits its signatures; the public-good default does not', async () => {
    const trDir = join(dir, 'trustroot');
    mkdirSync(trDir);
    const issuer = srv.url + '/oidc';
    const cip = (name: string, ref: string) =>
      `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: ${name}}\nspec:\n  images: [{glob: "${reg.host}/adm/keyless/**"}]\n  authorities:\n  - keyless:\n${ref}      identities: [{issuer: "${issuer}", subject: alice@example.com}]\n`;
    writeFileSync(join(trDir, 'a.yaml'), trustRootYaml('private', JSON.parse(readFileSync(srv.trustedRootPath, 'utf8'))) + '---\n' + cip('private-sigstore', '      trustRootRef: private\n'));
    const c = new RegistryClient({});
    try {
      // No --trusted-root: authorities without a trustRootRef get the public-good root.
      const withRef = new AdmissionEngine(await loadPolicySet([trDir]), { client: c });
      const ok = await withRef.evaluate(img.alice!.byTag);
      assert.equal(ok.verdict, 'pass', JSON.stringify(ok.errors));
      const deny = await withRef.evaluate(img.mallory!.byTag);
      assert.equal(deny.verdict, 'fail');
      writeFileSync(join(trDir, 'a.yaml'), cip('public-good', ''));
      const publicGood = new AdmissionEngine(await loadPolicySet([trDir]), { client: c });
      const v = await publicGood.evaluate(img.alice!.byTag);
      assert.equal(v.verdict, 'fail');
      assert.match(v.errors[0]!, /policy public-good: authority authority-0: /);
    } finally {
      await c.close();
    }
  });
});

describe('authority options', () => {
  test('source.oci reads signatures from another repository; rfc3161timestamp: keyless signatures with a signed timestamp pass, key authorities cannot ask for one', async () => {
    const optDir = join(dir, 'options');
    mkdirSync(optDir);
    const issuer = srv.url + '/oidc';
    await push('elsewhereSigned', 'adm/src/app');
    await signImages({ client, signer: alice.signer, keyless: alice, images: [img.elsewhereSigned!.byDigest], signatureRepository: `${reg.host}/adm/signatures` });
    const root = JSON.parse(readFileSync(srv.trustedRootPath, 'utf8'));
    writeFileSync(
      join(optDir, 'p.yaml'),
      trustRootYaml('private', root) +
        `---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: signatures-elsewhere}
spec:
  images: [{glob: "${reg.host}/adm/src/**"}]
  authorities:
  - keyless:
      identities: [{issuer: "${issuer}", subject: alice@example.com}]
    source: [{oci: "${reg.host}/adm/signatures"}]
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: timestamped}
spec:
  images: [{glob: "${reg.host}/adm/keyless/app*"}, {glob: "${reg.host}/adm/key/**"}]
  authorities:
  - name: alice
    keyless:
      trustRootRef: private
      identities: [{issuer: "${issuer}", subject: alice@example.com}]
    rfc3161timestamp: {trustRootRef: private}
`,
    );
    const engine = new AdmissionEngine(await loadPolicySet([optDir], { defaultTrust: trust }), { client });
    const moved = await engine.evaluate(img.elsewhereSigned!.byTag);
    assert.equal(moved.verdict, 'pass', JSON.stringify(moved.errors));
    // The image's own repository has no signatures: without source.oci it would be denied.
    const plainDir = join(dir, 'options-plain');
    mkdirSync(plainDir);
    writeFileSync(join(plainDir, 'p.yaml'), readFileSync(join(optDir, 'p.yaml'), 'utf8').replace(`    source: [{oci: "${reg.host}/adm/signatures"}]\n`, ''));
    const plain = new AdmissionEngine(await loadPolicySet([plainDir], { defaultTrust: trust }), { client });
    const unmoved = await plain.evaluate(img.elsewhereSigned!.byTag);
    assert.equal(unmoved.verdict, 'fail');
    assert.match(unmoved.errors[0]!, /no signatures found/);
    // Keyless signatures from signet serve carry RFC 3161 timestamps; the keyed ones here do not.
    const stamped = await engine.evaluate(img.alice!.byTag);
    assert.equal(stamped.verdict, 'pass', JSON.stringify(stamped.errors));
    // A key authority cannot ask for them (refused at load rather than ignored).
    writeFileSync(join(plainDir, 'p.yaml'), `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: k}\nspec:\n  images: [{glob: "**"}]\n  authorities:\n  - key:\n      data: |\n${indent(pem(keys), 8)}\n    rfc3161timestamp: {}\n`);
    await assert.rejects(loadPolicySet([plainDir], { defaultTrust: trust }), /spec\.authorities\[0\]\.rfc3161timestamp: required signed timestamps are supported for keyless authorities only/);
  });
});

describe('mutating', () => {
  test('tags are patched to the digests the validating side verifies; the JSONPatch applies', async () => {
    const obj = deployment('m', [img.alice!.byTag, img.keyed!.byDigest]);
    const body = review(obj);
    const r = await post('/mutate', body);
    checkResponseShape(r.json, body.request.uid);
    assert.equal(r.json.response.allowed, true);
    const patch = JSON.parse(Buffer.from(r.json.response.patch, 'base64').toString());
    assert.equal(patch.length, 1, 'only the tag is patched');
    const patched = applyPatch(obj, patch);
    assert.equal(patched.spec.template.spec.containers[0].image, `${reg.host}/adm/keyless/app@${img.alice!.digest}`);
    assert.equal(patched.spec.template.spec.containers[1].image, img.keyed!.byDigest);
    // What is patched in is what the validating endpoint admits.
    assert.equal((await post('/validate', review(patched))).json.response.allowed, true);
  });

  test('CronJob and Pod paths (init and ephemeral containers) are patched at the right places', async () => {
    const cron = parseYaml(kubectlCronJob('c', img.alice!.byTag));
    const rc = await post('/mutate', review(cron));
    const pc = applyPatch(cron, JSON.parse(Buffer.from(rc.json.response.patch, 'base64').toString()));
    assert.equal(pc.spec.jobTemplate.spec.template.spec.containers[0].image, `${reg.host}/adm/keyless/app@${img.alice!.digest}`);
    const pod = parseYaml(handPod('p', { init: img.alice2!.byTag, main: img.alice!.byTag, ephemeral: img.keyed!.byTag }));
    const rp = await post('/mutate', review(pod));
    const pp = applyPatch(pod, JSON.parse(Buffer.from(rp.json.response.patch, 'base64').toString()));
    assert.equal(pp.spec.initContainers[0].image, `${reg.host}/adm/keyless/init@${img.alice2!.digest}`);
    assert.equal(pp.spec.ephemeralContainers[0].image, `${reg.host}/adm/key/app@${img.keyed!.digest}`);
  });

  test('nothing is patched in a namespace that is not opted in', async () => {
    const r = await post('/mutate', review(deployment('m2', [img.alice!.byTag]), { namespace: 'open' }));
    assert.equal(r.json.response.allowed, true);
    assert.equal(r.json.response.patch, undefined);
    assert.equal(r.json.response.patchType, undefined);
  });
});

describe('operations', () => {
  test('/healthz, /readyz and /metrics (reviews by verdict, latency histogram, cache hits)', async () => {
    assert.equal((await get('/healthz')).status, 200);
    const ready = await get('/readyz');
    assert.equal(JSON.parse(ready.text).policies, 5);
    // The same review twice: the second is served from the cache.
    await post('/validate', review(deployment('c1', [img.alice!.byTag])));
    await post('/validate', review(deployment('c2', [img.alice!.byTag])));
    const m = (await get('/metrics')).text;
    assert.match(m, /signet_admission_reviews_total\{endpoint="validate",verdict="allowed"\} [1-9]/);
    assert.match(m, /signet_admission_reviews_total\{endpoint="validate",verdict="denied"\} [1-9]/);
    assert.match(m, /signet_admission_reviews_total\{endpoint="validate",verdict="skipped"\} [1-9]/);
    assert.match(m, /signet_admission_review_duration_seconds_bucket\{endpoint="validate",le="\+Inf"\} [1-9]/);
    assert.match(m, /signet_admission_cache_hits_total [1-9]/);
    assert.match(m, /signet_http_requests_total/);
  });

  test('policies reload when their files change; a broken file keeps the old policies', async () => {
    const file = join(policyDir, 'cips.yaml');
    const before = adm.engine.policySet;
    writeFileSync(file, cips() + '---\napiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: broken}\nspec:\n  images: [{glob: "a b"}]\n  authorities: [{static: {action: pass}}]\n');
    assert.equal(await adm.reload(), false);
    assert.equal(adm.engine.policySet, before, 'the old set is still in use');
    assert.equal((await post('/validate', review(deployment('r1', [img.unsigned!.byTag])))).json.response.allowed, false);
    // A valid change: unsigned images of adm/keyless/unsigned now pass a static policy.
    writeFileSync(
      file,
      cips().replace('glob: "' + reg.host + '/adm/keyless/**"', 'glob: "' + reg.host + '/adm/keyless/app*"\n  - glob: "' + reg.host + '/adm/keyless/init*"\n  - glob: "' + reg.host + '/adm/keyless/mallory*"') +
        `---\napiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: allow-unsigned}\nspec:\n  images: [{glob: "${reg.host}/adm/keyless/unsigned**"}]\n  authorities: [{static: {action: pass}}]\n`,
    );
    // The watcher picks it up by itself.
    for (let i = 0; i < 100 && adm.engine.policySet.policies.length !== 6; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(adm.engine.policySet.policies.length, 6);
    assert.equal((await post('/validate', review(deployment('r2', [img.unsigned!.byTag])))).json.response.allowed, true);
    writeFileSync(file, cips());
    assert.equal(await adm.reload(), true);
  });

  test('a policy file given by path is reloaded when it is replaced by a rename (as editors and ConfigMap mounts do)', async () => {
    const fdir = join(dir, 'single');
    mkdirSync(fdir);
    const f = join(fdir, 'cip.yaml');
    const one = (name: string) => `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: ${name}}\nspec:\n  images: [{glob: "**"}]\n  authorities: [{static: {action: pass}}]\n`;
    writeFileSync(f, one('first'));
    const a = await startAdmissionServer({ policies: [f], client, tlsCert: join(dir, 'tls.crt'), tlsKey: join(dir, 'tls.key'), listen: '127.0.0.1:0', log: false, reloadDelayMs: 20 });
    const current = (): string => a.engine.policySet.policies[0]!.name;
    try {
      assert.equal(current(), 'first');
      writeFileSync(f + '.tmp', one('second'));
      renameSync(f + '.tmp', f);
      for (let i = 0; i < 100 && current() !== 'second'; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(current(), 'second');
      // And again: the watch survives the first replacement.
      writeFileSync(f + '.tmp', one('third'));
      renameSync(f + '.tmp', f);
      for (let i = 0; i < 100 && current() !== 'third'; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(current(), 'third');
    } finally {
      await a.close();
    }
  });

  test('--namespaces FILE is re-read when it changes (the sync CronJob of deploy/ rewrites it)', async () => {
    const nsDir = join(dir, 'ns');
    mkdirSync(nsDir);
    const nsFile = join(nsDir, 'namespaces.yaml');
    writeFileSync(nsFile, 'team: {}\n');
    const a = await startAdmissionServer({ policies: [policyDir], loadOptions: { defaultTrust: trust }, client, tlsCert: join(dir, 'tls.crt'), tlsKey: join(dir, 'tls.key'), listen: '127.0.0.1:0', log: false, reloadDelayMs: 20, namespacesFile: nsFile });
    try {
      const send = async () => {
        const body = review(deployment('ns', [img.unsigned!.byTag]), { namespace: 'team' });
        const data = Buffer.from(JSON.stringify(body));
        return new Promise<boolean>((resolve, reject) => {
          request(new URL('/validate', a.url), { method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString()).response.allowed));
          })
            .on('error', reject)
            .end(data);
        });
      };
      assert.equal(await send(), true, 'not opted in yet');
      writeFileSync(nsFile + '.tmp', 'team: {policy.sigstore.dev/include: "true"}\n');
      renameSync(nsFile + '.tmp', nsFile);
      let allowed = true;
      for (let i = 0; i < 100 && allowed; i++) {
        allowed = await send();
        if (allowed) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(allowed, false, 'checked once the label is in the file');
    } finally {
      await a.close();
    }
  });

  test('no-match deny, warn and allow', async () => {
    const set = await loadPolicySet([policyDir], { defaultTrust: trust });
    for (const [noMatch, verdict] of [['deny', 'fail'], ['warn', 'warn'], ['allow', 'pass']] as const) {
      const v = await new AdmissionEngine(set, { client, noMatch }).evaluate(img.nomatch!.byTag);
      assert.equal(v.verdict, verdict);
      assert.equal(v.noMatch, true);
    }
  });
});

describe('TLS', () => {
  test('a new certificate and key in the files are served to new connections without a restart', async () => {
    const oldCa = ca;
    const next = join(dir, 'next');
    mkdirSync(next);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=renewed', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', join(next, 'tls.key'), '-out', join(next, 'tls.crt')], { stdio: 'ignore' });
    writeFileSync(join(dir, 'tls.key'), readFileSync(join(next, 'tls.key')));
    writeFileSync(join(dir, 'tls.crt'), readFileSync(join(next, 'tls.crt')));
    ca = readFileSync(join(next, 'tls.crt'));
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await get('/healthz').then((r) => r.status, () => 0);
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200, 'the renewed certificate is served');
    ca = oldCa;
    await assert.rejects(get('/healthz'), /self[- ]signed|certificate/i);
    ca = readFileSync(join(next, 'tls.crt'));
  });
});

describe('signet admission test', () => {
  test('same engine from the command line: a JSON verdict per image, exit 1 when any is denied', async () => {
    const args = ['admission', 'test', '--policies', policyDir, '--trusted-root', srv.trustedRootPath];
    const ok = await runCli([...args, img.alice!.byTag, img.warn!.byTag]);
    assert.equal(ok.code, 0, ok.stderr);
    const lines = ok.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.verdict), ['pass', 'warn']);
    assert.equal(lines[0].digest, img.alice!.digest);
    const bad = await runCli([...args, img.alice!.byTag, img.mallory!.byTag]);
    assert.equal(bad.code, 1);
    const out = bad.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(out[1].verdict, 'fail');
    assert.match(out[1].errors[0], /policy keyless-alice: authority alice/);
    assert.match(bad.stderr, /mallory.*: denied/);
    const allow = await runCli([...args, '--no-match', 'allow', img.nomatch!.byTag]);
    assert.equal(allow.code, 0, allow.stderr);
    const usage = await runCli(['admission', 'test', img.alice!.byTag]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--policies/);
  });

  test('the webhook refuses to start on a broken policy file (naming file and field) or without TLS', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: b}\nspec:\n  images: [{glob: "**"}]\n  authorities: [{static: {action: perhaps}}]\n');
    const r = await runCli(['admission', '--policies', bad, '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--listen', '127.0.0.1:0']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^Error: .*bad\.yaml \(document 1\): ClusterImagePolicy b: spec\.authorities\[0\]\.static\.action: expected pass or fail, got "perhaps"\n$/);
    const noTls = await runCli(['admission', '--policies', policyDir]);
    assert.equal(noTls.code, 2);
    assert.match(noTls.stderr, /--tls-cert and --tls-key/);
    const help = await runCli(['admission', 'test', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Examples:\n {2}signet admission test --policies/);
  });
});
