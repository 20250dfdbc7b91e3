/**
 * `signet admission` latency and throughput: the real docker-registry, `signet serve --dev-oidc` for
 * keyless signing, and the webhook as its own process (`signet admission`, HTTPS), driven from this one
 * over keep-alive connections with AdmissionReviews of a Pod with 3 images (pinned by digest, as they
 * arrive after the mutating webhook), each image signed keyless and checked by a keyless
 * ClusterImagePolicy:
 *   first    the webhook's first review after /readyz, 3 images never seen: reported apart, as the
 *            process's warm-up (JIT, the registry's first connection and /v2/ ping)
 *   cold     BENCH_COLD Pods (default 100), each with 3 images never seen before: registry reads and
 *            verification, one review at a time
 *   cached   the same Pod BENCH_CACHED times (default 2000), one at a time
 *   32 conc. BENCH_CLIENTS clients (default 32) sending the cached Pod for BENCH_SECONDS (default 5)
 *   BENCH_COLD=5 BENCH_CACHED=200 BENCH_SECONDS=2 npm run bench:admission
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RegistryClient } from '../src/oci/index.js';
import { signImages } from '../src/cosign/sign.js';
import { obtainKeylessSigner, resolveKeylessServices } from '../src/sigstore/sign-keyless.js';
import { parseSigningConfig } from '../src/sigstore/signing-config.js';
import { startServer } from '../src/server/serve.js';
import { freePort, pushRandomImage, startRegistry } from '../test/helpers/registry.js';
import { MAIN } from '../test/helpers/cli.js';
import { fmt, machineLine, note, pct, stop } from './common.js';

const int = (name: string, def: number): number => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
};
const COLD = int('BENCH_COLD', 100);
const CACHED = int('BENCH_CACHED', 2000);
const CLIENTS = int('BENCH_CLIENTS', 32);
const SECONDS = int('BENCH_SECONDS', 5);

const dir = mkdtempSync(join(tmpdir(), 'signet-bench-admission-'));
const reg = await startRegistry();
const srv = await startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true });
const client = new RegistryClient({});
let webhook: ReturnType<typeof spawn> | undefined;
try {
  const tokenRes = await fetch(srv.url + '/oidc/token', { method: 'POST', body: JSON.stringify({ email: 'bench@example.com' }) });
  const ks = await obtainKeylessSigner(resolveKeylessServices(parseSigningConfig(readFileSync(srv.signingConfigPath))), ((await tokenRes.json()) as { id_token: string }).id_token);
  // One Pod cached, COLD cold ones, and one that is the webhook's first review (its warm-up, reported apart).
  const pods = COLD + 2;
  note(`pushing and signing ${pods * 3} images…`);
  const images: string[] = [];
  for (let i = 0; i < pods * 3; i++) {
    const repo = { registry: reg.host, repository: `bench/app${i % 10}` };
    const img = await pushRandomImage(client, repo);
    images.push(`${repo.registry}/${repo.repository}@${img.digest}`);
  }
  await signImages({ client, signer: ks.signer, keyless: ks, images });

  mkdirSync(join(dir, 'policies'));
  writeFileSync(
    join(dir, 'policies', 'cip.yaml'),
    `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: bench}\nspec:\n  images: [{glob: "${reg.host}/bench/**"}]\n  authorities:\n  - keyless:\n      identities: [{issuer: "${srv.url}/oidc", subject: bench@example.com}]\n`,
  );
  writeFileSync(join(dir, 'ns.yaml'), 'bench: {policy.sigstore.dev/include: "true"}\n');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
  const port = await freePort();
  webhook = spawn(
    process.execPath,
    [...(process.env.BENCH_WEBHOOK_NODE_ARGS ?? '').split(' ').filter(Boolean), MAIN, 'admission', '--policies', join(dir, 'policies'), '--trusted-root', srv.trustedRootPath, '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--listen', `127.0.0.1:${port}`, '--namespaces', join(dir, 'ns.yaml')],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  await new Promise<void>((resolve, reject) => {
    webhook!.stdout!.on('data', (d: Buffer) => /Listening on/.test(d.toString()) && resolve());
    webhook!.once('exit', (c) => reject(new Error(`signet admission exited with ${c}`)));
  });
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS, ca: readFileSync(join(dir, 'tls.crt')) });
  let uid = 0;
  const body = (imgs: string[]): Buffer =>
    Buffer.from(
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: `u${++uid}`,
          kind: { group: '', version: 'v1', kind: 'Pod' },
          namespace: 'bench',
          operation: 'CREATE',
          object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: imgs.map((image, i) => ({ name: `c${i}`, image })) } },
        },
      }),
    );
  const review = (b: Buffer): Promise<boolean> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/validate', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': b.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve((JSON.parse(Buffer.concat(chunks).toString()) as { response: { allowed: boolean } }).response.allowed));
      });
      req.on('error', reject);
      req.end(b);
    });
  const timed = async (b: Buffer): Promise<number> => {
    const t = performance.now();
    if (!(await review(b))) throw new Error('a review was denied');
    return performance.now() - t;
  };

  // The webhook's CPU time (user + system, from /proc) over the cold reviews: a figure the machine's other
  // load skews far less than the latencies.
  const cpuMs = (): number => {
    const f = readFileSync(`/proc/${webhook!.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  };
  // As Kubernetes does before it routes a review to a new webhook: wait until /readyz answers (over the
  // connection the reviews then use, so the TLS handshake is not counted as a review's latency).
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`/readyz answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
  // The first review after start pays the process's warm-up (JIT compilation, the registry's first
  // connections and /v2/ ping): reported on its own line, as bench:log's warm-up, not as a cold review.
  const first = await timed(body(images.slice(3 + COLD * 3, 6 + COLD * 3)));
  note('cold…');
  const cold: number[] = [];
  const cpu0 = cpuMs();
  for (let i = 0; i < COLD; i++) cold.push(await timed(body(images.slice(3 + i * 3, 6 + i * 3))));
  const coldCpu = (cpuMs() - cpu0) / COLD;
  if (process.env.BENCH_VERBOSE) note(`cold, in order: ${cold.map((t) => fmt(t, 1)).join(' ')}`);
  const pod = body(images.slice(0, 3));
  await timed(pod);
  note('cached…');
  const cached: number[] = [];
  for (let i = 0; i < CACHED; i++) cached.push(await timed(pod));
  note(`${CLIENTS} concurrent clients for ${SECONDS} s…`);
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < until) {
        await timed(pod);
        done++;
      }
    }),
  );
  const rate = done / ((performance.now() - t0) / 1000);
  cold.sort((a, b) => a - b);
  cached.sort((a, b) => a - b);
  const row = (name: string, s: number[]) => `| ${name} | ${s.length} | ${fmt(pct(s, 50), 2)} | ${fmt(pct(s, 99), 2)} |`;
  process.stdout.write(
    [
      'signet admission: /validate, a Pod with 3 keyless-signed images (webhook in its own process, HTTPS, keep-alive)',
      '',
      '| reviews | n | p50 ms | p99 ms |',
      '| --- | --- | --- | --- |',
      row('cold (registry + verification)', cold),
      row('cached', cached),
      '',
      `first review after start (3 images never seen, the process's warm-up; not among the cold ones): ${fmt(first, 1)} ms`,
      `webhook CPU per cold review: ${fmt(coldCpu, 1)} ms (user + system, /proc)`,
      `${CLIENTS} concurrent clients, cached: ${fmt(rate)} reviews/s`,
      machineLine(),
      '',
    ].join('\n'),
  );
  agent.destroy();
} finally {
  if (webhook) await stop(webhook);
  await client.close();
  await Promise.all([reg.stop(), srv.close()]);
  rmSync(dir, { recursive: true, force: true });
}
