/**
 * A registry that requires TLS client certificates (docker-registry with http.tls.clientcas, certificates
 * made with openssl): sign and verify through the CLI with --registry-client-cert/--registry-client-key;
 * without them, or with a certificate from another CA, one clear line naming the flags.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encryptPrivateKey, generateKeyPair } from '../../src/keys/index.js';
import { RegistryClient } from '../../src/oci/index.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli, type CliResult } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-mtls-'));
const f = (name: string): string => join(dir, name);
const openssl = (args: string[]): void => {
  execFileSync('openssl', args, { stdio: 'ignore' });
};

/** A CA and a client certificate it issued, as an operator would make them. */
function clientPki(prefix: string): { ca: string; cert: string; key: string } {
  const ca = f(`${prefix}-ca.pem`);
  const caKey = f(`${prefix}-ca.key`);
  const key = f(`${prefix}-client.key`);
  const csr = f(`${prefix}-client.csr`);
  const cert = f(`${prefix}-client.pem`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', ca, '-days', '2', '-subj', `/CN=${prefix} client CA`]);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${prefix} builder`]);
  writeFileSync(f(`${prefix}-ext.cnf`), 'extendedKeyUsage = clientAuth\n');
  openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', f(`${prefix}-ext.cnf`)]);
  return { ca, cert, key };
}

function oneLine(r: CliResult, code: number, re: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  // verify --insecure-ignore-tlog warns first; the error itself is one line.
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('WARNING: Skipping tlog verification'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, re);
}

describe('registry with mutual TLS', () => {
  let reg: RunningRegistry;
  let pki: { ca: string; cert: string; key: string };
  const env = { COSIGN_PASSWORD: 'pw', SIGSTORE_ID_TOKEN: undefined, TUF_ROOT: join(dir, 'tuf') };

  before(async () => {
    pki = clientPki('good');
    reg = await startRegistry({ tls: true, clientCas: pki.ca });
    writeFileSync(f('cosign.key'), encryptPrivateKey(generateKeyPair('ecdsa-p256').privateKey, Buffer.from('pw'), { N: 32768 }));
  });
  after(async () => {
    await reg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the right client certificate signs and verifies; none, or one from another CA, is one clear line', async () => {
    const client = new RegistryClient({ caCertFile: reg.caCertFile, clientCertFile: pki.cert, clientKeyFile: pki.key, retry: { retries: 0 } });
    const repo = { registry: reg.host, repository: 'mtls/app' };
    const img = await pushRandomImage(client, repo, 'v1');
    await client.close();
    const ref = `${reg.host}/mtls/app@${img.digest}`;
    const tls = ['--registry-cacert', reg.caCertFile!];
    const mtls = [...tls, '--registry-client-cert', pki.cert, '--registry-client-key', pki.key];

    let r = await runCli(['sign', '--key', f('cosign.key'), '--tlog-upload=false', '-y', ...mtls, ref], { env });
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(['verify', '--key', f('cosign.key'), '--insecure-ignore-tlog', ...mtls, ref], { env });
    assert.equal(r.code, 0, r.stderr);
    // The certificate names 127.0.0.1 and localhost: --registry-server-name picks the name checked.
    r = await runCli(['verify', '--key', f('cosign.key'), '--insecure-ignore-tlog', ...mtls, '--registry-server-name', 'localhost', ref], { env });
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(['verify', '--key', f('cosign.key'), '--insecure-ignore-tlog', ...mtls, '--registry-server-name', 'registry.example.com', ref], { env });
    oneLine(r, 1, /certificate does not name registry\.example\.com .*check --registry-server-name/);

    r = await runCli(['verify', '--key', f('cosign.key'), '--insecure-ignore-tlog', ...tls, ref], { env });
    oneLine(r, 1, /requires a TLS client certificate .*pass --registry-client-cert and --registry-client-key/);

    const other = clientPki('other');
    r = await runCli(['verify', '--key', f('cosign.key'), '--insecure-ignore-tlog', ...tls, '--registry-client-cert', other.cert, '--registry-client-key', other.key, ref], { env });
    oneLine(r, 1, /refused the TLS client certificate .*--registry-client-cert/);

    r = await runCli(['verify', '--key', f('cosign.key'), '--insecure-ignore-tlog', ...tls, '--registry-client-cert', pki.cert, ref], { env });
    oneLine(r, 2, /--registry-client-cert and --registry-client-key go together/);
    r = await runCli(['verify', '--key', f('cosign.key'), '--insecure-ignore-tlog', ...tls, '--registry-client-cert', pki.cert, '--registry-client-key', other.key, ref], { env });
    oneLine(r, 1, /does not fit certificate/);
  });
});
