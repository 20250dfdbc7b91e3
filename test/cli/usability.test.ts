/**
 * What a new user meets first (issue 10): --version, --verbose, --output-file, the log index `sign`
 * prints, verify's stdout, the reason a keyless verification fails when key-based signatures sit beside
 * the keyless ones, and the hint to `signet dev token` when a terminal user signs keyless against
 * `serve --dev-oidc`. Real server, real registry, the CLI as users run it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RegistryClient } from '../../src/oci/index.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { encryptPrivateKey, generateKeyPair, publicKeyInfo } from '../../src/keys/index.js';
import { describeUrl, enableRequestLog } from '../../src/cli/verbose.js';
import { createServer, get as httpGet } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { freePort, pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { MAIN, runCli } from '../helpers/cli.js';
import { nodeTooOld } from '../../src/cli/node-version.js';
import { devToken } from '../helpers/dev-token.js';

let srv: RunningServer;
let reg: RunningRegistry;
let client: RegistryClient;
const dir = mkdtempSync(join(tmpdir(), 'signet-usability-'));
const env = { SIGNET_HOME: join(dir, 'home'), SIGSTORE_ID_TOKEN: undefined, ACTIONS_ID_TOKEN_REQUEST_URL: undefined, COSIGN_PASSWORD: 'pw' };
const keyPath = join(dir, 'cosign.key');
const pubPath = join(dir, 'cosign.pub');

before(async () => {
  [srv, reg] = await Promise.all([startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true }), startRegistry()]);
  client = new RegistryClient({});
  const { privateKey } = generateKeyPair('ecdsa-p256');
  writeFileSync(keyPath, encryptPrivateKey(privateKey, Buffer.from('pw')));
  writeFileSync(pubPath, publicKeyInfo(privateKey).pem);
});
after(async () => {
  await client.close();
  await Promise.all([srv.close(), reg.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('global flags', () => {
  test('a node older than 22 is refused in one line before any command runs', () => {
    assert.equal(nodeTooOld('22.0.0'), undefined);
    assert.equal(nodeTooOld('24.9.0'), undefined);
    for (const v of ['20.20.2', '18.19.0', 'v24', '']) assert.match(nodeTooOld(v) ?? '', /^Signet needs Node\.js 22 or later, and this is Node\.js .*: run it as bin\/signet/, v);
  });

  // The machines carry an older system node beside the npm-installed Node.js 24: run the CLI on it, as a user who
  // types `node dist/src/cli/main.js` would.
  const systemNode = spawnSync('/usr/bin/node', ['-p', 'process.versions.node'], { encoding: 'utf8' });
  const oldNode = systemNode.status === 0 && nodeTooOld(systemNode.stdout.trim()) !== undefined;
  test('on an older node, every command (serve too) exits 2 with that line and writes nothing', { skip: !oldNode && 'no node older than 22 at /usr/bin/node' }, () => {
    const dataDir = join(dir, 'old-node-serve');
    for (const args of [['version'], ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0']]) {
      const r = spawnSync('/usr/bin/node', [MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^Error: Signet needs Node\.js 22 or later, and this is Node\.js \d+\.\d+\.\d+: run it as bin\/signet[^\n]*\n$/);
    }
    assert.equal(existsSync(dataDir), false, 'serve created nothing');
  });

  test('signet --version prints what signet version prints', async () => {
    const a = await runCli(['--version']);
    const b = await runCli(['version']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, /^signet \d+\.\d+\.\d+/);
    const withCommand = await runCli(['public-key', '--version', '--key', pubPath]);
    assert.equal(withCommand.code, 2);
    assert.match(withCommand.stderr, /^Error: --version takes no command/);
  });

  test('--output-file writes stdout into the file (before or after the command); nothing on failure', async () => {
    const out = join(dir, 'version.json');
    const r = await runCli(['version', '--json', '--output-file', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(JSON.parse(readFileSync(out, 'utf8')).gitVersion, JSON.parse((await runCli(['version', '--json'])).stdout).gitVersion);
    const pub = join(dir, 'pub.pem');
    const p = await runCli(['--output-file', pub, 'public-key', '--key', pubPath]);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(readFileSync(pub, 'utf8'), readFileSync(pubPath, 'utf8'));
    const failed = join(dir, 'never.pem');
    const f = await runCli(['public-key', '--key', join(dir, 'absent.pub'), '--output-file', failed]);
    assert.equal(f.code, 1);
    assert.equal(existsSync(failed), false);
  });

  test('-d/--verbose prints each HTTP request with method, URL, status and time on stderr; stdout unchanged', async () => {
    const r = await runCli(['-d', 'log', 'info', '--rekor-url', srv.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^HTTP GET ${srv.url.replace(/[.]/g, '\\.')}/api/v1/log → 200 \\(\\d+ ms\\)$`, 'm'));
    const quiet = await runCli(['log', 'info', '--rekor-url', srv.url]);
    assert.doesNotMatch(quiet.stderr, /^HTTP /m);
    const closed = await freePort();
    const refused = await runCli(['--verbose', 'log', 'info', '--rekor-url', `http://127.0.0.1:${closed}`]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^HTTP GET http://127\\.0\\.0\\.1:${closed}/api/v1/log → failed: .*ECONNREFUSED`, 'm'));
  });

  test('the request log covers node:http clients as well as fetch (undici), failures included', async () => {
    const lines: string[] = [];
    enableRequestLog((l) => lines.push(l));
    const server = createServer((_req, res) => res.writeHead(204).end()).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      await new Promise<void>((resolve, reject) => httpGet(`http://127.0.0.1:${port}/via-http?token=secret`, (r) => r.resume().on('end', resolve)).on('error', reject));
      await fetch(`http://127.0.0.1:${port}/via-fetch`, { method: 'POST', body: 'x' });
      const closed = await freePort();
      await new Promise<void>((resolve) => httpGet(`http://127.0.0.1:${closed}/refused`).on('error', () => resolve()));
      assert.match(lines.join('\n'), new RegExp(`^HTTP GET http://127\\.0\\.0\\.1:${port}/via-http\\?token=… → 204 \\(\\d+ ms\\)$`, 'm'));
      assert.match(lines.join('\n'), new RegExp(`^HTTP POST http://127\\.0\\.0\\.1:${port}/via-fetch → 204 \\(\\d+ ms\\)$`, 'm'));
      assert.match(lines.join('\n'), new RegExp(`^HTTP GET http://127\\.0\\.0\\.1:${closed}/refused → failed: .*ECONNREFUSED`, 'm'));
      assert.ok(!lines.join('\n').includes('secret'));
    } finally {
      server.close();
    }
  });

  test('--verbose URLs carry no secrets', () => {
    assert.equal(describeUrl('https://u:p@reg.example', '/token?scope=repository:a:pull&access_token=abc&service=x'), 'https://reg.example/token?scope=repository:a:pull&access_token=…&service=x');
    assert.equal(describeUrl(new URL('http://127.0.0.1:3000'), '/oidc/token?code=xyz&state=1'), 'http://127.0.0.1:3000/oidc/token?code=…&state=1');
  });
});

describe('images signed with a key and keyless', () => {
  let ref: string;
  before(async () => {
    const repo = { registry: reg.host, repository: 'usability/mixed' };
    const img = await pushRandomImage(client, repo, 'v1');
    ref = `${repo.registry}/${repo.repository}@${img.digest}`;
  });

  test('sign prints the log index like sign-blob; verify stdout is the JSON alone', async () => {
    const s = await runCli(['sign', '--key', keyPath, '--rekor-url', srv.url, ref], { env });
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /^tlog entry created with index: \d+$/m);
    const legacy = await runCli(['sign', '--key', keyPath, '--rekor-url', srv.url, '--new-bundle-format=false', ref], { env });
    assert.equal(legacy.code, 0, legacy.stderr);
    assert.match(legacy.stderr, /^tlog entry created with index: \d+$/m);
    const v = await runCli(['verify', '--key', pubPath, '--trusted-root', srv.trustedRootPath, ref], { env });
    assert.equal(v.code, 0, v.stderr);
    assert.ok(v.stdout.startsWith('['), JSON.stringify(v.stdout.slice(0, 20)));
    assert.equal(JSON.parse(v.stdout).length, 2);
  });

  test('keyless verify with a wrong identity leads with the identity mismatch, not the key-signed signatures', async () => {
    const k = await runCli(['sign', '--signing-config', srv.signingConfigPath, '--identity-token', await devToken(srv.url, 'alice@example.com'), ref], { env });
    assert.equal(k.code, 0, k.stderr);
    const args = ['verify', '--trusted-root', srv.trustedRootPath, '--certificate-oidc-issuer', srv.url + '/oidc', ref];
    const ok = await runCli([...args, '--certificate-identity', 'alice@example.com'], { env });
    assert.equal(ok.code, 0, ok.stderr);
    const r = await runCli([...args, '--certificate-identity', 'mallory@example.com'], { env });
    assert.equal(r.code, 12, r.stderr);
    assert.match(r.stderr, /\nError: [^\n]+\n$/);
    const reasons = /no matching signatures for \S+@sha256:[0-9a-f]+: (.*)$/m.exec(r.stderr)?.[1] ?? '';
    assert.doesNotMatch(reasons, /^bundle was signed with a key/, r.stderr);
    assert.match(reasons, /mallory@example\.com|alice@example\.com/, r.stderr);
    assert.match(reasons, /; 2 other signatures were made with a key \(verify with --key\)$/, r.stderr);
  });
});

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

describe('keyless signing on a terminal against serve --dev-oidc', { skip: !hasScript && 'util-linux script is not installed' }, () => {
  test('without a token, the error points at signet dev token', async () => {
    const artifact = join(dir, 'artifact.txt');
    writeFileSync(artifact, 'hello\n');
    const args = [process.execPath, MAIN, 'sign-blob', '--signing-config', srv.signingConfigPath, '--bundle', join(dir, 'a.sigstore.json'), artifact];
    const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const childEnv: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!['SIGSTORE_ID_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_URL', 'BROWSER', 'DISPLAY'].includes(k)) childEnv[k] = v;
    childEnv.SIGNET_HOME = join(dir, 'home');
    const p = spawn('script', ['-qec', quoted, '/dev/null'], { env: childEnv });
    let screen = '';
    p.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    p.stdin.end();
    const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
    assert.notEqual(code, 0, screen);
    assert.match(screen, /OIDC discovery for http:\/\/127\.0\.0\.1:\d+\/oidc: no authorization_endpoint: it offers no browser login/);
    assert.ok(screen.includes(`signet dev token --server ${srv.url} --email ADDRESS`), screen);
    assert.equal(existsSync(join(dir, 'a.sigstore.json')), false);
  });
});

test('keyed signing whose timestamp authority fails writes and pushes nothing, for sign and sign-blob (COSIGN_TIMESTAMP_SERVER_URL too)', async () => {
  const blob = join(dir, 'ts-blob.txt');
  writeFileSync(blob, 'timestamp me\n');
  const bundle = join(dir, 'ts-blob.sigstore.json');
  const tsa = `${srv.url}/api/v1/no-such-timestamp`;
  const r1 = await runCli(['sign-blob', '--key', keyPath, '--tlog-upload=false', '--timestamp-server-url', tsa, '--bundle', bundle, blob], { env });
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /^Error: timestamp authority at .* answered 404/m);
  assert.equal(existsSync(bundle), false);
  const repo = { registry: reg.host, repository: 'usability/ts-key' };
  const image = await pushRandomImage(client, repo, 'v1');
  const r2 = await runCli(['sign', '--key', keyPath, '--tlog-upload=false', `${repo.registry}/${repo.repository}@${image.digest}`], { env: { ...env, COSIGN_TIMESTAMP_SERVER_URL: tsa } });
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /^Error: timestamp authority at .* answered 404/m);
  const tags = await client.listTags(repo);
  assert.deepEqual(tags.filter((t) => t.startsWith('sha256-')), []);
  const referrers = await client.referrers(repo, image.digest);
  assert.deepEqual(referrers.manifests, []);
});
