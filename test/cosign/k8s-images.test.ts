/** The images of Kubernetes manifests: kubectl-generated and hand-written workloads, lists, JSON, bad input. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { manifestImages } from '../../src/cosign/k8s-images.js';
import { throwsCode } from '../helpers/assert.js';
import { handDaemonSet, handPod, handStatefulSet, kubectlCronJob, kubectlDeployment, kubectlJob, yamlStream } from '../helpers/k8s.js';

describe('manifestImages', () => {
  test('every workload kind in one multi-document stream, init and ephemeral containers included', () => {
    const src = yamlStream([
      kubectlDeployment('web', ['reg.example/web:1', 'reg.example/sidecar:2']),
      kubectlJob('migrate', 'reg.example/migrate:3'),
      kubectlCronJob('nightly', 'reg.example/backup@sha256:' + 'ab'.repeat(32)),
      handPod('debug', { init: 'reg.example/init:1', main: 'reg.example/pod:1', ephemeral: 'reg.example/busybox:1' }),
      handStatefulSet('db', { init: 'reg.example/db-init:1', main: 'reg.example/db:16' }),
      handDaemonSet('agent', { main: 'reg.example/agent:7' }),
      '', // a trailing empty document
    ]);
    const found = manifestImages(src);
    assert.deepEqual(
      found.map((i) => `${i.document} ${i.object} ${i.path} ${i.ref}`),
      [
        '1 Deployment/web spec.template.spec.containers[0] reg.example/web:1',
        '1 Deployment/web spec.template.spec.containers[1] reg.example/sidecar:2',
        '2 Job/migrate spec.template.spec.containers[0] reg.example/migrate:3',
        `3 CronJob/nightly spec.jobTemplate.spec.template.spec.containers[0] reg.example/backup@sha256:${'ab'.repeat(32)}`,
        '4 Pod/debug spec.initContainers[0] reg.example/init:1',
        '4 Pod/debug spec.containers[0] reg.example/pod:1',
        '4 Pod/debug spec.ephemeralContainers[0] reg.example/busybox:1',
        '5 StatefulSet/db spec.template.spec.initContainers[0] reg.example/db-init:1',
        '5 StatefulSet/db spec.template.spec.containers[0] reg.example/db:16',
        '6 DaemonSet/agent spec.template.spec.containers[0] reg.example/agent:7',
      ],
    );
    assert.equal(found[4]!.container, 'init');
  });

  test('kind: List items, JSON, and documents without pods (a Service, a ConfigMap) contribute what they hold', () => {
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'reg.example/p:1' }] } }, { kind: 'Service', metadata: { name: 's' }, spec: { ports: [] } }] });
    assert.deepEqual(
      manifestImages(list).map((i) => `${i.object} ${i.path}`),
      ['Pod/p items[0].spec.containers[0]'],
    );
    assert.deepEqual(manifestImages('kind: ConfigMap\ndata: {image: not/this}\n---\n# only a comment\n'), []);
  });

  test('bad manifests get one clear line naming the document', () => {
    throwsCode(() => manifestImages('kind: Pod\nspec:\n  containers: [\n'), 'MALFORMED', /document 1: not valid YAML/);
    throwsCode(() => manifestImages('kind: Pod\n---\n- a\n- b\n'), 'MALFORMED', /document 2: expected a Kubernetes object/);
    throwsCode(() => manifestImages('kind: Pod\nmetadata: {name: x}\nspec:\n  containers: {name: c}\n'), 'MALFORMED', /Pod\/x\): spec.containers is not a list/);
    throwsCode(() => manifestImages('kind: Pod\nspec:\n  containers:\n  - image: 42\n'), 'MALFORMED', /image is not a string/);
  });
});
