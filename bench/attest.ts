/**
 * Attestation verification throughput: BENCH_IMAGES images (default 200) in the real docker-registry,
 * each with a SLSA v1 provenance attestation (new bundle format, keyed, no log), then one
 * `verifyImageAttestations` call over all of them (the library, as `signet verify-attestation IMG…`),
 * reported in images/s. BENCH_POLICY=FILE[,FILE…] adds policies (loaded through policy/index.ts's
 * loadPolicies, as `--policy`), and the policy's share is measured by evaluating the same statements
 * through them alone.
 *   BENCH_IMAGES=5 npm run bench:attest
 *   BENCH_POLICY=policy.cel npm run bench:attest
 *   BENCH_WORKERS=20 npm run bench:attest     (--max-workers; default the library's)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RegistryClient } from '../src/oci/index.js';
import { generateKeyPair, publicKeyInfo, signerFromPrivateKey } from '../src/keys/index.js';
import { attestImages } from '../src/cosign/attest.js';
import { verifyImageAttestations } from '../src/cosign/verify-attestation.js';
import { loadPolicies } from '../src/policy/index.js';
import type { AttestationPolicy } from '../src/policy/types.js';
import { pushRandomImage, startRegistry } from '../test/helpers/registry.js';
import { fmt, machineLine, note } from './common.js';

const N = Number(process.env.BENCH_IMAGES ?? 200);
if (!Number.isInteger(N) || N < 1) throw new Error('BENCH_IMAGES must be a positive integer');
const workers = process.env.BENCH_WORKERS ? Number(process.env.BENCH_WORKERS) : undefined;
const policyFiles = (process.env.BENCH_POLICY ?? '').split(',').filter((p) => p !== '');

const provenance = (i: number): Buffer =>
  Buffer.from(
    JSON.stringify({
      buildDefinition: {
        buildType: 'https://actions.github.io/buildtypes/workflow/v1',
        externalParameters: { workflow: { ref: 'refs/heads/main', repository: 'https://github.com/octo/app', path: '.github/workflows/release.yml' } },
        internalParameters: { github: { event_name: 'push', repository_id: '1', repository_owner_id: '2', runner_environment: 'github-hosted' } },
        resolvedDependencies: [{ uri: 'git+https://github.com/octo/app@refs/heads/main', digest: { gitCommit: i.toString(16).padStart(40, '0') } }],
      },
      runDetails: { builder: { id: 'https://github.com/octo/app/.github/workflows/release.yml@refs/heads/main' }, metadata: { invocationId: `https://github.com/octo/app/actions/runs/${i}/attempts/1` } },
    }),
  );

/**
 * CPU seconds (user + system) used so far by the docker-registry serving `dataDir` (found in /proc by
 * its config file, which sits beside the data directory), or undefined where /proc cannot tell. On a
 * loaded machine wall-clock figures swing; CPU per image, ours and the registry's, does much less.
 */
function registryCpuSeconds(dataDir: string): number | undefined {
  try {
    const dir = dirname(dataDir);
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let cmd: string;
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      const args = cmd.split('\0');
      if (!args.includes('serve') || !args.some((a) => a.startsWith(dir + '/'))) continue;
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (fields 14, 15) in clock ticks (USER_HZ 100)
    }
  } catch {
    return undefined;
  }
  return undefined;
}

const policies: AttestationPolicy[] = policyFiles.length > 0 ? await loadPolicies(policyFiles) : [];
const reg = await startRegistry();
const client = new RegistryClient({});
try {
  const keys = generateKeyPair('ecdsa-p256');
  const signer = signerFromPrivateKey(keys.privateKey);
  note(`pushing and attesting ${N} images…`);
  // Set-up only (not measured): a few images at a time, so a run takes a minute rather than several.
  const images: string[] = new Array(N);
  let nextImage = 0;
  const setUp = async (): Promise<void> => {
    for (let i = nextImage++; i < N; i = nextImage++) {
      const repo = { registry: reg.host, repository: `bench/attest${i % 20}` };
      const img = await pushRandomImage(client, repo);
      const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
      await attestImages({ client, signer, images: [ref], predicate: provenance(i), type: 'slsaprovenance1' });
      images[i] = ref;
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, N) }, setUp));

  // A fresh client: no tokens, connections or manifests from the set-up.
  const verifier = new RegistryClient({});
  // Every HTTP request of the verification, by method and kind of path (the registry's share of the
  // 2 cores grows with their number).
  const requests = new Map<string, number>();
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const kind = /\/v2\/.+\/(manifests|blobs|referrers|tags)\//.exec(url.pathname)?.[1] ?? url.pathname;
    const key = `${init?.method ?? 'GET'} ${kind}`;
    requests.set(key, (requests.get(key) ?? 0) + 1);
    return realFetch(input, init);
  };
  const regCpu0 = registryCpuSeconds(reg.dataDir);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let outcomes;
  try {
    outcomes = await verifyImageAttestations({ client: verifier, images, key: publicKeyInfo(keys.publicKey), ignoreTlog: true, type: 'slsaprovenance1', policies, ...(workers ? { maxWorkers: workers } : {}) });
  } finally {
    globalThis.fetch = realFetch;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const regCpu1 = registryCpuSeconds(reg.dataDir);
  await verifier.close();
  const failed = outcomes.filter((o) => o.error);
  if (failed.length > 0) throw new Error(`${failed.length} images failed: ${failed[0]!.error!.message}`);

  let policyLine = 'policies: none (BENCH_POLICY=FILE[,FILE] to add some)';
  if (policies.length > 0) {
    const statements = outcomes.map((o) => JSON.parse(o.result!.attestations[0]!.payload.toString('utf8')) as unknown);
    const p0 = performance.now();
    for (const p of policies) await p.evaluate(statements);
    const policySeconds = (performance.now() - p0) / 1000;
    policyLine =
      `policies: ${policies.map((p) => p.name).join(', ')}: ${fmt(statements.length / policySeconds)} statements/s alone, ` +
      `${fmt((100 * policySeconds) / seconds, 1)}% of the verification time`;
  }
  console.log(machineLine());
  console.log(`verify-attestation (library, one call${workers ? `, ${workers} workers` : ''}): ${N} images in ${fmt(seconds, 2)} s = ${fmt(N / seconds, 1)} images/s`);
  console.log(policyLine);
  const total = [...requests.values()].reduce((a, b) => a + b, 0);
  const byKind = [...requests].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${fmt(n / N, 2)}`);
  console.log(`HTTP requests: ${fmt(total / N, 2)} per image (${byKind.join(', ')})`);
  const regLine = regCpu0 !== undefined && regCpu1 !== undefined ? `, docker-registry ${fmt(((regCpu1 - regCpu0) * 1000) / N, 2)} ms` : '';
  console.log(`CPU per image: this process ${fmt((cpu.user + cpu.system) / 1000 / N, 2)} ms${regLine}`);
} finally {
  await client.close();
  await reg.stop();
}
