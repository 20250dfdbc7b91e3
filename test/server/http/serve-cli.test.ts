/** `signet serve` flags: encrypted log keys, and one-line errors with the right exit codes. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import { encryptPrivateKey } from '../../../src/keys/index.js';
import { spawnServe } from './spawn.js';

const main = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../../..'), 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'signet-serve-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function serve(args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [main, 'serve', ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stderr: r.stderr };
}

it('signs with a cosign-encrypted --log-key (COSIGN_PASSWORD) and reports bad settings in one line', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = join(dir, 'cosign.key');
  writeFileSync(keyFile, encryptPrivateKey(privateKey, Buffer.from('pw')));
  const s = await spawnServe(join(dir, 'data'), ['--log-key', keyFile], { ...process.env, COSIGN_PASSWORD: 'pw' });
  try {
    const pem = await (await fetch(s.url + '/api/v1/log/publicKey')).text();
    assert.ok(createPublicKey(pem).export({ format: 'der', type: 'spki' }).equals(publicKey.export({ format: 'der', type: 'spki' })));
  } finally {
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
  }
  const wrong = serve(['--data-dir', join(dir, 'd2'), '--log-key', keyFile, '--listen', '127.0.0.1:0'], { COSIGN_PASSWORD: 'nope' });
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /^Error: .*cosign\.key: .*password/m);
  const listen = serve(['--data-dir', join(dir, 'd3'), '--listen', 'nope']);
  assert.equal(listen.status, 2);
  assert.equal(listen.stderr, 'Error: --listen "nope" is not HOST:PORT (e.g. 127.0.0.1:3000, [::1]:3000, :3000)\n');
  const noDir = serve([]);
  assert.equal(noDir.status, 2);
  assert.match(noDir.stderr, /serve needs --data-dir DIR/);
  const storage = serve(['--data-dir', join(dir, 'd4'), '--storage', 'mysql://x', '--listen', '127.0.0.1:0']);
  assert.equal(storage.status, 2);
  assert.match(storage.stderr, /unknown log storage/);
});

it('--dev-oidc over the CLI; key and chain flags come in pairs; a bad issuers file is one line', async () => {
  const d = join(dir, 'pairs');
  const s = await spawnServe(d, ['--dev-oidc']);
  try {
    const cfg = await (await fetch(s.url + '/api/v2/configuration')).json() as { issuers: { issuerUrl: string }[] };
    assert.equal(cfg.issuers[0]!.issuerUrl, s.url + '/oidc');
  } finally {
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
  }
  const caOnly = serve(['--data-dir', d, '--listen', '127.0.0.1:0', '--ca-key', join(dir, 'cosign.key')]);
  assert.equal(caOnly.status, 2);
  assert.equal(caOnly.stderr, 'Error: --ca-key needs --ca-cert (its certificate chain)\n');
  const chainOnly = serve(['--data-dir', d, '--listen', '127.0.0.1:0', '--tsa-chain', join(dir, 'x.pem')]);
  assert.equal(chainOnly.status, 2);
  assert.equal(chainOnly.stderr, 'Error: --tsa-chain needs --tsa-key\n');
  writeFileSync(join(dir, 'issuers.json'), '{"OIDCIssuers": []}');
  const badIssuers = serve(['--data-dir', d, '--listen', '127.0.0.1:0', '--oidc-issuers', join(dir, 'issuers.json')]);
  assert.notEqual(badIssuers.status, 0);
  assert.match(badIssuers.stderr, /^Error: .*OIDC/);
  assert.equal(badIssuers.stderr.split('\n').length, 2);
  const version = serve(['--data-dir', d, '--listen', '127.0.0.1:0', '--rekor-api-version', '3']);
  assert.equal(version.status, 2);
  assert.match(version.stderr, /rekor-api-version/);
  for (const bad of ['20', '-1', 'x', '1.5']) {
    const nice = serve(['--data-dir', d, '--listen', '127.0.0.1:0', '--pool-nice', bad]);
    assert.equal(nice.status, 2, bad);
    assert.equal(nice.stderr, `Error: --pool-nice must be an integer 0..19, got "${bad}"\n`);
  }
  for (const bad of ['0', '-1', 'x', '1.5', '']) {
    const cache = serve(['--data-dir', d, '--listen', '127.0.0.1:0', '--tile-cache', bad]);
    assert.equal(cache.status, 2, bad);
    assert.equal(cache.stderr, `Error: --tile-cache must be a whole number of MiB, at least 1, got "${bad}"\n`);
  }
  const pgCache = serve(['--data-dir', d, '--listen', '127.0.0.1:0', '--storage', 'postgres://127.0.0.1:1/none', '--tile-cache', '8']);
  assert.equal(pgCache.status, 2);
  assert.equal(pgCache.stderr, 'Error: --tile-cache applies to the embedded storage: a PostgreSQL log keeps its tiles as rows, not files\n');
});

it('--tile-cache sets how many checked tiles the log keeps, reported in /metrics with its hits and misses', async () => {
  const s = await spawnServe(join(dir, 'cache'), ['--tile-cache', '3']);
  try {
    const metric = async (name: string): Promise<number> => {
      const m = (await (await fetch(s.url + '/metrics')).text()).match(new RegExp(`^${name} (\\d+)$`, 'm'));
      assert.ok(m, name);
      return Number(m[1]);
    };
    assert.equal(await metric('signet_log_tile_cache_capacity_tiles'), 3 * 128);
    assert.equal(await metric('signet_log_tile_cache_tiles'), 0);
    assert.equal(await metric('signet_log_tile_cache_misses_total'), 0);
  } finally {
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
  }
});

it('--pool-nice lowers the priority of the pool threads that verified and signed a write, and of no other thread', { skip: process.platform !== 'linux' }, async (t) => {
  const { nativeCrypto } = await import('../../../src/native.js');
  if (!nativeCrypto.addon) return t.skip('native addon not built');
  const { ecKey, hashedRekordV1 } = await import('../../rekor/fixtures.js');
  const s = await spawnServe(join(dir, 'nice'), ['--pool-nice', '7']);
  try {
    const r = await fetch(s.url + '/api/v1/log/entries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hashedRekordV1(ecKey())) });
    assert.equal(r.status, 201);
    const { readdirSync, readFileSync } = await import('node:fs');
    const threads = readdirSync(`/proc/${s.child.pid}/task`).map((tid) => {
      const stat = readFileSync(`/proc/${s.child.pid}/task/${tid}/stat`, 'utf8');
      // Fields after the parenthesised name: state is field 3, nice field 19.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return { tid: Number(tid), name: readFileSync(`/proc/${s.child.pid}/task/${tid}/comm`, 'utf8').trim(), nice: Number(fields[16]) };
    });
    // Relative to the process's own priority, which the test runner may have lowered already.
    const base = threads.find((th) => th.tid === s.child.pid)!.nice;
    if (base + 7 > 19) return t.skip(`the test runs at nice ${base}: no room for 7 more steps`);
    const lowered = threads.filter((th) => th.nice === Math.min(19, base + 7));
    assert.ok(lowered.length >= 1, JSON.stringify(threads));
    assert.ok(lowered.every((th) => th.name === 'libuv-worker'), JSON.stringify(threads));
    // The search index's merge threads (WorkerThread) lower their own priority further, whatever --pool-nice says.
    const merges = threads.filter((th) => th.name === 'WorkerThread' && th.nice > base);
    assert.ok(merges.every((th) => th.nice !== Math.min(19, base + 7)), JSON.stringify(threads));
    assert.ok(threads.filter((th) => th.name !== 'libuv-worker' && !merges.includes(th)).every((th) => th.nice === base), JSON.stringify(threads));
  } finally {
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
  }
});

it('without the native addon (SIGNET_NATIVE=0) says so on start and still verifies and logs entries', async () => {
  const { spawn } = await import('node:child_process');
  const { ecKey, hashedRekordV1 } = await import('../../rekor/fixtures.js');
  const child = spawn(process.execPath, [main, 'serve', '--data-dir', join(dir, 'nonative'), '--listen', '127.0.0.1:0'], {
    env: { ...process.env, SIGNET_NATIVE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const url = await new Promise<string>((res, rej) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Listening on (http:\/\/\S+)/.exec(out);
        if (m) res(m[1]!);
      });
      child.once('exit', (code) => rej(new Error(`serve exited with ${code}: ${stderr}`)));
    });
    const key = ecKey();
    const good = await fetch(url + '/api/v1/log/entries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hashedRekordV1(key)) });
    assert.equal(good.status, 201);
    const bad = hashedRekordV1(key) as { spec: { data: { hash: { value: string } } } };
    bad.spec.data.hash.value = bad.spec.data.hash.value.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const refused = await fetch(url + '/api/v1/log/entries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(bad) });
    assert.equal(refused.status, 400);
    assert.match(stderr, /without the native ECDSA addon, about 5x slower: SIGNET_NATIVE=0/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});

it('--dev-oidc on a non-loopback address: refused in one line; the loudly named override starts it with a warning', async () => {
  const d = join(dir, 'devany');
  const refused = serve(['--data-dir', d, '--listen', '0.0.0.0:0', '--dev-oidc']);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /^Error: --dev-oidc .*not "0\.0\.0\.0:0"; --dev-oidc-insecure-any-address overrides this\n$/);
  assert.equal(existsSync(d), false);
  // The override exists on the command line only: no environment variable turns it on by accident.
  const viaEnv = serve(['--data-dir', d, '--listen', '0.0.0.0:0', '--dev-oidc'], { SIGNET_DEV_OIDC_INSECURE_ANY_ADDRESS: '1' });
  assert.equal(viaEnv.status, 2);
  assert.equal(viaEnv.stderr, refused.stderr);
  const alone = serve(['--data-dir', d, '--listen', '127.0.0.1:0', '--dev-oidc-insecure-any-address']);
  assert.equal(alone.status, 2);
  assert.equal(alone.stderr, 'Error: --dev-oidc-insecure-any-address needs --dev-oidc\n');
  // SIGNET_DEV_OIDC is read as a boolean: 0/false leave the issuer off, true turns it on.
  for (const off of ['0', 'false']) {
    const envOff = serve(['--data-dir', d, '--listen', '127.0.0.1:0', '--dev-oidc-insecure-any-address'], { SIGNET_DEV_OIDC: off });
    assert.equal(envOff.stderr, 'Error: --dev-oidc-insecure-any-address needs --dev-oidc\n');
  }
  const envOn = serve(['--data-dir', d, '--listen', '0.0.0.0:0'], { SIGNET_DEV_OIDC: 'true' });
  assert.equal(envOn.status, 2);
  assert.equal(envOn.stderr, refused.stderr);

  const child = spawn(process.execPath, [main, 'serve', '--data-dir', d, '--listen', '0.0.0.0:0', '--dev-oidc', '--dev-oidc-insecure-any-address'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  try {
    await new Promise<void>((res, rej) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('Signing config:')) res();
      });
      child.once('exit', (code) => rej(new Error(`serve exited with ${code}: ${stderr}`)));
    });
    for (let i = 0; i < 50 && !stderr.includes('WARNING'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(stderr, /^WARNING: --dev-oidc-insecure-any-address: anyone who can reach http:\/\/\S+ can mint a token for any email address/m);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
});

it('on a busy port exits 1 in one line and leaves the empty data dir empty', async () => {
  const busy = createNetServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as AddressInfo).port;
  try {
    const d = join(dir, 'busy');
    mkdirSync(d);
    const r = serve(['--data-dir', d, '--listen', `127.0.0.1:${port}`, '--dev-oidc']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `Error: cannot listen on 127.0.0.1:${port}: address already in use\n`);
    assert.deepEqual(readdirSync(d), []);
  } finally {
    busy.close();
  }
});
