/**
 * `dockerfile verify` and `manifest verify` end to end: images in the real docker-registry, signed with
 * the library (one key), signed by another key, or not signed; the CLI names each image's verdict and
 * exits with the worst.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, publicKeyInfo, signerFromPrivateKey } from '../../src/keys/index.js';
import { RegistryClient } from '../../src/oci/index.js';
import { signImages } from '../../src/cosign/sign.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { startServer } from '../../src/server/serve.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { handDaemonSet, handPod, handStatefulSet, kubectlCronJob, kubectlDeployment, kubectlJob, yamlStream } from '../helpers/k8s.js';

let reg: RunningRegistry;
let client: RegistryClient;
const dir = mkdtempSync(join(tmpdir(), 'signet-images-in-files-'));
const good = generateKeyPair('ecdsa-p256');
const bad = generateKeyPair('ecdsa-p256');
const pubFile = join(dir, 'cosign.pub');
writeFileSync(pubFile, publicKeyInfo(good.publicKey).pem);

type Kind = 'signed' | 'unsigned' | 'wrong';
/** Push `repo:v1` and sign it as `kind` says (legacy .sig format when `legacy`); returns the reference. */
async function image(repo: string, kind: Kind, legacy = false): Promise<string> {
  await pushRandomImage(client, { registry: reg.host, repository: repo }, 'v1');
  const ref = `${reg.host}/${repo}:v1`;
  if (kind !== 'unsigned') {
    const keys = kind === 'signed' ? good : bad;
    await signImages({ client, signer: signerFromPrivateKey(keys.privateKey), images: [ref], newBundleFormat: !legacy });
  }
  return ref;
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const verifyArgs = ['--key', pubFile, '--insecure-ignore-tlog'];

interface Verdicts {
  file: string;
  exitCode: number;
  images: Array<{ image: string; verdict: string; exitCode: number; locations: string[]; signatures?: number; message?: string }>;
}

function verdicts(r: CliResult): Verdicts {
  return JSON.parse(r.stdout) as Verdicts;
}

before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({});
});
after(async () => {
  await client.close();
  await reg.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('dockerfile verify', () => {
  let signed: string;
  before(async () => {
    signed = await image('base/signed', 'signed');
    await image('base/unsigned', 'unsigned');
    await image('base/wrong', 'wrong');
    await image('base/legacy', 'signed', true);
  });

  const multiStage = () =>
    file(
      'Dockerfile',
      [
        '# syntax=docker/dockerfile:1',
        `ARG REGISTRY=${reg.host}`,
        'ARG TAG=v1',
        'ARG RUNTIME=base/unsigned',
        'FROM --platform=$BUILDPLATFORM ${REGISTRY}/base/signed:${TAG} AS build',
        'RUN <<EOF',
        `FROM ${reg.host}/base/not-an-instruction:v1`,
        'EOF',
        'FROM build AS test',
        'RUN make test',
        'FROM ${REGISTRY}/${RUNTIME}:$TAG AS runtime',
        'ARG REGISTRY',
        'ARG TAG',
        'COPY --from=build /out /app',
        'COPY --from=${REGISTRY}/base/wrong:${TAG} /bin/tool /usr/bin/tool',
        'FROM scratch AS empty',
        'FROM \\',
        '    ${REGISTRY}/base/legacy:${TAG} \\',
        '    AS legacy',
        'FROM runtime',
        'COPY --from=legacy / /',
        '',
      ].join('\n'),
    );

  test('multi-stage with ARGs: every image gets its verdict; the exit code is the worst (12: wrongly signed)', async () => {
    const df = multiStage();
    const r = await runCli(['dockerfile', 'verify', ...verifyArgs, '-o', 'json', df]);
    assert.equal(r.code, 12, r.stderr);
    const v = verdicts(r);
    assert.equal(v.exitCode, 12);
    const by = Object.fromEntries(v.images.map((i) => [i.image.slice(reg.host.length + 1), i]));
    assert.deepEqual(Object.keys(by), ['base/signed:v1', 'base/unsigned:v1', 'base/wrong:v1', 'base/legacy:v1']);
    assert.deepEqual(
      Object.values(by).map((i) => [i.verdict, i.exitCode]),
      [
        ['verified', 0],
        ['no-signatures', 10],
        ['no-matching-signatures', 12],
        ['verified', 0],
      ],
    );
    assert.equal(by['base/signed:v1']!.signatures, 1);
    assert.deepEqual(by['base/signed:v1']!.locations, ['line 5 FROM (stage build) --platform=$BUILDPLATFORM']);
    assert.deepEqual(by['base/wrong:v1']!.locations, ['line 15 COPY --from']);
    assert.match(r.stderr, /line 9: "build" is an earlier stage, skipped/);
    assert.match(r.stderr, /line 16: scratch is an empty base, not an image, skipped/);
    assert.match(r.stderr, /^Error: 2 of 4 images in .*Dockerfile failed verification; the worst: .*base\/wrong:v1: /m);
    assert.doesNotMatch(r.stdout + r.stderr, /not-an-instruction/, 'a heredoc body is not read as instructions');
  });

  test('text output names each image and its verdict; without the wrongly signed image the exit code is 10', async () => {
    const df = file('Dockerfile.two', `ARG REGISTRY=${reg.host}\nFROM $REGISTRY/base/signed:v1 AS a\nFROM $REGISTRY/base/unsigned:v1\n`);
    const r = await runCli(['dockerfile', 'verify', ...verifyArgs, df]);
    assert.equal(r.code, 10, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, new RegExp(`^verified +${signed.replace(/[.:/]/g, '\\$&')} +\\(line 2 FROM \\(stage a\\)\\): 1 signature verified, sha256:[0-9a-f]{64}$`));
    assert.match(lines[1]!, /^no-signatures +\S+base\/unsigned:v1 +\(line 3 FROM \(stage 1\)\): no signatures found/);
  });

  test('--base-image-only verifies the final stage\'s base, followed through stage names; the environment overrides an ARG', async () => {
    const df = multiStage();
    const unsignedBase = await runCli(['dockerfile', 'verify', '--base-image-only', ...verifyArgs, '-o', 'json', df]);
    assert.equal(unsignedBase.code, 10, unsignedBase.stderr);
    assert.deepEqual(verdicts(unsignedBase).images.map((i) => i.image), [`${reg.host}/base/unsigned:v1`], 'FROM runtime → the runtime stage\'s image');
    const overridden = await runCli(['dockerfile', 'verify', '--base-image-only', ...verifyArgs, '-o', 'json', df], { env: { RUNTIME: 'base/legacy' } });
    assert.equal(overridden.code, 0, overridden.stderr);
    assert.deepEqual(verdicts(overridden).images.map((i) => [i.image, i.verdict]), [[`${reg.host}/base/legacy:v1`, 'verified']]);
    assert.match(overridden.stderr, /All 1 image in .* verified/);
  });

  test('bad input: one clear line and a non-zero exit, nothing verified', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['dockerfile', 'verify', ...verifyArgs, join(dir, 'missing')], 1, /Dockerfile .*missing/],
      [['dockerfile', 'verify', ...verifyArgs, file('Dockerfile.scratch', 'FROM scratch\nCOPY x /x\n')], 1, /no images to verify/],
      [['dockerfile', 'verify', '--base-image-only', ...verifyArgs, file('Dockerfile.scratch2', `FROM ${reg.host}/base/signed:v1 AS b\nFROM scratch\n`)], 1, /final stage starts FROM scratch/],
      [['dockerfile', 'verify', ...verifyArgs, file('Dockerfile.var', 'ARG BASE\nFROM $BASE\n')], 2, /line 2: \$BASE has no value/],
      [['dockerfile', 'verify', '--insecure-ignore-tlog', file('Dockerfile.ok', `FROM ${signed}\n`)], 2, /--certificate-identity or --certificate-identity-regexp is required/],
      [['dockerfile', 'verify', ...verifyArgs, '-o', 'yaml', file('Dockerfile.ok2', `FROM ${signed}\n`)], 2, /unknown output format "yaml"/],
    ];
    for (const [args, code, message] of cases) {
      const r = await runCli(args, { env: { BASE: undefined } });
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error: '));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0]!, message);
      assert.equal(r.stdout, '');
    }
  });
});

describe('manifest verify', () => {
  const kinds = ['deployment', 'job', 'cronjob', 'pod', 'statefulset', 'daemonset'] as const;
  const refs: Record<string, Record<Kind, string>> = {};
  before(async () => {
    for (const k of kinds) {
      refs[k] = {
        signed: await image(`k8s/${k}-signed`, 'signed'),
        unsigned: await image(`k8s/${k}-unsigned`, 'unsigned'),
        wrong: await image(`k8s/${k}-wrong`, 'wrong', k === 'job'),
      };
    }
  });

  /** One object of each kind per image, the pod-bearing kinds with init / ephemeral containers too. */
  function docs(kind: Kind): string[] {
    const r = (k: string) => refs[k]![kind];
    return [
      kubectlDeployment(`web-${kind}`, [r('deployment')]),
      kubectlJob(`job-${kind}`, r('job')),
      kubectlCronJob(`cron-${kind}`, r('cronjob')),
      handPod(`pod-${kind}`, { init: r('pod'), main: r('pod'), ephemeral: r('pod') }),
      handStatefulSet(`sts-${kind}`, { init: r('statefulset'), main: r('statefulset') }),
      handDaemonSet(`ds-${kind}`, { main: r('daemonset') }),
    ];
  }

  test('every workload kind with a signed, an unsigned and a wrongly signed image: each verdict, exit 12', async () => {
    const f = file('all.yaml', yamlStream([...docs('signed'), ...docs('unsigned'), ...docs('wrong')]));
    const r = await runCli(['manifest', 'verify', ...verifyArgs, '-o', 'json', f]);
    assert.equal(r.code, 12, r.stderr);
    const v = verdicts(r);
    assert.equal(v.images.length, 18);
    const expected: Record<Kind, [string, number]> = { signed: ['verified', 0], unsigned: ['no-signatures', 10], wrong: ['no-matching-signatures', 12] };
    for (const k of kinds) {
      for (const kind of ['signed', 'unsigned', 'wrong'] as const) {
        const got = v.images.find((i) => i.image === refs[k]![kind]);
        assert.ok(got, `${k} ${kind} is reported`);
        assert.deepEqual([got.verdict, got.exitCode], expected[kind], `${k} ${kind}: ${got.message}`);
      }
    }
    const pod = v.images.find((i) => i.image === refs.pod!.unsigned)!;
    assert.deepEqual(pod.locations, [
      'document 10 Pod/pod-unsigned spec.initContainers[0] (init)',
      'document 10 Pod/pod-unsigned spec.containers[0] (main)',
      'document 10 Pod/pod-unsigned spec.ephemeralContainers[0] (debugger)',
    ]);
    assert.deepEqual(v.images.find((i) => i.image === refs.cronjob!.wrong)!.locations, ['document 15 CronJob/cron-wrong spec.jobTemplate.spec.template.spec.containers[0] (cron-wrong)']);
  });

  test('only signed images exit 0; signed and unsigned exit 10 with text verdicts', async () => {
    const ok = await runCli(['manifest', 'verify', ...verifyArgs, file('signed.yml', yamlStream(docs('signed')))]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim().split('\n').filter((l) => l.startsWith('verified ')).length, 6);
    assert.match(ok.stderr, /All 6 images in .*signed\.yml verified/);
    const mixed = await runCli(['manifest', 'verify', ...verifyArgs, file('mixed.yaml', yamlStream([...docs('unsigned'), ...docs('signed')]))]);
    assert.equal(mixed.code, 10, mixed.stderr);
    assert.equal(mixed.stdout.trim().split('\n').length, 12);
    assert.match(mixed.stderr, /^Error: 6 of 12 images in .*mixed\.yaml failed verification/m);
  });

  test('bad manifests: one clear line naming the document', async () => {
    const none = await runCli(['manifest', 'verify', ...verifyArgs, file('svc.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\n')]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^Error: .*svc\.yaml: no container images found/m);
    const broken = await runCli(['manifest', 'verify', ...verifyArgs, file('broken.yaml', yamlStream([docs('signed')[0]!, 'kind: Pod\nspec: {containers: [\n']))]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /^Error: manifest document 2: not valid YAML/m);
    assert.equal(broken.stdout, '');
  });
});

describe('keyless: the identity flags', () => {
  test('dockerfile verify under a signer identity: the expected signer verifies, another signer is 12, unsigned 10', async () => {
    const srv = await startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true });
    try {
      const env = { SIGNET_HOME: join(dir, 'home'), SIGSTORE_ID_TOKEN: undefined, ACTIONS_ID_TOKEN_REQUEST_URL: undefined, BUILDKITE_AGENT_ACCESS_TOKEN: undefined };
      const signAs = async (ref: string, email: string): Promise<void> => {
        const t = await fetch(srv.url + '/oidc/token', { method: 'POST', body: JSON.stringify({ email }) });
        const token = ((await t.json()) as { id_token: string }).id_token;
        const r = await runCli(['sign', '--signing-config', srv.signingConfigPath, '--identity-token', token, ref], { env });
        assert.equal(r.code, 0, r.stderr);
      };
      const repos = ['keyless/alice', 'keyless/mallory', 'keyless/nobody'];
      const [alice, mallory] = await Promise.all(repos.map((r) => image(r, 'unsigned')));
      await signAs(alice!, 'alice@example.com');
      await signAs(mallory!, 'mallory@example.com');
      const df = file('Dockerfile.keyless', `ARG R=${reg.host}\nFROM $R/keyless/alice:v1 AS a\nFROM $R/keyless/mallory:v1 AS m\nFROM $R/keyless/nobody:v1\n`);
      const args = ['dockerfile', 'verify', '--trusted-root', srv.trustedRootPath, '--insecure-ignore-sct', '--certificate-identity', 'alice@example.com', '--certificate-oidc-issuer', srv.url + '/oidc', '-o', 'json'];
      const r = await runCli([...args, df], { env });
      assert.equal(r.code, 12, r.stderr);
      assert.deepEqual(
        verdicts(r).images.map((i) => [i.image.slice(reg.host.length + 1), i.verdict]),
        [
          ['keyless/alice:v1', 'verified'],
          ['keyless/mallory:v1', 'no-matching-signatures'],
          ['keyless/nobody:v1', 'no-signatures'],
        ],
      );
      const base = await runCli([...args, '--base-image-only', file('Dockerfile.keyless2', `FROM ${reg.host}/keyless/mallory:v1 AS m\nFROM ${alice}\n`)], { env });
      assert.equal(base.code, 0, base.stderr);
    } finally {
      await srv.close();
    }
  });
});
