/**
 * RFC 3161 timestamps on every signing and verification path, as users run them against a real
 * `signet serve` (its log and TSA) and the real docker-registry: `--use-signed-timestamps` refuses a
 * signature without a verified timestamp whatever the command, key kind and format; keyed signatures
 * are timestamped when a TSA is configured (bundle, `.sig` annotation, `--rfc3161-timestamp` file), and
 * the `sigstore` package verifies such a keyed bundle.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { RegistryClient } from '../../src/oci/index.js';
import { ANNOTATION, attachmentTag, parseImageManifest } from '../../src/cosign/storage.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { encryptPrivateKey, generateKeyPair } from '../../src/keys/index.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { requestTimestamp } from '../../src/sigstore/tsa-client.js';
import { timestampJson } from '../../src/cosign/pki.js';
import { devToken } from '../helpers/dev-token.js';

let srv: RunningServer;
let reg: RunningRegistry;
let client: RegistryClient;
const dir = mkdtempSync(join(tmpdir(), 'signet-timestamps-'));
const env = { SIGNET_HOME: join(dir, 'home'), SIGSTORE_ID_TOKEN: undefined, ACTIONS_ID_TOKEN_REQUEST_URL: undefined, COSIGN_PASSWORD: 'pw' };
let n = 0;
const file = (name: string): string => join(dir, `${++n}-${name}`);
const key = join(dir, 'cosign.key');
const pub = join(dir, 'cosign.pub');
const artifact = join(dir, 'artifact.txt');
const predicate = join(dir, 'predicate.json');
/** The server's TSA chain (leaf first), as cosign's --timestamp-certificate-chain takes it. */
const tsaChain = join(dir, 'tsa-chain.pem');
/** A self-signed certificate that issued no timestamp. */
const wrongChain = join(dir, 'wrong-chain.pem');
/** The server's trusted root without its TSA. */
let rootWithoutTsa: string;
/** A signing config with the log and no TSA. */
let configWithoutTsa: string;

/** A refusal: exit code, one `Error:` line matching `re`, and never "Verified OK". */
function refused(r: CliResult, exit: number, re: RegExp): void {
  assert.equal(r.code, exit, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, re);
  assert.doesNotMatch(r.stderr, /Verified OK/);
}

function ok(r: CliResult): void {
  assert.equal(r.code, 0, r.stderr);
}

const NO_TIMESTAMP = /no RFC 3161 timestamp/;

before(async () => {
  [srv, reg] = await Promise.all([startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true }), startRegistry()]);
  client = new RegistryClient({});
  const kp = generateKeyPair('ecdsa-p256');
  writeFileSync(key, encryptPrivateKey(kp.privateKey, Buffer.from('pw'), { N: 32768 }));
  writeFileSync(pub, kp.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(artifact, `an artifact ${Date.now()}\n`);
  writeFileSync(predicate, '{"result":"pass"}');
  const chain = await fetch(srv.url + '/api/v1/timestamp/certchain');
  assert.equal(chain.status, 200);
  writeFileSync(tsaChain, await chain.text());
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'wrong.key'), '-out', wrongChain, '-subj', '/CN=not the TSA', '-days', '2'], { stdio: 'ignore' });
  const root = JSON.parse(readFileSync(srv.trustedRootPath, 'utf8'));
  root.timestampAuthorities = [];
  rootWithoutTsa = join(dir, 'root-without-tsa.json');
  writeFileSync(rootWithoutTsa, JSON.stringify(root));
  const cfg = JSON.parse(readFileSync(srv.signingConfigPath, 'utf8'));
  cfg.tsaUrls = [];
  configWithoutTsa = join(dir, 'config-without-tsa.json');
  writeFileSync(configWithoutTsa, JSON.stringify(cfg));
});
after(async () => {
  await client.close();
  await Promise.all([srv.close(), reg.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('--use-signed-timestamps demands a verified timestamp on every path', () => {
  const keyedBlob = (b: string, extra: string[] = []): Promise<CliResult> =>
    runCli(['verify-blob', '--key', pub, '--trusted-root', srv.trustedRootPath, '--use-signed-timestamps', '--bundle', b, ...extra, artifact], { env });

  test('verify-blob with a key: bundle, legacy bundle and bare signature without a timestamp are refused', async () => {
    const bundle = file('keyed.json');
    ok(await runCli(['sign-blob', '--key', key, '--rekor-url', srv.url, '--bundle', bundle, artifact], { env }));
    assert.equal(JSON.parse(readFileSync(bundle, 'utf8')).verificationMaterial.timestampVerificationData, undefined);
    ok(await runCli(['verify-blob', '--key', pub, '--trusted-root', srv.trustedRootPath, '--bundle', bundle, artifact], { env }));
    refused(await keyedBlob(bundle), 1, NO_TIMESTAMP);
    refused(await runCli(['verify-blob', '--key', pub, '--insecure-ignore-tlog', '--use-signed-timestamps', '--bundle', bundle, artifact], { env }), 1, NO_TIMESTAMP);

    const legacy = file('legacy.json');
    ok(await runCli(['sign-blob', '--key', key, '--rekor-url', srv.url, '--new-bundle-format=false', '--bundle', legacy, artifact], { env }));
    ok(await runCli(['verify-blob', '--key', pub, '--trusted-root', srv.trustedRootPath, '--bundle', legacy, artifact], { env }));
    refused(await keyedBlob(legacy), 1, NO_TIMESTAMP);

    const sig = file('sig');
    ok(await runCli(['sign-blob', '--key', key, '--tlog-upload=false', '--new-bundle-format=false', '--output-signature', sig, artifact], { env }));
    refused(await runCli(['verify-blob', '--key', pub, '--insecure-ignore-tlog', '--use-signed-timestamps', '--signature', sig, artifact], { env }), 1, NO_TIMESTAMP);
  });

  test('verify-blob-attestation with a key: bundle and legacy bundle without a timestamp are refused', async () => {
    for (const format of ['--new-bundle-format=true', '--new-bundle-format=false']) {
      const bundle = file('att.json');
      ok(await runCli(['attest-blob', '--key', key, '--tlog-upload=false', format, '--predicate', predicate, '--bundle', bundle, artifact], { env }));
      const verify = (extra: string[]): Promise<CliResult> => runCli(['verify-blob-attestation', '--key', pub, '--insecure-ignore-tlog', '--trusted-root', srv.trustedRootPath, '--bundle', bundle, ...extra, artifact], { env });
      ok(await verify([]));
      refused(await verify(['--use-signed-timestamps']), 1, NO_TIMESTAMP);
    }
  });

  test('verify with a key: referrer bundle and .sig layer without a timestamp are refused', async () => {
    for (const format of ['true', 'false']) {
      const repo = { registry: reg.host, repository: `ts/keyed-${format}` };
      const img = await pushRandomImage(client, repo, 'v1');
      const ref = `${reg.host}/${repo.repository}@${img.digest}`;
      ok(await runCli(['sign', '--key', key, '--rekor-url', srv.url, `--new-bundle-format=${format}`, ref], { env }));
      ok(await runCli(['verify', '--key', pub, '--trusted-root', srv.trustedRootPath, ref], { env }));
      refused(await runCli(['verify', '--key', pub, '--trusted-root', srv.trustedRootPath, '--use-signed-timestamps', ref], { env }), 12, NO_TIMESTAMP);
    }
  });

  test('verify keyless: referrer bundle and .sig layer without a timestamp are refused', async () => {
    for (const format of ['true', 'false']) {
      const repo = { registry: reg.host, repository: `ts/keyless-${format}` };
      const img = await pushRandomImage(client, repo, 'v1');
      const ref = `${reg.host}/${repo.repository}@${img.digest}`;
      ok(await runCli(['sign', '--signing-config', configWithoutTsa, '--identity-token', await devToken(srv.url, 'alice@example.com'), `--new-bundle-format=${format}`, ref], { env }));
      const id = ['--certificate-identity', 'alice@example.com', '--certificate-oidc-issuer', srv.url + '/oidc', '--insecure-ignore-sct'];
      ok(await runCli(['verify', '--trusted-root', srv.trustedRootPath, ...id, ref], { env }));
      refused(await runCli(['verify', '--trusted-root', srv.trustedRootPath, ...id, '--use-signed-timestamps', ref], { env }), 12, /RFC 3161 timestamp/);
    }
  });
});

describe('keyed signatures carry RFC 3161 timestamps when a TSA is configured', () => {
  test('sign-blob --key with the signing config: the bundle is timestamped; verified with the trusted root or the TSA chain; a wrong TSA root fails', async () => {
    const bundle = file('keyed-ts.json');
    const r = await runCli(['sign-blob', '--key', key, '--signing-config', srv.signingConfigPath, '--bundle', bundle, artifact], { env });
    ok(r);
    assert.match(r.stderr, /RFC 3161 timestamp obtained/);
    const doc = JSON.parse(readFileSync(bundle, 'utf8'));
    assert.equal(doc.verificationMaterial.timestampVerificationData.rfc3161Timestamps.length, 1);
    assert.ok(doc.verificationMaterial.publicKey);
    const verify = (extra: string[]): Promise<CliResult> => runCli(['verify-blob', '--key', pub, '--bundle', bundle, ...extra, artifact], { env });
    ok(await verify(['--trusted-root', srv.trustedRootPath]));
    ok(await verify(['--trusted-root', srv.trustedRootPath, '--use-signed-timestamps']));
    ok(await verify(['--insecure-ignore-tlog', '--use-signed-timestamps', '--timestamp-certificate-chain', tsaChain]));
    refused(await verify(['--insecure-ignore-tlog', '--use-signed-timestamps', '--timestamp-certificate-chain', wrongChain]), 1, /RFC 3161 timestamp: .*not issued by a trusted timestamp authority/);
    refused(await verify(['--trusted-root', rootWithoutTsa, '--use-signed-timestamps']), 1, /RFC 3161 timestamp: .*not issued by a trusted timestamp authority/);
    // A timestamp that is there is checked even when not demanded.
    refused(await verify(['--trusted-root', rootWithoutTsa]), 1, /RFC 3161 timestamp/);
  });

  test('--timestamp-server-url with --key (no log): bundle and legacy --rfc3161-timestamp file', async () => {
    const tsa = srv.url + '/api/v1/timestamp';
    const bundle = file('tsa-only.json');
    ok(await runCli(['sign-blob', '--key', key, '--tlog-upload=false', '--timestamp-server-url', tsa, '--bundle', bundle, artifact], { env }));
    ok(await runCli(['verify-blob', '--key', pub, '--insecure-ignore-tlog', '--trusted-root', srv.trustedRootPath, '--use-signed-timestamps', '--bundle', bundle, artifact], { env }));

    const sig = file('sig');
    const ts = file('ts.json');
    ok(await runCli(['sign-blob', '--key', key, '--tlog-upload=false', '--timestamp-server-url', tsa, '--new-bundle-format=false', '--output-signature', sig, '--rfc3161-timestamp', ts, artifact], { env }));
    assert.ok(JSON.parse(readFileSync(ts, 'utf8')).SignedRFC3161Timestamp);
    const verify = (extra: string[]): Promise<CliResult> => runCli(['verify-blob', '--key', pub, '--insecure-ignore-tlog', '--trusted-root', srv.trustedRootPath, '--use-signed-timestamps', '--signature', sig, ...extra, artifact], { env });
    ok(await verify(['--rfc3161-timestamp', ts]));
    refused(await verify([]), 1, NO_TIMESTAMP);
    // A timestamp over another signature does not count.
    const other = file('other-sig');
    ok(await runCli(['sign-blob', '--key', key, '--tlog-upload=false', '--new-bundle-format=false', '--output-signature', other, artifact], { env }));
    refused(await runCli(['verify-blob', '--key', pub, '--insecure-ignore-tlog', '--trusted-root', srv.trustedRootPath, '--use-signed-timestamps', '--signature', other, '--rfc3161-timestamp', ts, artifact], { env }), 1, /timestamp is for other data/);
    refused(await runCli(['sign-blob', '--key', key, '--tlog-upload=false', '--rfc3161-timestamp', file('x'), '--bundle', file('y'), artifact], { env }), 2, /--rfc3161-timestamp needs a timestamp authority/);
  });

  test('attest-blob --key with a TSA: the bundle is timestamped and verify-blob-attestation --use-signed-timestamps accepts it; the legacy format refuses an explicit TSA', async () => {
    const bundle = file('att-ts.json');
    ok(await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--timestamp-server-url', srv.url + '/api/v1/timestamp', '--predicate', predicate, '--bundle', bundle, artifact], { env }));
    assert.equal(JSON.parse(readFileSync(bundle, 'utf8')).verificationMaterial.timestampVerificationData.rfc3161Timestamps.length, 1);
    const verify = (extra: string[]): Promise<CliResult> => runCli(['verify-blob-attestation', '--key', pub, '--insecure-ignore-tlog', '--use-signed-timestamps', '--bundle', bundle, ...extra, artifact], { env });
    ok(await verify(['--trusted-root', srv.trustedRootPath]));
    refused(await verify(['--timestamp-certificate-chain', wrongChain]), 1, /not issued by a trusted timestamp authority/);
    // A bare envelope with its timestamp beside it (cosign's --rfc3161-timestamp).
    const envelope = file('envelope.json');
    ok(await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--new-bundle-format=false', '--predicate', predicate, '--output-signature', envelope, artifact], { env }));
    const sig = Buffer.from(JSON.parse(readFileSync(envelope, 'utf8')).signatures[0].sig, 'base64');
    const ts = file('envelope-ts.json');
    writeFileSync(ts, timestampJson(await requestTimestamp(srv.url + '/api/v1/timestamp', sig)));
    const bare = (extra: string[]): Promise<CliResult> => runCli(['verify-blob-attestation', '--key', pub, '--insecure-ignore-tlog', '--trusted-root', srv.trustedRootPath, '--use-signed-timestamps', '--signature', envelope, ...extra, artifact], { env });
    ok(await bare(['--rfc3161-timestamp', ts]));
    refused(await bare([]), 1, NO_TIMESTAMP);
    const legacy = file('att-legacy.json');
    refused(await runCli(['attest-blob', '--key', key, '--tlog-upload=false', '--new-bundle-format=false', '--timestamp-server-url', srv.url + '/api/v1/timestamp', '--predicate', predicate, '--bundle', legacy, artifact], { env }), 2, /legacy attestation bundle has no place for an RFC 3161 timestamp/);
    assert.equal(existsSync(legacy), false);
  });

  test('the sigstore package verifies a keyed, timestamped blob bundle', async () => {
    const bundle = file('for-sigstore-js.json');
    ok(await runCli(['sign-blob', '--key', key, '--signing-config', srv.signingConfigPath, '--bundle', bundle, artifact], { env }));
    const doc = JSON.parse(readFileSync(bundle, 'utf8'));
    const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(srv.trustedRootPath, 'utf8')));
    const publicKey = createPublicKey(readFileSync(pub));
    const trust = toTrustMaterial(root, () => ({ publicKey, validFor: () => true }));
    const verifier = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 });
    verifier.verify(toSignedEntity(bundleFromJSON(doc), readFileSync(artifact)));
    // Without the log entry, only the TSA's timestamp can meet the threshold: it verifies, and without it nothing does.
    doc.verificationMaterial.tlogEntries = [];
    const tsaOnly = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 1 });
    tsaOnly.verify(toSignedEntity(bundleFromJSON(doc), readFileSync(artifact)));
    delete doc.verificationMaterial.timestampVerificationData;
    assert.throws(() => tsaOnly.verify(toSignedEntity(bundleFromJSON(doc), readFileSync(artifact))), /timestamp/i);
  });

  test('sign --key with the signing config: referrer bundle and .sig annotation are timestamped and verify with --use-signed-timestamps', async () => {
    for (const format of ['true', 'false']) {
      const repo = { registry: reg.host, repository: `ts/stamped-${format}` };
      const img = await pushRandomImage(client, repo, 'v1');
      const ref = `${reg.host}/${repo.repository}@${img.digest}`;
      ok(await runCli(['sign', '--key', key, '--signing-config', srv.signingConfigPath, `--new-bundle-format=${format}`, ref], { env }));
      if (format === 'false') {
        const m = await client.getManifest(repo, attachmentTag(img.digest, 'sig'));
        assert.match(parseImageManifest(m.bytes).layers[0]!.annotations![ANNOTATION.rfc3161]!, /^\{"SignedRFC3161Timestamp":"/);
      }
      ok(await runCli(['verify', '--key', pub, '--trusted-root', srv.trustedRootPath, '--use-signed-timestamps', ref], { env }));
      refused(await runCli(['verify', '--key', pub, '--insecure-ignore-tlog', '--use-signed-timestamps', '--timestamp-certificate-chain', wrongChain, ref], { env }), 12, /not issued by a trusted timestamp authority/);
    }
  });
});

test('re-signing a .sig-signed image with a TSA adds the timestamped signature instead of calling it a duplicate', async () => {
  const repo = { registry: reg.host, repository: 'ts/resign' };
  const img = await pushRandomImage(client, repo, 'v1');
  const ref = `${reg.host}/${repo.repository}@${img.digest}`;
  ok(await runCli(['sign', '--key', key, '--rekor-url', srv.url, '--new-bundle-format=false', ref], { env }));
  refused(await runCli(['verify', '--key', pub, '--trusted-root', srv.trustedRootPath, '--use-signed-timestamps', ref], { env }), 12, NO_TIMESTAMP);
  const r = await runCli(['sign', '--key', key, '--signing-config', srv.signingConfigPath, '--new-bundle-format=false', ref], { env });
  ok(r);
  assert.doesNotMatch(r.stderr, /nothing added/);
  ok(await runCli(['verify', '--key', pub, '--trusted-root', srv.trustedRootPath, '--use-signed-timestamps', ref], { env }));
});

describe('TSA client TLS', () => {
  test('--timestamp-client-cacert/-cert/-key and --timestamp-server-name reach a TSA that demands a client certificate', async () => {
    const tls = (name: string): string => join(dir, `tls-${name}`);
    const sh = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    sh(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', tls('ca.key'), '-out', tls('ca.pem'), '-subj', '/CN=TLS CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
    for (const [name, ext] of [['server', 'subjectAltName=DNS:tsa.internal\nextendedKeyUsage=serverAuth'], ['client', 'extendedKeyUsage=clientAuth']] as const) {
      writeFileSync(tls(`${name}.ext`), `basicConstraints=CA:FALSE\n${ext}\n`);
      sh(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', tls(`${name}.key`), '-out', tls(`${name}.csr`), '-subj', `/CN=${name}`]);
      sh(['x509', '-req', '-in', tls(`${name}.csr`), '-CA', tls('ca.pem'), '-CAkey', tls('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', tls(`${name}.ext`), '-out', tls(`${name}.pem`)]);
    }
    // An https front for the server's TSA that accepts only clients with a certificate from the TLS CA.
    const front = createHttpsServer({ key: readFileSync(tls('server.key')), cert: readFileSync(tls('server.pem')), ca: readFileSync(tls('ca.pem')), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void fetch(srv.url + '/api/v1/timestamp', { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: Buffer.concat(chunks) }).then(async (r) => {
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' });
          res.end(Buffer.from(await r.arrayBuffer()));
        });
      });
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(front.address() as AddressInfo).port}/api/v1/timestamp`;
      const base = ['sign-blob', '--key', key, '--tlog-upload=false', '--timestamp-server-url', url, '--timestamp-client-cacert', tls('ca.pem')];
      const client = ['--timestamp-client-cert', tls('client.pem'), '--timestamp-client-key', tls('client.key')];
      const bundle = file('mtls.json');
      ok(await runCli([...base, ...client, '--timestamp-server-name', 'tsa.internal', '--bundle', bundle, artifact], { env }));
      ok(await runCli(['verify-blob', '--key', pub, '--insecure-ignore-tlog', '--trusted-root', srv.trustedRootPath, '--use-signed-timestamps', '--bundle', bundle, artifact], { env }));
      // No client certificate: the TSA's TLS refuses the connection. The wrong name: ours refuses the TSA.
      for (const args of [[...base, '--timestamp-server-name', 'tsa.internal'], [...base, ...client]]) {
        const b = file('never.json');
        const r = await runCli([...args, '--bundle', b, artifact], { env });
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('Error: ')).length, 1, r.stderr);
        assert.equal(existsSync(b), false);
      }
      refused(await runCli([...base, '--timestamp-client-cert', tls('client.pem'), '--bundle', file('x.json'), artifact], { env }), 2, /--timestamp-client-cert and --timestamp-client-key go together/);
    } finally {
      front.closeAllConnections();
      await new Promise((resolve) => front.close(resolve));
    }
  });
});
