/**
 * ClusterImagePolicy and TrustRoot loading: policy-controller's glob semantics (the cases of its
 * `pkg/apis/glob` tests), its example policies (test/admission/fixtures, sources noted in each file), and
 * malformed files refused at load with the file, document and field named.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { AdmissionEngine, compileGlob, fullImageName, globMatches, imagePointer, loadNamespaces, loadPolicySet, writtenRepository } from '../../src/admission/index.js';
import { regoForCosign } from '../../src/admission/evaluators.js';
import { RegistryClient } from '../../src/oci/index.js';
import { isSignetError } from '../../src/index.js';
import { publicGoodTrustedRootBytes } from '../../src/sigstore/tuf.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const fixture = (name: string) => join(repo, 'test', 'admission', 'fixtures', name);
const dir = mkdtempSync(join(tmpdir(), 'signet-admission-policies-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (text: string): string => {
  const p = join(dir, `p${++n}.yaml`);
  writeFileSync(p, text);
  return p;
};

function matches(glob: string, image: string): boolean {
  return globMatches(compileGlob(glob), image, fullImageName(image));
}

describe('globs (policy-controller pkg/apis/glob cases)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['foo', 'index.docker.io/library/foo:latest', true],
    ['foo', 'index.docker.io/library/foo:*', true],
    ['foo', 'index.docker.io/library/*', true],
    ['foo', 'index.docker.io/*/*', true],
    ['foo', 'index.docker.io/**', true],
    ['foo', 'inde**', true],
    ['foo', '**', true],
    ['foo', 'foo', true],
    ['foo', 'foo*', true],
    ['myuser/myapp', 'index.docker.io/myuser/myapp:latest', true],
    ['myuser/myapp', 'index.docker.io/myuser/*', true],
    ['myuser/myapp', 'index.docker.io/*/*', true],
    ['myuser/myapp', 'myuser/myapp**', true],
    ['ghcr.io/foo/bar', 'ghcr.io/*/*', true],
    ['ghcr.io/foo/bar', 'ghcr.io/**', true],
    ['ghcr.io/foo', 'ghcr.io/*/*', false],
    ['ghcr.io/foo', 'ghcr.io/**', true],
    ['ghcr.io/foo', '*/**', true],
    ['ghcr.io/foo', 'ghcr.io/foo*', true],
    ['prefix-ghcr.io/foo', 'ghcr.io/foo', false],
    ['ghcr.io/foo-suffix', 'ghcr.io/foo', false],
    ['ghcrxio/foo', 'ghcr.io/**', false],
    ['foo', '*', true],
    ['myuser/myapp', '*/*', true],
    ['ghcr.io/foo@sha256:' + 'a'.repeat(64), 'ghcr.io/foo**', true],
  ];
  for (const [image, glob, want] of cases) {
    test(`${image} | ${glob} → ${want}`, () => assert.equal(matches(glob, image), want));
  }
  test('invalid globs and invalid references are refused', () => {
    assert.throws(() => compileGlob('.+'), /invalid glob/);
    assert.throws(() => compileGlob('[a-z]*'), /invalid glob/);
    assert.throws(() => fullImageName('invalid&name'), (e: unknown) => isSignetError(e, 'REFERENCE'));
  });
});

describe('helpers', () => {
  test('JSON pointers of container images, and the written name pinned to a digest', () => {
    assert.equal(imagePointer('spec.template.spec.containers[0]'), '/spec/template/spec/containers/0/image');
    assert.equal(imagePointer('spec.jobTemplate.spec.template.spec.initContainers[12]'), '/spec/jobTemplate/spec/template/spec/initContainers/12/image');
    assert.equal(writtenRepository('app:v1'), 'app');
    assert.equal(writtenRepository('localhost:5000/app'), 'localhost:5000/app');
    assert.equal(writtenRepository('localhost:5000/app:v1'), 'localhost:5000/app');
    assert.equal(writtenRepository('app:v1@sha256:' + 'b'.repeat(64)), 'app:v1');
  });

  test('--namespaces: Namespace objects, a List, or a mapping of name to labels', async () => {
    const objs = await loadNamespaces(file('apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {policy.sigstore.dev/include: "true"}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n'));
    assert.deepEqual(objs.get('a'), { 'policy.sigstore.dev/include': 'true' });
    assert.deepEqual(objs.get('b'), {});
    const list = await loadNamespaces(file(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ kind: 'Namespace', metadata: { name: 'c', labels: { x: 'y' } } }] })));
    assert.deepEqual(list.get('c'), { x: 'y' });
    const map = await loadNamespaces(file('prod: {policy.sigstore.dev/include: true}\ndev: {}\n'));
    assert.equal(map.get('prod')!['policy.sigstore.dev/include'], 'true');
    await assert.rejects(loadNamespaces(file('kind: Pod\nmetadata: {name: x}\n')), /expected Namespace objects/);
  });
});

describe('policy-controller examples', () => {
  test('signed-by-github-actions: loads; the identity is GitHub\'s issuer and the workflow; the public-good root by default', async () => {
    const set = await loadPolicySet([fixture('signed-by-github-actions.yaml')]);
    assert.equal(set.policies.length, 1);
    const p = set.policies[0]!;
    assert.equal(p.name, 'image-is-signed-by-github-actions');
    assert.equal(p.mode, 'enforce');
    const a = p.authorities[0]!;
    assert.equal(a.kind, 'keyless');
    assert.equal(a.name, 'authority-0');
    if (a.kind !== 'keyless') return;
    assert.deepEqual(a.identities, [{ issuer: 'https://token.actions.githubusercontent.com', identity: 'https://github.com/sigstore/policy-controller/.github/workflows/policy-tester-examples.yml@refs/head/main' }]);
    assert.equal(a.trust.name, 'public-good');
    // "**" matches every image, Docker Hub's short names included.
    assert.ok(p.globs[0]!.re.test(fullImageName('nginx')));
  });

  test('allow-only-pods: the CIP-level CUE policy sees the type meta: a Pod passes, a Deployment does not', async () => {
    const set = await loadPolicySet([fixture('allow-only-pods.yaml')]);
    const p = set.policies[0]!;
    assert.equal(p.policy?.includeTypeMeta, true);
    const client = new RegistryClient({});
    try {
      const engine = new AdmissionEngine(set, { client });
      // A digest reference: nothing to resolve, and the only authority is static, so no registry is asked.
      const image = 'ghcr.io/sigstore/timestamp-server@sha256:' + 'c'.repeat(64);
      const pod = await engine.evaluate(image, { object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: {} } });
      assert.equal(pod.verdict, 'pass', JSON.stringify(pod));
      const dep = await engine.evaluate(image, { object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: {} } });
      assert.equal(dep.verdict, 'fail');
      assert.match(dep.errors[0]!, /policy image-policy-typemeta-allow-only-pods: CIP-level policy failed: .*Deployment/);
      // Other images are not this policy's business.
      assert.equal(engine.matching('ghcr.io/sigstore/cosign:v2').length, 0);
    } finally {
      await client.close();
    }
  });

  test('custom-key- and keyless-attestation-sbom-spdxjson: spdxjson is SPDX\'s predicate type, and the CUE policy holds only for SPDX statements', async () => {
    for (const [f, kind] of [['custom-key-attestation-sbom-spdxjson.yaml', 'key'], ['keyless-attestation-sbom-spdxjson.yaml', 'keyless']] as const) {
      const set = await loadPolicySet([fixture(f)]);
      const a = set.policies[0]!.authorities[0]!;
      assert.equal(a.kind as string, kind);
      if (a.kind === 'static') throw new Error('not a static authority');
      assert.equal(a.attestations.length, 1);
      const rule = a.attestations[0]!;
      assert.equal(rule.name, 'must-have-spdxjson');
      assert.equal(rule.predicateType, 'https://spdx.dev/Document');
      const [spdx, other] = await rule.policy!.evaluate([
        { _type: 'https://in-toto.io/Statement/v0.1', predicateType: 'https://spdx.dev/Document', subject: [], predicate: {} },
        { _type: 'https://in-toto.io/Statement/v0.1', predicateType: 'https://cyclonedx.org/bom', subject: [], predicate: {} },
      ]);
      assert.equal(spdx!.ok, true);
      assert.equal(other!.ok, false);
    }
  });

  test('Rego written for policy-controller (package sigstore, isCompliant) is run with cosign\'s query', () => {
    const text = 'package sigstore\ndefault isCompliant = false\nisCompliant {\n  input.predicateType == "x"\n}\n';
    const out = regoForCosign(text);
    assert.match(out, /^package signature$/m);
    assert.match(out, /allow \{\n {2}isCompliant\n\}/);
    assert.equal(regoForCosign('package signature\nallow { true }\n'), 'package signature\nallow { true }\n');
  });

  test('signed-by-aws-kms-key: refused at load, naming the field and the KMS plug-in that would serve it', async () => {
    await assert.rejects(loadPolicySet([fixture('signed-by-aws-kms-key.yaml')]), (e: unknown) => {
      assert.ok(isSignetError(e, 'MALFORMED'));
      assert.match((e as Error).message, /signed-by-aws-kms-key\.yaml \(document 1\): ClusterImagePolicy image-is-signed-by-aws-kms-key: spec\.authorities\[0\]\.key\.kms: .*sigstore-kms-awskms/);
      return true;
    });
  });
});

describe('malformed policies: a clear error at load, naming the file and the field', () => {
  const cip = (spec: string, name = 'x') => `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: ${name}}\nspec:\n${spec}`;
  const cases: Array<[string, string, RegExp]> = [
    ['not YAML', 'a: [b\n', /not valid YAML/],
    ['wrong kind', 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n', /kind: expected ClusterImagePolicy or TrustRoot, got "Pod"/],
    ['wrong version', 'apiVersion: policy.sigstore.dev/v2\nkind: ClusterImagePolicy\nmetadata: {name: x}\nspec: {}\n', /apiVersion: ClusterImagePolicy must be/],
    ['no name', 'apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {}\nspec: {}\n', /metadata\.name: expected a non-empty string/],
    ['no images', cip('  authorities: [{static: {action: pass}}]\n'), /ClusterImagePolicy x: spec\.images: expected a list/],
    ['bad glob', cip('  images: [{glob: "a b"}]\n  authorities: [{static: {action: pass}}]\n'), /spec\.images\[0\]\.glob: invalid glob/],
    ['no authorities', cip('  images: [{glob: "**"}]\n  authorities: []\n'), /spec\.authorities: needs at least one authority/],
    ['two kinds', cip('  images: [{glob: "**"}]\n  authorities: [{static: {action: pass}, key: {data: x}}]\n'), /spec\.authorities\[0\]: exactly one of key, keyless or static is required \(got key, static\)/],
    ['bad static', cip('  images: [{glob: "**"}]\n  authorities: [{static: {action: maybe}}]\n'), /spec\.authorities\[0\]\.static\.action: expected pass or fail, got "maybe"/],
    ['bad key', cip('  images: [{glob: "**"}]\n  authorities: [{key: {data: "not a key"}}]\n'), /spec\.authorities\[0\]\.key\.data: /],
    ['secretRef', cip('  images: [{glob: "**"}]\n  authorities: [{key: {secretRef: {name: k}}}]\n'), /key\.secretRef: Secrets are read from volumes mounted under --secrets-dir/],
    ['identity without subject', cip('  images: [{glob: "**"}]\n  authorities: [{keyless: {identities: [{issuer: https://x}]}}]\n'), /keyless\.identities\[0\]: needs subject or subjectRegExp/],
    ['bad regexp', cip('  images: [{glob: "**"}]\n  authorities: [{keyless: {identities: [{issuer: https://x, subjectRegExp: "("}]}}]\n'), /keyless\.identities\[0\]: .*invalid regular expression/],
    ['unknown trust root', cip('  images: [{glob: "**"}]\n  authorities: [{keyless: {trustRootRef: nope, identities: [{issuer: i, subject: s}]}}]\n'), /keyless\.trustRootRef: no TrustRoot named "nope"/],
    ['bad mode', cip('  mode: audit\n  images: [{glob: "**"}]\n  authorities: [{static: {action: pass}}]\n'), /spec\.mode: expected enforce or warn, got "audit"/],
    ['bad policy type', cip('  images: [{glob: "**"}]\n  authorities: [{static: {action: pass}}]\n  policy: {type: js, data: x}\n'), /spec\.policy\.type: expected cue, rego or cel, got "js"/],
    ['remote policy', cip('  images: [{glob: "**"}]\n  authorities: [{static: {action: pass}}]\n  policy: {type: cue, remote: {url: "https://x"}}\n'), /spec\.policy\.remote: policies fetched from URLs are not supported/],
    ['twice', cip('  images: [{glob: "**"}]\n  authorities: [{static: {action: pass}}]\n') + '---\n' + cip('  images: [{glob: "**"}]\n  authorities: [{static: {action: pass}}]\n'), /ClusterImagePolicy x is defined twice/],
    ['remote TUF', 'apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata: {name: t}\nspec:\n  remote: {mirror: "https://tuf.example.com"}\n', /spec\.remote\.root: expected a non-empty string/],
  ];
  for (const [what, text, re] of cases) {
    test(what, async () => {
      const p = file(text);
      await assert.rejects(loadPolicySet([p]), (e: unknown) => {
        assert.ok(isSignetError(e), String(e));
        assert.ok((e as Error).message.startsWith(p), (e as Error).message);
        assert.match((e as Error).message, re);
        return true;
      });
    });
  }
  test('a missing path says so', async () => {
    await assert.rejects(loadPolicySet([join(dir, 'nope')]), /policies .*nope: no such file or directory/);
  });
});

describe('TrustRoot sigstoreKeys', () => {
  test('the public-good root given as sigstoreKeys (base64 of PEM, as in the CRD) loads as a trust root', async () => {
    const root = JSON.parse(publicGoodTrustedRootBytes().toString()) as any;
    const b64pem = (label: string, der: string) => Buffer.from(`-----BEGIN ${label}-----\n${der.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`).toString('base64');
    const ca = root.certificateAuthorities.at(-1);
    const tlog = root.tlogs[0]; // Rekor v1: its log ID is the SHA-256 of the key
    const yaml = [
      'apiVersion: policy.sigstore.dev/v1alpha1',
      'kind: TrustRoot',
      'metadata: {name: pg}',
      'spec:',
      '  sigstoreKeys:',
      '    certificateAuthorities:',
      `    - subject: {organization: sigstore.dev, commonName: sigstore}`,
      `      uri: ${ca.uri}`,
      `      certChain: ${ca.certChain.certificates.map((c: any) => b64pem('CERTIFICATE', c.rawBytes)).join('')}`,
      '    tLogs:',
      `    - baseURL: ${tlog.baseUrl}`,
      '      hashAlgorithm: sha-256',
      `      publicKey: ${b64pem('PUBLIC KEY', tlog.publicKey.rawBytes)}`,
      '---',
      'apiVersion: policy.sigstore.dev/v1beta1',
      'kind: ClusterImagePolicy',
      'metadata: {name: uses-pg}',
      'spec:',
      '  images: [{glob: "**"}]',
      '  authorities: [{keyless: {trustRootRef: pg, identities: [{issuer: i, subject: s}]}}]',
      '',
    ].join('\n');
    const set = await loadPolicySet([file(yaml)]);
    const a = set.policies[0]!.authorities[0]!;
    assert.equal(a.kind, 'keyless');
    if (a.kind !== 'keyless') return;
    assert.equal(a.trust.name, 'pg');
    assert.equal(a.trust.root.tlogs.length, 1);
    assert.equal(a.trust.root.tlogs[0]!.logId.toString('base64'), tlog.logId.keyId);
    assert.equal(a.trust.material.cas.length, 1);
    void readFileSync;
  });
});
