/**
 * Moving a signed image between two loopback docker-registry instances: `signet copy` of an image with
 * LAYERS random layers of LAYER_MIB each and ATTACHMENTS bundle signatures (OCI referrers, through the
 * fallback tag since distribution 2.x has no referrers API), `signet save` of it to an OCI layout and
 * `signet load` of that layout, beside `skopeo copy` of the image alone in the same run. Each command runs
 * as its own process (the CLI a user runs); its peak RSS is sampled from /proc while it runs.
 * COPY_BASELINE=/path/to/other/dist/src/cli/main.js adds that build's copy/save/load rows to the same
 * run (each to fresh destinations), for a before/after on a loaded machine.
 *   npm run bench:copy [-- layer-MiB layers attachments]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { MEDIA_TYPE, RegistryClient, sha256Digest, type Descriptor, type Repo } from '../src/oci/index.js';
import { generateKeyPair, signerFromPrivateKey } from '../src/keys/index.js';
import { signImages } from '../src/cosign/sign.js';
import { startRegistry } from '../test/helpers/registry.js';
import { fmt, machineLine, note } from './common.js';

const LAYER_MIB = Number(process.argv[2] ?? 20);
const LAYERS = Number(process.argv[3] ?? 50);
const ATTACHMENTS = Number(process.argv[4] ?? 20);
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Run a command, sampling its resident set from /proc every 20 ms; seconds and peak MiB. */
function run(cmd: string, args: string[]): Promise<{ seconds: number; peakMiB: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let peak = 0;
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const sample = (): void => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const hwm = /VmHWM:\s+(\d+) kB/.exec(status) ?? /VmRSS:\s+(\d+) kB/.exec(status);
        if (hwm) peak = Math.max(peak, Number(hwm[1]) / 1024);
      } catch {
        // exited between samples
      }
    };
    const timer = setInterval(sample, 20);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`));
      else resolve({ seconds, peakMiB: peak });
    });
  });
}

/** Push an image of LAYERS random layers without holding more than one layer in memory. */
async function pushImage(client: RegistryClient, repo: Repo, tag: string): Promise<{ digest: string; bytes: number }> {
  const layers: Descriptor[] = [];
  let bytes = 0;
  for (let i = 0; i < LAYERS; i++) {
    const data = randomBytes(LAYER_MIB * 1024 * 1024);
    const { digest, size } = await client.putBlob(repo, data);
    layers.push({ mediaType: MEDIA_TYPE.ociLayerGzip, digest, size });
    bytes += size;
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
  await client.putBlob(repo, config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: MEDIA_TYPE.ociConfig, digest: sha256Digest(config), size: config.length }, layers }));
  return { digest: await client.putManifest(repo, tag, manifest, MEDIA_TYPE.ociManifest), bytes: bytes + config.length };
}

async function main(): Promise<void> {
  if (!existsSync('/usr/bin/skopeo')) throw new Error('skopeo is missing: apt-get install skopeo');
  const [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  const client = new RegistryClient({});
  const work = mkdtempSync(join(tmpdir(), 'signet-bench-copy-'));
  try {
    note(`pushing ${LAYERS} layers of ${LAYER_MIB} MiB and ${ATTACHMENTS} signatures…`);
    const src: Repo = { registry: a.host, repository: 'bench/app' };
    const { bytes } = await pushImage(client, src, 'v1');
    const signer = signerFromPrivateKey(generateKeyPair('ecdsa-p256').privateKey);
    for (let i = 0; i < ATTACHMENTS; i++) await signImages({ client, signer, images: [`${a.host}/bench/app:v1`], annotations: { n: String(i) } });
    const mib = bytes / 2 ** 20;
    const rows: Array<[string, { seconds: number; peakMiB: number }]> = [];
    note('skopeo copy…');
    rows.push(['skopeo copy (image only)', await run('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${a.host}/bench/app:v1`, `docker://${b.host}/skopeo/app:v1`])]);
    const builds: Array<[string, string]> = [['signet', MAIN]];
    if (process.env.COPY_BASELINE) builds.push(['baseline', process.env.COPY_BASELINE]);
    for (const [i, [label, main]] of builds.entries()) {
      note(`${label} copy…`);
      rows.push([`${label} copy (+${ATTACHMENTS} referrers)`, await run(process.execPath, [main, '-t', '0', 'copy', `${a.host}/bench/app:v1`, `${b.host}/${label}/app:v1`])]);
      note(`${label} save…`);
      const dir = join(work, `layout-${i}`);
      rows.push([`${label} save (+${ATTACHMENTS} referrers)`, await run(process.execPath, [main, '-t', '0', 'save', '--dir', dir, `${a.host}/bench/app:v1`])]);
      note(`${label} load…`);
      rows.push([`${label} load (+${ATTACHMENTS} referrers)`, await run(process.execPath, [main, '-t', '0', 'load', '--dir', dir, `${b.host}/${label}-loaded/app:v1`])]);
    }
    note('second signet copy (nothing to do)…');
    rows.push(['signet copy again (no-op)', await run(process.execPath, [MAIN, '-t', '0', 'copy', `${a.host}/bench/app:v1`, `${b.host}/signet/app:v1`])]);
    console.log(machineLine());
    console.log(`image: ${LAYERS} layers × ${LAYER_MIB} MiB = ${fmt(mib, 1)} MiB, ${ATTACHMENTS} bundle signatures; two docker-registry instances on 127.0.0.1`);
    console.log('| run | seconds | MB/s | peak RSS MiB |');
    console.log('|---|---:|---:|---:|');
    for (const [name, r] of rows) console.log(`| ${name} | ${fmt(r.seconds, 2)} | ${fmt(bytes / 1e6 / r.seconds, 1)} | ${fmt(r.peakMiB, 0)} |`);
  } finally {
    await client.close();
    rmSync(work, { recursive: true, force: true });
    await Promise.all([a.stop(), b.stop()]);
  }
}

await main();
