/**
 * --allow-certificate-chain (cosign v3, from sigstore-go's support for bundles carrying a chain): a v0.3
 * bundle whose verification material is an x509CertificateChain (leaf, then intermediates, as cosign
 * `sign --certificate-chain` writes it) is refused without the flag — the format allows the leaf alone —
 * and with it the bundle's intermediates may link the leaf to a root the verifier trusts; they never
 * anchor the chain themselves. Chains made by openssl here: root → intermediate → leaf, and an attacker's
 * own root → intermediate → leaf for the same identity.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encryptPrivateKey } from '../../src/keys/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-allowchain-'));
const p = (name: string): string => join(dir, name);
const env = { SIGNET_HOME: p('home'), TUF_ROOT: p('tuf'), SIGSTORE_ID_TOKEN: undefined, COSIGN_PASSWORD: 'pw' };
const EMAIL = 'release-signer@example.org';
const VERIFY = ['verify-blob', '--certificate-identity', EMAIL, '--certificate-oidc-issuer-regexp', '.*', '--insecure-ignore-sct', '--insecure-ignore-tlog'];
const artifact = p('artifact.txt');

function openssl(args: string[]): Buffer {
  return execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

function ca(name: string, issuer?: string): void {
  const ext = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  if (!issuer) {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/O=Example/CN=${name}`, '-days', '30', ...ext]);
    return;
  }
  writeFileSync(p(`${name}.ext`), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=Example/CN=${name}`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-days', '30', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
}

function leaf(name: string, issuer: string): void {
  writeFileSync(p(`${name}.ext`), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName=email:${EMAIL}\n`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.pkcs8`, '-out', `${name}.csr`, '-subj', `/O=Example/CN=${name}`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-days', '7', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  writeFileSync(p(`${name}.key`), encryptPrivateKey(createPrivateKey(readFileSync(p(`${name}.pkcs8`))), Buffer.from('pw'), { N: 32768 }));
}

const der = (name: string): string => openssl(['x509', '-in', `${name}.pem`, '-outform', 'DER']).toString('base64');

/** A bundle signed by `signer`, its verification material replaced by the chain `[signer, ...chain]` (what cosign v3 writes). */
async function chainBundle(signer: string, issuer: string, chain: string[]): Promise<string> {
  const out = p(`${signer}-${chain.join('-') || 'alone'}.sigstore.json`);
  const r = await runCli(['sign-blob', '--key', p(`${signer}.key`), '--certificate', p(`${signer}.pem`), '--certificate-chain', p(`${issuer}-chain.pem`), '--tlog-upload=false', '--bundle', out, artifact], { env });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(doc.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  delete doc.verificationMaterial.certificate;
  doc.verificationMaterial.x509CertificateChain = { certificates: [signer, ...chain].map((n) => ({ rawBytes: der(n) })) };
  writeFileSync(out, JSON.stringify(doc));
  return out;
}

function refused(r: CliResult, re: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, re);
  assert.doesNotMatch(r.stderr, /Verified OK/);
}

before(() => {
  writeFileSync(artifact, `released ${Date.now()}\n`);
  ca('root');
  ca('intermediate', 'root');
  leaf('leaf', 'intermediate');
  ca('evil-root');
  ca('evil-intermediate', 'evil-root');
  leaf('evil-leaf', 'evil-intermediate');
  for (const [i, r] of [['intermediate', 'root'], ['evil-intermediate', 'evil-root']] as const) {
    writeFileSync(p(`${i}-chain.pem`), readFileSync(p(`${i}.pem`), 'utf8') + readFileSync(p(`${r}.pem`), 'utf8'));
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('--allow-certificate-chain', () => {
  test('a v0.3 bundle carrying leaf + intermediate: refused without the flag; with it the intermediate links the leaf to the trusted root', async () => {
    const bundle = await chainBundle('leaf', 'intermediate', ['intermediate']);
    const roots = ['--ca-roots', p('root.pem')];
    refused(await runCli([...VERIFY, ...roots, '--bundle', bundle, artifact], { env }), /v0\.3 bundle must carry the signing certificate alone.*--allow-certificate-chain/);
    const r = await runCli([...VERIFY, ...roots, '--allow-certificate-chain', '--bundle', bundle, artifact], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Verified OK/);
    // The trust anchors still come from the verifier: another root is refused.
    refused(await runCli([...VERIFY, '--ca-roots', p('evil-root.pem'), '--allow-certificate-chain', '--bundle', bundle, artifact], { env }), /not issued by a trusted certificate authority/);
    // The identity flags still apply.
    refused(await runCli([...VERIFY.map((a) => (a === EMAIL ? 'someone@example.org' : a)), ...roots, '--allow-certificate-chain', '--bundle', bundle, artifact], { env }), /identity/);
  });

  test('a chain that reaches only its own root is refused, even when it carries that root', async () => {
    const roots = ['--ca-roots', p('root.pem'), '--allow-certificate-chain'];
    const own = await chainBundle('evil-leaf', 'evil-intermediate', ['evil-intermediate', 'evil-root']);
    refused(await runCli([...VERIFY, ...roots, '--bundle', own, artifact], { env }), /not issued by a trusted certificate authority/);
    // Without the intermediate the leaf cannot reach the trusted root at all.
    const alone = await chainBundle('leaf', 'intermediate', []);
    refused(await runCli([...VERIFY, ...roots, '--bundle', alone, artifact], { env }), /not issued by a trusted certificate authority/);
    // A leaf in the intermediate's place is no CA.
    const bogus = await chainBundle('leaf', 'intermediate', ['evil-leaf']);
    refused(await runCli([...VERIFY, ...roots, '--bundle', bogus, artifact], { env }), /not issued by a trusted certificate authority/);
  });
});
