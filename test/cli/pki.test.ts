/**
 * Signing with a certificate from the organisation's own CA, as users run it: a chain made by `openssl`
 * here (root → intermediate → leaf, ECDSA P-256, CA and code-signing extensions, an email SAN), the
 * leaf's key imported with `import-key-pair`, images in the real docker-registry and blobs signed with
 * key + certificate + chain, and verified against `--certificate-chain` or `--ca-roots`/`--ca-intermediates`
 * under the identity flags. Expired leaf, wrong root, missing intermediate and wrong identity are each
 * refused with one line.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RegistryClient } from '../../src/oci/index.js';
import { ANNOTATION, attachmentTag, parseImageManifest } from '../../src/cosign/storage.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli, type CliResult } from '../helpers/cli.js';

let srv: RunningServer;
let reg: RunningRegistry;
let client: RegistryClient;
const dir = mkdtempSync(join(tmpdir(), 'signet-pki-'));
const env = { SIGNET_HOME: join(dir, 'home'), SIGSTORE_ID_TOKEN: undefined, ACTIONS_ID_TOKEN_REQUEST_URL: undefined, COSIGN_PASSWORD: 'pw' };
let n = 0;
const file = (name: string): string => join(dir, `${++n}-${name}`);
const p = (name: string): string => join(dir, name);
const artifact = p('artifact.txt');
const EMAIL = 'release-signer@example.org';
/** The identity flags for the leaf: its email SAN; it names no OIDC issuer, which '.*' accepts (as with cosign). */
const ID = ['--certificate-identity', EMAIL, '--certificate-oidc-issuer-regexp', '.*'];
/** Our own PKI carries no SCTs, and the offline signatures here no log entry. */
const OFFLINE = ['--insecure-ignore-sct', '--insecure-ignore-tlog'];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA: self-signed root, or signed by `issuer`. */
function makeCa(name: string, issuer?: string): void {
  writeFileSync(p(`${name}.ext`), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
  if (!issuer) {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/O=Example Org/CN=${name}`, '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    return;
  }
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=Example Org/CN=${name}`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-days', '30', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
}

/** A code-signing leaf for EMAIL issued by `issuer`, valid for `days` (0: expired a second after issue). */
function makeLeaf(name: string, issuer: string, days: number, email = EMAIL): void {
  writeFileSync(p(`${name}.ext`), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName=email:${email}\n`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.pkcs8`, '-out', `${name}.csr`, '-subj', `/O=Example Org/CN=${name}`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-days', String(days), '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
}

function ok(r: CliResult): void {
  assert.equal(r.code, 0, r.stderr);
}

/** A refusal: exit code, one `Error:` line matching `re`, and no success line. */
function refused(r: CliResult, exit: number, re: RegExp): void {
  assert.equal(r.code, exit, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, re);
  assert.doesNotMatch(r.stderr, /Verified OK/);
}

before(async () => {
  [srv, reg] = await Promise.all([startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false }), startRegistry()]);
  client = new RegistryClient({});
  writeFileSync(artifact, `released ${Date.now()}\n`);
  makeCa('root');
  makeCa('intermediate', 'root');
  makeLeaf('leaf', 'intermediate', 7);
  makeLeaf('expired', 'intermediate', 0);
  makeLeaf('mallory', 'intermediate', 7, 'mallory@example.org');
  makeCa('other-root');
  writeFileSync(p('chain.pem'), readFileSync(p('intermediate.pem'), 'utf8') + readFileSync(p('root.pem'), 'utf8'));
  writeFileSync(p('wrong-chain.pem'), readFileSync(p('other-root.pem'), 'utf8'));
  for (const name of ['leaf', 'expired', 'mallory']) {
    ok(await runCli(['import-key-pair', '--key', p(`${name}.pkcs8`), '--output-key-prefix', p(name), '--yes'], { env }));
  }
});
after(async () => {
  await client.close();
  await Promise.all([srv.close(), reg.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const signFlags = (name: string, chain = p('chain.pem')): string[] => ['--key', p(`${name}.key`), '--certificate', p(`${name}.pem`), '--certificate-chain', chain];

describe('blobs signed with a certificate from our own CA', () => {
  test('the bundle carries the certificate; it verifies with --certificate-chain, --ca-roots + --ca-intermediates, and through the log', async () => {
    const bundle = file('leaf.sigstore.json');
    ok(await runCli(['sign-blob', ...signFlags('leaf'), '--tlog-upload=false', '--bundle', bundle, artifact], { env }));
    const doc = JSON.parse(readFileSync(bundle, 'utf8'));
    const leafDer = execFileSync('openssl', ['x509', '-in', p('leaf.pem'), '-outform', 'DER']);
    assert.equal(doc.verificationMaterial.certificate.rawBytes, leafDer.toString('base64'));
    assert.equal(doc.verificationMaterial.publicKey, undefined);

    const verify = (extra: string[], b = bundle): Promise<CliResult> => runCli(['verify-blob', ...OFFLINE, ...ID, '--bundle', b, ...extra, artifact], { env });
    ok(await verify(['--certificate-chain', p('chain.pem')]));
    ok(await verify(['--ca-roots', p('root.pem'), '--ca-intermediates', p('intermediate.pem')]));
    // The key alone still verifies the signature.
    ok(await runCli(['verify-blob', '--key', p('leaf.pub'), '--insecure-ignore-tlog', '--bundle', bundle, artifact], { env }));
    // With --key the CA flags would go unused: refused rather than ignored.
    refused(await runCli(['verify-blob', '--key', p('leaf.pub'), '--insecure-ignore-tlog', '--ca-roots', p('other-root.pem'), '--bundle', bundle, artifact], { env }), 2, /cannot be used with --key/);

    // Logged: the entry names the certificate, the chain is checked at the log's time.
    const logged = file('logged.sigstore.json');
    ok(await runCli(['sign-blob', ...signFlags('leaf'), '--rekor-url', srv.url, '--bundle', logged, artifact], { env }));
    ok(await runCli(['verify-blob', '--trusted-root', srv.trustedRootPath, ...ID, '--certificate-chain', p('chain.pem'), '--bundle', logged, artifact], { env }));
  });

  test('expired leaf, wrong root, missing intermediate and wrong identity are each refused with one line', async () => {
    const bundle = file('leaf.sigstore.json');
    ok(await runCli(['sign-blob', ...signFlags('leaf'), '--tlog-upload=false', '--bundle', bundle, artifact], { env }));
    const verify = (extra: string[], b = bundle): Promise<CliResult> => runCli(['verify-blob', ...OFFLINE, '--bundle', b, ...extra, artifact], { env });
    refused(await verify([...ID, '--certificate-chain', p('wrong-chain.pem')]), 1, /certificate chain: certificate was not issued by a trusted certificate authority/);
    refused(await verify([...ID, '--ca-roots', p('other-root.pem')]), 1, /not issued by a trusted certificate authority/);
    refused(await verify([...ID, '--ca-roots', p('root.pem')]), 1, /not issued by a trusted certificate authority/);
    refused(await verify(['--certificate-identity', 'mallory@example.org', '--certificate-oidc-issuer-regexp', '.*', '--certificate-chain', p('chain.pem')]), 1, /identity policy: certificate identity "release-signer@example.org" does not match "mallory@example.org"/);
    refused(await verify(['--certificate-identity', EMAIL, '--certificate-oidc-issuer', 'https://issuer.example', '--certificate-chain', p('chain.pem')]), 1, /no OIDC issuer extension/);

    const expired = file('expired.sigstore.json');
    ok(await runCli(['sign-blob', ...signFlags('expired'), '--tlog-upload=false', '--bundle', expired, artifact], { env }));
    await new Promise((r) => setTimeout(r, 1100)); // the leaf's notAfter is its issue second; "now" must be past it
    refused(await verify([...ID, '--certificate-chain', p('chain.pem')], expired), 1, /certificate is not valid at the signing time/);
  });

  test('legacy formats: the LocalSignedPayload carries the certificate; --signature with --certificate; through the log and with a timestamp', async () => {
    const legacy = file('legacy.json');
    const sig = file('sig');
    ok(await runCli(['sign-blob', ...signFlags('leaf'), '--rekor-url', srv.url, '--new-bundle-format=false', '--bundle', legacy, '--output-signature', sig, artifact], { env }));
    const doc = JSON.parse(readFileSync(legacy, 'utf8'));
    assert.equal(Buffer.from(doc.cert, 'base64').toString(), readFileSync(p('leaf.pem'), 'utf8'));
    const chain = ['--certificate-chain', p('chain.pem'), '--insecure-ignore-sct'];
    ok(await runCli(['verify-blob', '--trusted-root', srv.trustedRootPath, ...ID, ...chain, '--bundle', legacy, artifact], { env }));
    refused(await runCli(['verify-blob', '--trusted-root', srv.trustedRootPath, ...ID, '--ca-roots', p('other-root.pem'), '--insecure-ignore-sct', '--bundle', legacy, artifact], { env }), 1, /certificate chain: .*not issued by a trusted certificate authority/);
    refused(await runCli(['verify-blob', '--trusted-root', srv.trustedRootPath, '--certificate-identity', 'mallory@example.org', '--certificate-oidc-issuer-regexp', '.*', ...chain, '--bundle', legacy, artifact], { env }), 1, /identity policy: .*does not match "mallory@example.org"/);

    // A bare signature and its certificate, timestamped, no log.
    const tsSig = file('ts-sig');
    const ts = file('ts.json');
    ok(await runCli(['sign-blob', ...signFlags('leaf'), '--tlog-upload=false', '--timestamp-server-url', srv.url + '/api/v1/timestamp', '--new-bundle-format=false', '--output-signature', tsSig, '--rfc3161-timestamp', ts, artifact], { env }));
    const bare = (extra: string[]): Promise<CliResult> => runCli(['verify-blob', '--trusted-root', srv.trustedRootPath, ...ID, ...chain, '--insecure-ignore-tlog', '--signature', tsSig, ...extra, artifact], { env });
    ok(await bare(['--certificate', p('leaf.pem'), '--rfc3161-timestamp', ts, '--use-signed-timestamps']));
    refused(await bare(['--certificate', p('leaf.pem'), '--use-signed-timestamps']), 1, /no RFC 3161 timestamp/);
    refused(await bare(['--certificate', p('mallory.pem')]), 1, /artifact signature: signature does not verify/);
    refused(await bare([]), 2, /needs the signing certificate: pass --certificate/);
    // A legacy bundle made with a bare key carries no certificate.
    const keyOnly = file('key-only.json');
    ok(await runCli(['sign-blob', '--key', p('leaf.key'), '--tlog-upload=false', '--new-bundle-format=false', '--bundle', keyOnly, artifact], { env }));
    refused(await runCli(['verify-blob', ...OFFLINE, ...ID, ...chain, '--bundle', keyOnly, artifact], { env }), 13, /carries no certificate/);
  });

  test('signing refuses a certificate for another key and a chain that does not issue it, before anything is written', async () => {
    const bundle = file('never.json');
    refused(await runCli(['sign-blob', '--key', p('leaf.key'), '--certificate', p('mallory.pem'), '--tlog-upload=false', '--bundle', bundle, artifact], { env }), 2, /--certificate certifies a different public key than the signing key/);
    refused(await runCli(['sign-blob', ...signFlags('leaf', p('wrong-chain.pem')), '--tlog-upload=false', '--bundle', bundle, artifact], { env }), 2, /--certificate-chain: its first certificate did not issue the signing certificate/);
    refused(await runCli(['sign-blob', '--key', p('leaf.key'), '--certificate-chain', p('chain.pem'), '--tlog-upload=false', '--bundle', bundle, artifact], { env }), 2, /--certificate-chain needs --certificate/);
    assert.throws(() => readFileSync(bundle));
  });
});

describe('images signed with a certificate from our own CA', () => {
  test('referrer bundle and .sig layer (certificate and chain annotations) verify against our CA; wrong root and identity are refused', async () => {
    for (const format of ['true', 'false']) {
      const repo = { registry: reg.host, repository: `pki/app-${format}` };
      const img = await pushRandomImage(client, repo, 'v1');
      const ref = `${reg.host}/${repo.repository}@${img.digest}`;
      ok(await runCli(['sign', ...signFlags('leaf'), '--tlog-upload=false', `--new-bundle-format=${format}`, ref], { env }));
      if (format === 'false') {
        const layer = parseImageManifest((await client.getManifest(repo, attachmentTag(img.digest, 'sig'))).bytes).layers[0]!;
        assert.equal(layer.annotations![ANNOTATION.certificate], readFileSync(p('leaf.pem'), 'utf8'));
        assert.equal(layer.annotations![ANNOTATION.chain], readFileSync(p('chain.pem'), 'utf8'));
      }
      const verify = (extra: string[]): Promise<CliResult> => runCli(['verify', ...OFFLINE, ...extra, ref], { env });
      const r = await verify([...ID, '--certificate-chain', p('chain.pem')]);
      ok(r);
      assert.equal(JSON.parse(r.stdout)[0].critical.image['docker-manifest-digest'], img.digest);
      ok(await verify([...ID, '--ca-roots', p('root.pem'), '--ca-intermediates', p('intermediate.pem')]));
      refused(await verify([...ID, '--ca-roots', p('other-root.pem')]), 12, /not issued by a trusted certificate authority/);
      refused(await verify(['--certificate-identity', 'mallory@example.org', '--certificate-oidc-issuer-regexp', '.*', '--certificate-chain', p('chain.pem')]), 12, /does not match "mallory@example.org"/);
      ok(await runCli(['verify', '--key', p('leaf.pub'), '--insecure-ignore-tlog', ref], { env }));
    }
  });
});
