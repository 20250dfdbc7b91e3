/**
 * `npm run bench:keys`: signing throughput with a key in a SoftHSM2 token beside the same kind of key in
 * a file (same run, ratio), and the per-signature cost of the KMS plug-in protocol (one process per
 * signature, as cosign runs plug-ins). Not a test: it prints figures to record with the machine.
 *   SIGNET_BENCH_SIGNATURES=N (default 2000; the plug-in signs N/20, at least 10)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { closePkcs11Modules, generateKeyPair, loadSigner, signerFromPrivateKey, verifySignature, type Signer } from '../src/keys/index.js';
import { createSoftToken } from '../test/helpers/softhsm.js';
import { installKmsPlugin } from '../test/helpers/kms-plugin.js';
import { fmt, machineLine, note } from './common.js';

const N = Number(process.env.SIGNET_BENCH_SIGNATURES ?? 2000);
const PLUGIN_N = Math.max(10, Math.floor(N / 20));
const dir = mkdtempSync(join(tmpdir(), 'signet-bench-keys-'));
const noPassword = async (): Promise<Uint8Array> => Buffer.alloc(0);

/** Signatures per second: `n` signatures, `concurrency` in flight at a time. */
async function throughput(signer: Signer, n: number, concurrency: number): Promise<number> {
  const data = Buffer.from('benchmark payload: a simple-signing JSON document is about this long, give or take a digest');
  const first = await signer.sign(data);
  if (!verifySignature(signer.publicKey, data, first)) throw new Error('a benchmark signature does not verify');
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) await signer.sign(data);
    }),
  );
  return n / ((performance.now() - t) / 1000);
}

const rows: string[] = [];
try {
  note('setting up a SoftHSM2 token…');
  const token = createSoftToken(dir, 'bench');
  Object.assign(process.env, token.env);
  const kinds = [
    { name: 'ECDSA P-256', type: 'EC:prime256v1', kind: 'ecdsa-p256' as const },
    { name: 'RSA 2048', type: 'rsa:2048', kind: 'rsa' as const },
  ];
  for (const [i, k] of kinds.entries()) {
    token.generate(k.type, `k${i}`, `0${i + 1}`);
    const hsm = await loadSigner(token.uri(`k${i}`), noPassword);
    const file = signerFromPrivateKey(generateKeyPair(k.kind).privateKey);
    for (const concurrency of [1, 4]) {
      note(`${k.name}, ${concurrency} at a time…`);
      const f = await throughput(file, N, concurrency);
      const h = await throughput(hsm, N, concurrency);
      rows.push(`| ${k.name}, ${concurrency} in flight | ${fmt(f)} /s | ${fmt(h)} /s | ${fmt(h / f, 2)} |`);
    }
  }
  closePkcs11Modules();

  note('KMS plug-in…');
  const bin = installKmsPlugin(join(dir, 'bin'), 'benchkms');
  process.env.PATH = `${bin}${delimiter}${process.env.PATH}`;
  const keyFile = join(dir, 'plugin.pem');
  const pair = generateKeyPair('ecdsa-p256');
  writeFileSync(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const plugin = await loadSigner(`benchkms://${keyFile}`, noPassword);
  const file = signerFromPrivateKey(pair.privateKey);
  const f = await throughput(file, N, 1);
  const p = await throughput(plugin, PLUGIN_N, 1);
  const p4 = await throughput(plugin, PLUGIN_N, 4);
  rows.push(`| KMS plug-in (node program over a P-256 key file), 1 in flight | ${fmt(f)} /s | ${fmt(p, 1)} /s = ${fmt(1000 / p, 1)} ms per signature | ${fmt(p / f, 4)} |`);
  rows.push(`| KMS plug-in, 4 in flight | | ${fmt(p4, 1)} /s | |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(
  `\nSigning throughput, ${N} signatures per row (plug-in: ${PLUGIN_N}); ${machineLine()}\n\n` +
    '| key | file key | token / plug-in | ratio |\n|---|---|---|---|\n' +
    rows.join('\n') +
    '\n',
);
