/**
 * A certificate stored beside a token key (cosign's pkcs11key `Certificate()`: a certificate object with
 * the key's CKA_ID and CKA_LABEL): SoftHSM2 keys, certificates issued for their public keys by an
 * openssl-made CA and written into the token with `pkcs11-tool --write-object`. `sign-blob` and `sign`
 * attach the token's certificate (bundle `certificate`, legacy `certificate`/`chain` annotations), and the
 * signatures verify under `--certificate-chain` and the identity flags. `--certificate` may not override
 * the token's, a certificate for another key is refused, and a key without one signs with its key.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RegistryClient } from '../../src/oci/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { createSoftToken, type SoftToken } from '../helpers/softhsm.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-p11cert-'));
const p = (name: string): string => join(dir, name);
const EMAIL = 'hsm-signer@example.org';
const ID = ['--certificate-identity', EMAIL, '--certificate-oidc-issuer-regexp', '.*', '--insecure-ignore-sct', '--insecure-ignore-tlog'];
let token: SoftToken;
let reg: RunningRegistry;
let client: RegistryClient;
const blob = p('artifact.txt');

function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { env: { ...token.env, COSIGN_PKCS11_PIN: undefined, COSIGN_PKCS11_MODULE_PATH: undefined, SIGSTORE_ID_TOKEN: undefined, SIGNET_HOME: p('home'), TUF_ROOT: p('tuf') } });
}

function openssl(args: string[]): Buffer {
  return execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A code-signing certificate for EMAIL over the public key in `pub` (PEM), issued by the root. */
function issue(pub: string, out: string): void {
  writeFileSync(p('leaf.ext'), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName=email:${EMAIL}\n`);
  openssl(['x509', '-new', '-subj', '/O=Example/CN=hsm key', '-force_pubkey', pub, '-CA', 'root.pem', '-CAkey', 'root.key', '-days', '7', '-extfile', 'leaf.ext', '-outform', 'DER', '-out', out]);
}

async function exportPublicKey(label: string): Promise<string> {
  const out = p(`${label}.pub`);
  const r = await cli(['public-key', '--key', token.uri(label, { pin: false }), '--outfile', out]);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

function refused(r: CliResult, exit: number, re: RegExp): void {
  assert.equal(r.code, exit, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, re);
}

const pem = (der: Buffer): string => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

before(async () => {
  token = createSoftToken(dir, 'signet-certs');
  writeFileSync(blob, `signed in a token ${Date.now()}\n`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-subj', '/O=Example/CN=root', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  token.generate('EC:prime256v1', 'hsm', '0a');
  token.generate('EC:prime256v1', 'bare', '0b');
  token.generate('EC:prime256v1', 'mismatch', '0c');
  issue(await exportPublicKey('hsm'), p('hsm.der'));
  token.writeCertificate(p('hsm.der'), 'hsm', '0a');
  // A certificate stored under the third key's id and label, but for another key.
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key']);
  openssl(['pkey', '-in', 'other.key', '-pubout', '-out', 'other.pub']);
  issue(p('other.pub'), p('other.der'));
  token.writeCertificate(p('other.der'), 'mismatch', '0c');
  reg = await startRegistry();
  client = new RegistryClient({});
});
after(async () => {
  await client?.close();
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('pkcs11: a certificate beside the key', () => {
  test('sign-blob attaches the token\'s certificate; verify-blob checks it against --certificate-chain and the identity', async () => {
    const bundle = p('blob.sigstore.json');
    let r = await cli(['sign-blob', '--key', token.uri('hsm'), '--tlog-upload=false', '--bundle', bundle, '--output-certificate', p('out.pem'), blob]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(readFileSync(bundle, 'utf8'));
    assert.equal(doc.verificationMaterial.certificate?.rawBytes, readFileSync(p('hsm.der')).toString('base64'));
    assert.equal(doc.verificationMaterial.publicKey, undefined);
    assert.equal(readFileSync(p('out.pem'), 'utf8'), pem(readFileSync(p('hsm.der'))));
    r = await cli(['verify-blob', ...ID, '--certificate-chain', p('root.pem'), '--bundle', bundle, blob]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Verified OK/);
    refused(await cli(['verify-blob', ...ID.map((a) => (a === EMAIL ? 'mallory@example.org' : a)), '--certificate-chain', p('root.pem'), '--bundle', bundle, blob]), 1, /identity/);
    // The key still verifies it too.
    r = await cli(['verify-blob', '--key', token.uri('hsm', { pin: false }), '--insecure-ignore-tlog', '--bundle', bundle, blob]);
    assert.equal(r.code, 0, r.stderr);
  });

  test('sign (legacy .sig and bundle format) attaches it with --certificate-chain; verify under the chain and identity', async () => {
    const repo = { registry: reg.host, repository: 'p11cert/app' };
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${reg.host}/${repo.repository}@${img.digest}`;
    let r = await cli(['sign', '--key', token.uri('hsm'), '--certificate-chain', p('root.pem'), '--tlog-upload=false', '--new-bundle-format=false', '-y', ref]);
    assert.equal(r.code, 0, r.stderr);
    const sig = JSON.parse((await client.getManifest(repo, `sha256-${img.digest.slice(7)}.sig`)).bytes.toString());
    const annotations = sig.layers[0].annotations;
    assert.equal(annotations['dev.sigstore.cosign/certificate'], pem(readFileSync(p('hsm.der'))));
    assert.equal(annotations['dev.sigstore.cosign/chain'].replace(/\r/g, ''), readFileSync(p('root.pem'), 'utf8'));
    r = await cli(['sign', '--key', token.uri('hsm'), '--tlog-upload=false', '-y', ref]);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['verify', ...ID, '--certificate-chain', p('root.pem'), ref]);
    assert.equal(r.code, 0, r.stderr);
    const verified = JSON.parse(r.stdout);
    assert.equal(Array.isArray(verified) ? verified.length : 1, 2, r.stdout);
    refused(await cli(['verify', ...ID.map((a) => (a === EMAIL ? 'mallory@example.org' : a)), '--certificate-chain', p('root.pem'), ref]), 12, /identity/);
  });

  test('--certificate may not override the token\'s; a certificate for another key is refused; a key without one signs with the key', async () => {
    refused(await cli(['sign-blob', '--key', token.uri('hsm'), '--certificate', p('out.pem'), '--tlog-upload=false', '--bundle', p('x.json'), blob]), 2, /token holds a certificate for this key.*--certificate/);
    refused(await cli(['sign-blob', '--key', token.uri('mismatch'), '--tlog-upload=false', '--bundle', p('y.json'), blob]), 1, /certificate .*does not certify the key's public key/);
    refused(await cli(['sign-blob', '--key', token.uri('bare'), '--certificate-chain', p('root.pem'), '--tlog-upload=false', '--bundle', p('z.json'), blob]), 2, /--certificate-chain needs --certificate/);
    const bundle = p('bare.json');
    const r = await cli(['sign-blob', '--key', token.uri('bare'), '--tlog-upload=false', '--bundle', bundle, blob]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(JSON.parse(readFileSync(bundle, 'utf8')).verificationMaterial.publicKey);
  });
});
