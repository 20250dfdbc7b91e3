/**
 * `npm run bench`: sign and verify N images on a loopback docker-registry through the library, and time
 * the CLI's cold start. Not a test: it prints figures to record in the README with the machine.
 *   SIGNET_BENCH_IMAGES=N (default 200)
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { RegistryClient } from '../src/oci/index.js';
import { encryptPrivateKey, generateKeyPair, publicKeyInfo, signerFromPrivateKey } from '../src/keys/index.js';
import { signImages } from '../src/cosign/sign.js';
import { verifyImages, verifyOne } from '../src/cosign/verify.js';
import { pushRandomImage, startRegistry } from '../test/helpers/registry.js';

const N = Number(process.env.SIGNET_BENCH_IMAGES ?? 200);
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(1)} ms, p99 ${pct(s, 99).toFixed(1)} ms`;
}
async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}

const reg = await startRegistry();
const client = new RegistryClient({});
const keys = generateKeyPair('ecdsa-p256');
const signer = signerFromPrivateKey(keys.privateKey);
const key = publicKeyInfo(keys.publicKey);
const rows: string[] = [];
try {
  const repo = { registry: reg.host, repository: 'bench/app' };
  const images: string[] = [];
  for (let i = 0; i < N * 2; i++) images.push(`${reg.host}/bench/app@${(await pushRandomImage(client, repo)).digest}`);
  const [forOne, forBatch] = [images.slice(0, N), images.slice(N)];

  for (const format of [true, false]) {
    const name = format ? 'v3 bundle (referrer)' : 'legacy .sig';
    const repoImgs = format ? forOne : forBatch;
    // Per-image latency: one sign call per image, one after another.
    const signLat: number[] = [];
    for (const img of repoImgs.slice(0, N / 2)) signLat.push((await timed(() => signImages({ client, signer, images: [img], newBundleFormat: format })))[1]);
    // Throughput: one call for the other half, pushed concurrently.
    const [, batchMs] = await timed(() => signImages({ client, signer, images: repoImgs.slice(N / 2), newBundleFormat: format }));
    rows.push(`| sign, ${name} | ${summary(signLat)} | ${((N / 2) / (batchMs / 1000)).toFixed(0)} images/s (${N / 2} in one call) |`);

    const verifyLat: number[] = [];
    for (const img of repoImgs.slice(0, N / 2)) verifyLat.push((await timed(() => verifyOne({ client, key, images: [img], ignoreTlog: true }, img)))[1]);
    const [outcomes, vMs] = await timed(() => verifyImages({ client, key, images: repoImgs, ignoreTlog: true, maxWorkers: 10 }));
    if (outcomes.some((o) => o.error)) throw new Error('verification failed during the benchmark: ' + outcomes.find((o) => o.error)!.error!.message);
    rows.push(`| verify, ${name} | ${summary(verifyLat)} | ${(repoImgs.length / (vMs / 1000)).toFixed(0)} images/s (${repoImgs.length} in one call, 10 workers) |`);
  }

  // CLI cold start: a fresh process each time, on the Node that runs this benchmark.
  const cold = (args: string[], env: Record<string, string> = {}): number[] => {
    const out: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      const r = spawnSync(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, stdio: 'ignore' });
      out.push(performance.now() - t);
      if (r.status !== 0) throw new Error(`signet ${args[0]} failed with exit code ${r.status}`);
    }
    return out;
  };
  const dir = mkdtempSync(join(tmpdir(), 'signet-bench-'));
  writeFileSync(join(dir, 'cosign.key'), encryptPrivateKey(keys.privateKey, Buffer.from('bench')));
  writeFileSync(join(dir, 'cosign.pub'), key.pem);
  rows.push(`| CLI cold start: \`signet version\` | ${summary(cold(['version']))} | |`);
  rows.push(`| CLI: \`signet verify\` one image (process start to exit) | ${summary(cold(['verify', '--key', join(dir, 'cosign.pub'), '--insecure-ignore-tlog', forOne[0]!]))} | |`);
  rows.push(`| CLI: \`signet sign\` one image (incl. scrypt key decryption) | ${summary(cold(['sign', '--key', join(dir, 'cosign.key'), '--tlog-upload=false', forOne[1]!], { COSIGN_PASSWORD: 'bench' }))} | |`);
} finally {
  await client.close();
  await reg.stop();
}
const cpu = cpus()[0]?.model ?? 'unknown CPU';
process.stdout.write(
  `\nSignet ${N} images, docker-registry ${reg.host} on loopback, Node ${process.version}, ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${new Date().toISOString().slice(0, 10)}\n\n` +
    '| operation | per-image latency | throughput |\n|---|---|---|\n' +
    rows.join('\n') +
    '\n',
);
