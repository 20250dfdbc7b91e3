/**
 * `--key https://…` public keys for verify-blob and verify, as cosign: fetched over TLS (a local https
 * server with an openssl-made certificate, trusted through NODE_EXTRA_CA_CERTS), size-capped; an
 * untrusted certificate, a 404, an oversized answer and plain http:// each fail with one line.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptPrivateKey, generateKeyPair, publicKeyInfo } from '../../src/keys/index.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-remote-key-'));
const cert = join(dir, 'tls.pem');
const blob = join(dir, 'artifact.txt');
const keyFile = join(dir, 'cosign.key');
const bundle = join(dir, 'bundle.json');
let server: Server;
let base: string;
let pubPem: string;

before(async () => {
  const tlsKey = join(dir, 'tls.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', tlsKey, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const { privateKey } = generateKeyPair('ecdsa-p256');
  pubPem = publicKeyInfo(privateKey).pem;
  writeFileSync(keyFile, encryptPrivateKey(privateKey, Buffer.from('pw'), { N: 32768 }));
  writeFileSync(blob, 'verified with a published key\n');
  server = createServer({ key: readFileSync(tlsKey), cert: readFileSync(cert) }, (req, res) => {
    if (req.url === '/cosign.pub') res.end(pubPem);
    else if (req.url === '/hop.pub') {
      res.writeHead(301, { location: '/cosign.pub' });
      res.end();
    } else if (req.url === '/moved.pub') {
      res.writeHead(302, { location: 'http://127.0.0.1:1/cosign.pub' });
      res.end();
    } else if (req.url === '/huge.pub') res.end(Buffer.alloc(2 * 1024 * 1024, 0x41));
    else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const s = await runCli(['sign-blob', '--key', keyFile, '--tlog-upload=false', '--bundle', bundle, blob], { env: { COSIGN_PASSWORD: 'pw' } });
  assert.equal(s.code, 0, s.stderr);
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('https:// public keys', () => {
  const verify = (key: string, env: Record<string, string> = { NODE_EXTRA_CA_CERTS: cert }) =>
    runCli(['verify-blob', '--key', key, '--bundle', bundle, '--insecure-ignore-tlog', blob], { env });

  test('verify-blob --key https://… fetches the key over TLS', async () => {
    const r = await verify(`${base}/cosign.pub`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Verified OK/);
    const moved = await verify(`${base}/hop.pub`);
    assert.equal(moved.code, 0, moved.stderr);
  });

  test('a certificate the machine does not trust: refused', async () => {
    const r = await verify(`${base}/cosign.pub`, {});
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^Error: cannot fetch public key https:\/\/127\.0\.0\.1:\d+\/cosign\.pub: .*certificate/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  test('404, oversized answer, plain http', async () => {
    const missing = await verify(`${base}/missing.pub`);
    assert.match(missing.stderr, /^Error: cannot fetch public key .*missing\.pub: HTTP 404\n$/);
    const huge = await verify(`${base}/huge.pub`);
    assert.match(huge.stderr, /^Error: public key .*huge\.pub is 2097152 bytes, more than the limit of 1048576\n$/);
    const plain = await verify(`http://127.0.0.1:1/cosign.pub`);
    assert.match(plain.stderr, /^Error: public key URL http:\/\/127\.0\.0\.1:1\/cosign\.pub is plain HTTP; use https:\/\/\n$/);
    const downgraded = await verify(`${base}/moved.pub`);
    assert.match(downgraded.stderr, /^Error: cannot fetch public key .*moved\.pub: redirected to http:\/\/127\.0\.0\.1:1\/cosign\.pub, which is not https:\/\/\n$/);
    for (const r of [missing, huge, plain, downgraded]) assert.notEqual(r.code, 0);
  });

  test('sign --key https://… is refused: a URL holds a public key', async () => {
    const r = await runCli(['sign-blob', '--key', `${base}/cosign.pub`, '--tlog-upload=false', '--bundle', join(dir, 'x.json'), blob], { env: { NODE_EXTRA_CA_CERTS: cert } });
    assert.match(r.stderr, /^Error: https:\/\/.*cosign\.pub is a public key URL; signing needs a private key\n$/);
  });
});
