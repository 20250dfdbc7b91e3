/**
 * deploy/: every manifest decodes with the real kubectl (offline: `kubectl annotate --local`, which
 * reads each object with kubectl's own decoder; `kubectl apply --dry-run=client` needs an API server for
 * discovery, which this machine does not have), the pieces fit together (Service ↔ container port ↔
 * --listen, webhook paths, mounted paths ↔ flags, the workload kinds), the example policy and the
 * namespaces ConfigMap load, and `signet admission` starts with the Deployment's own arguments.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadNamespaces, loadPolicySet } from '../../src/admission/index.js';
import { MAIN } from '../helpers/cli.js';
import { aptInstall } from '../helpers/apt.js';
import { existsSync } from 'node:fs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const deployDir = join(repo, 'deploy');
const dir = mkdtempSync(join(tmpdir(), 'signet-admission-deploy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kubectl(args: string[], input?: string): string {
  if (!existsSync('/usr/bin/kubectl')) aptInstall('kubernetes-client');
  return execFileSync('kubectl', args, { encoding: 'utf8', input: input ?? '', env: { ...process.env, KUBECONFIG: '/dev/null' } });
}

type Obj = Record<string, any>;
let objects: Obj[] = [];
const find = (kind: string, name?: string): Obj => {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `no ${kind} ${name ?? ''} in deploy/`);
  return o;
};

test('kubectl decodes every manifest in deploy/', () => {
  const docs = parseAllDocuments(kubectl(['annotate', '--local', '-f', deployDir, 'signet.dev/checked=true', '-o', 'yaml'])).map((d) => d.toJS() as Obj);
  objects = docs.flatMap((o) => (o.kind === 'List' ? o.items : [o]));
  assert.ok(objects.every((o) => o.metadata.annotations['signet.dev/checked'] === 'true'));
  const kinds = objects.map((o) => o.kind).sort();
  for (const k of ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment', 'Service', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'CronJob']) {
    assert.ok(kinds.includes(k), `deploy/ has no ${k}`);
  }
});

test('the pieces fit: Service → container port → --listen; webhook paths; mounts → flags; workload kinds; namespace selector', () => {
  const svc = find('Service', 'signet-admission');
  const dep = find('Deployment', 'signet-admission');
  const c = dep.spec.template.spec.containers[0];
  const args: string[] = c.args;
  const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  assert.equal(args[0], 'admission');
  const port = c.ports.find((p: Obj) => p.name === svc.spec.ports[0].targetPort);
  assert.ok(port, 'the Service targets a named container port');
  assert.equal(flag('listen'), `:${port.containerPort}`);
  assert.deepEqual(svc.spec.selector, dep.spec.template.metadata.labels);
  const mounts: Obj[] = c.volumeMounts;
  for (const f of ['policies', 'namespaces', 'tls-cert', 'tls-key']) {
    const path = flag(f)!;
    assert.ok(mounts.some((m) => path.startsWith(m.mountPath)), `--${f}=${path} is not under a mounted volume`);
  }
  // Secrets and ConfigMaps for secretRef/configMapRef: each its own volume at DIR/<object name>, no subPath.
  const volumes: Obj[] = dep.spec.template.spec.volumes;
  for (const [f, field, nameOf] of [['secrets-dir', 'secret', (v: Obj) => v.secret?.secretName], ['configmaps-dir', 'configMap', (v: Obj) => v.configMap?.name]] as const) {
    const d = flag(f)!;
    assert.ok(d, `no --${f}`);
    const under = mounts.filter((m) => m.mountPath.startsWith(d + '/'));
    assert.ok(under.length > 0, `nothing mounted under --${f}=${d}`);
    for (const m of under) {
      const v = volumes.find((x) => x.name === m.name)!;
      assert.ok(v[field], `${m.mountPath} is not a ${field} volume`);
      assert.equal(m.mountPath, `${d}/${nameOf(v)}`);
      assert.equal(m.subPath, undefined);
    }
  }
  assert.equal(dep.spec.template.spec.automountServiceAccountToken, false);
  for (const [kind, path] of [['MutatingWebhookConfiguration', '/mutate'], ['ValidatingWebhookConfiguration', '/validate']] as const) {
    const wh = find(kind).webhooks[0];
    assert.deepEqual(wh.admissionReviewVersions, ['v1']);
    assert.equal(wh.sideEffects, 'None');
    assert.equal(wh.failurePolicy, 'Fail');
    assert.equal(wh.clientConfig.service.name, svc.metadata.name);
    assert.equal(wh.clientConfig.service.namespace, svc.metadata.namespace);
    assert.equal(wh.clientConfig.service.port, svc.spec.ports[0].port);
    assert.equal(wh.clientConfig.service.path, path);
    assert.ok(wh.timeoutSeconds * 1000 > 9000, 'the webhook timeout leaves room for --review-timeout');
    const resources = wh.rules.flatMap((r: Obj) => r.resources);
    for (const r of ['pods', 'deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs']) assert.ok(resources.includes(r), `${kind} does not send ${r}`);
    assert.ok(wh.rules.every((r: Obj) => r.operations.includes('CREATE') && r.operations.includes('UPDATE')));
    const sel = wh.namespaceSelector.matchExpressions;
    assert.ok(sel.some((e: Obj) => e.key === 'policy.sigstore.dev/include' && e.operator === 'In' && e.values.includes('true')));
    assert.ok(sel.some((e: Obj) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn' && e.values.includes('signet-system')));
  }
});

test('the example policy and the namespaces ConfigMap load; a namespace list from kubectl is read as the sync job writes it', async () => {
  const policies = find('ConfigMap', 'signet-admission-policies');
  const pdir = join(dir, 'policies');
  mkdirSync(pdir);
  for (const [k, v] of Object.entries(policies.data as Record<string, string>)) writeFileSync(join(pdir, k), v);
  const set = await loadPolicySet([pdir]);
  assert.equal(set.policies.length, 1);
  const ns = find('ConfigMap', 'signet-admission-namespaces');
  writeFileSync(join(dir, 'ns.yaml'), ns.data['namespaces.yaml']);
  assert.equal((await loadNamespaces(join(dir, 'ns.yaml'))).size, 0);
  // What `kubectl get namespaces -o yaml` prints: a List of Namespaces (made here offline by kubectl).
  const labelled = kubectl(['label', '--local', '-f', '-', 'policy.sigstore.dev/include=true', '-o', 'json'], kubectl(['create', 'namespace', 'prod', '--dry-run=client', '-o', 'yaml']));
  const plain = kubectl(['create', 'namespace', 'dev', '--dry-run=client', '-o', 'json']);
  writeFileSync(join(dir, 'list.yaml'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [JSON.parse(labelled), JSON.parse(plain)] }));
  const got = await loadNamespaces(join(dir, 'list.yaml'));
  assert.equal(got.get('prod')!['policy.sigstore.dev/include'], 'true');
  assert.deepEqual(Object.keys(got.get('dev') ?? {}).includes('policy.sigstore.dev/include'), false);
});

test('signet admission starts with the Deployment\'s arguments (paths moved into a temp dir) and answers /readyz', async () => {
  const c = find('Deployment', 'signet-admission').spec.template.spec.containers[0];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=signet-admission.signet-system.svc', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
  writeFileSync(join(dir, 'namespaces.yaml'), 'apiVersion: v1\nkind: List\nitems: []\n');
  const moved: Record<string, string> = { policies: join(dir, 'policies'), namespaces: join(dir, 'namespaces.yaml'), 'tls-cert': join(dir, 'tls.crt'), 'tls-key': join(dir, 'tls.key'), 'secrets-dir': join(dir, 'secrets'), 'configmaps-dir': join(dir, 'configmaps'), listen: '127.0.0.1:0' };
  mkdirSync(join(dir, 'secrets'));
  mkdirSync(join(dir, 'configmaps'));
  const args = (c.args as string[]).map((a) => {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    return m && moved[m[1]!] ? `--${m[1]}=${moved[m[1]!]}` : a;
  });
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Listening on (https:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => reject(new Error(`signet admission exited with ${code}: ${err}`)));
    });
    const status = await new Promise<number>((resolve, reject) => {
      request(new URL('/readyz', url), { ca: readFileSync(join(dir, 'tls.crt')) }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(status, 200);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
  }
});
