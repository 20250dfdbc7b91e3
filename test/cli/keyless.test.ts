/**
 * Keyless end to end: a real `signet serve --dev-oidc` (log, CA, TSA, dev issuer on one port, in
 * process), the real docker-registry, and the CLI as users run it. Interop both ways with the `sigstore`
 * package against the same services.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import * as sigstore from 'sigstore';
import { RegistryClient } from '../../src/oci/index.js';
import { ANNOTATION, attachmentTag, parseImageManifest } from '../../src/cosign/storage.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { encryptPrivateKey, generateKeyPair } from '../../src/keys/index.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';

const CERT_LINE = 'The code-signing certificate was verified using trusted certificate authority certificates';

let srv: RunningServer;
let other: RunningServer;
let reg: RunningRegistry;
let client: RegistryClient;
const dir = mkdtempSync(join(tmpdir(), 'signet-keyless-'));
const env = { SIGNET_HOME: join(dir, 'home'), SIGSTORE_ID_TOKEN: undefined, ACTIONS_ID_TOKEN_REQUEST_URL: undefined, COSIGN_PASSWORD: 'pw' };
let n = 0;
const file = (name: string): string => join(dir, `${++n}-${name}`);

async function devToken(server: RunningServer, email: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await fetch(server.url + '/oidc/token', { method: 'POST', body: JSON.stringify({ email, ...extra }) });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { id_token: string }).id_token;
}

before(async () => {
  [srv, other, reg] = await Promise.all([
    startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true }),
    startServer({ dataDir: join(dir, 'other'), listen: '127.0.0.1:0', requestLog: false, devOidc: true }),
    startRegistry(),
  ]);
  client = new RegistryClient({});
});
after(async () => {
  await client.close();
  await Promise.all([srv.close(), other.close(), reg.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const issuer = (): string => srv.url + '/oidc';

/** verify-blob flags for alice under the server's trusted root (its CA has no CT log). */
function verifyBlobArgs(bundle: string, artifact: string, id: string[] = ['--certificate-identity', 'alice@example.com', '--certificate-oidc-issuer', issuer()]): string[] {
  return ['verify-blob', '--trusted-root', srv.trustedRootPath, '--insecure-ignore-sct', ...id, '--bundle', bundle, artifact];
}

async function signBlob(artifact: string, email = 'alice@example.com', extra: string[] = []): Promise<string> {
  const bundle = file('bundle.json');
  const token = await devToken(srv, email);
  const r = await runCli(['sign-blob', '--signing-config', srv.signingConfigPath, '--identity-token', token, '--bundle', bundle, ...extra, artifact], { env });
  assert.equal(r.code, 0, r.stderr);
  return bundle;
}

describe('keyless blobs', () => {
  let artifact: string;
  let bundle: string;
  before(async () => {
    artifact = file('artifact.txt');
    writeFileSync(artifact, `keyless artifact ${Date.now()}\n`);
    bundle = await signBlob(artifact);
  });

  test('sign-blob writes a v0.3 bundle with the certificate, a log entry and a timestamp', () => {
    const doc = JSON.parse(readFileSync(bundle, 'utf8'));
    assert.equal(doc.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.ok(doc.verificationMaterial.certificate.rawBytes);
    assert.equal(doc.verificationMaterial.publicKey, undefined);
    assert.equal(doc.verificationMaterial.tlogEntries.length, 1);
    assert.equal(doc.verificationMaterial.tlogEntries[0].kindVersion.kind, 'hashedrekord');
    assert.equal(doc.verificationMaterial.timestampVerificationData.rfc3161Timestamps.length, 1);
  });

  test('verify-blob accepts the right identity and issuer, exact or by regexp, with signed timestamps', async () => {
    let r = await runCli(verifyBlobArgs(bundle, artifact), { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Verified OK/);
    r = await runCli(verifyBlobArgs(bundle, artifact, ['--certificate-identity-regexp', '^alice@example\\.com$', '--certificate-oidc-issuer-regexp', '/oidc$']), { env });
    assert.equal(r.code, 0, r.stderr);
    r = await runCli([...verifyBlobArgs(bundle, artifact), '--use-signed-timestamps'], { env });
    assert.equal(r.code, 0, r.stderr);
  });

  test('wrong identity, wrong issuer, non-matching regexps and a changed artifact are refused', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--certificate-identity', 'bob@example.com', '--certificate-oidc-issuer', issuer()], /identity.*alice@example\.com.*bob@example\.com/],
      [['--certificate-identity', 'alice@example.com', '--certificate-oidc-issuer', 'https://accounts.google.com'], /issuer/],
      [['--certificate-identity-regexp', '^bob@', '--certificate-oidc-issuer', issuer()], /identity/],
      [['--certificate-identity', 'alice@example.com', '--certificate-oidc-issuer-regexp', '^https://github'], /issuer/],
    ];
    for (const [id, why] of cases) {
      const r = await runCli(verifyBlobArgs(bundle, artifact, id), { env });
      assert.equal(r.code, 1, `${id.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, why);
      assert.doesNotMatch(r.stderr, /Verified OK/);
    }
    const changed = file('changed.txt');
    writeFileSync(changed, 'something else\n');
    const r = await runCli(verifyBlobArgs(bundle, changed), { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /digest|signature/);
  });

  test('SCTs: not checked when the trusted root lists no CT log (said on stderr); demanded when it lists one', async () => {
    const args = verifyBlobArgs(bundle, artifact).filter((a) => a !== '--insecure-ignore-sct');
    const ok = await runCli(args, { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /lists no CT logs, so certificates are not checked for SCTs/);
    // The same root plus a CT log (the public-good one): now our SCT-less certificate must fail, unless the flag says otherwise.
    const root = JSON.parse(readFileSync(srv.trustedRootPath, 'utf8'));
    const publicGood = JSON.parse(readFileSync(new URL('../../../test/sigstore/fixtures-public-good/trusted_root.json', import.meta.url), 'utf8'));
    root.ctlogs = publicGood.ctlogs;
    const withCt = file('trusted_root_ct.json');
    writeFileSync(withCt, JSON.stringify(root));
    const strict = args.map((a) => (a === srv.trustedRootPath ? withCt : a));
    const refused = await runCli(strict, { env });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /SCT/);
    const forced = await runCli([...strict.slice(0, 1), '--insecure-ignore-sct', ...strict.slice(1)], { env });
    assert.equal(forced.code, 0, forced.stderr);
  });

  test('missing identity or issuer flags are a usage error naming the flags (exit 2)', async () => {
    for (const id of [[], ['--certificate-identity', 'alice@example.com'], ['--certificate-oidc-issuer', issuer()]]) {
      const r = await runCli(verifyBlobArgs(bundle, artifact, id), { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--certificate-(identity|oidc-issuer)/);
    }
    const r = await runCli(['verify-blob', '--key', bundle, '--certificate-identity', 'a', '--bundle', bundle, artifact], { env });
    assert.equal(r.code, 2);
  });

  test('the pinned public-good root (default) does not trust our CA', async () => {
    const r = await runCli(['verify-blob', '--insecure-ignore-sct', '--certificate-identity', 'alice@example.com', '--certificate-oidc-issuer', issuer(), '--bundle', bundle, artifact], { env });
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, /Verified OK/);
  });

  test('a certificate from another CA is refused even when log and TSA are trusted', async () => {
    const b = file('other-ca.json');
    const token = await devToken(other, 'alice@example.com');
    // cosign v3's rules: service URLs go in the signing config, not beside it.
    const cfg = JSON.parse(readFileSync(srv.signingConfigPath, 'utf8'));
    cfg.caUrls[0].url = other.url;
    const otherCaConfig = file('other-ca-config.json');
    writeFileSync(otherCaConfig, JSON.stringify(cfg));
    const r = await runCli(['sign-blob', '--signing-config', otherCaConfig, '--identity-token', token, '--bundle', b, artifact], { env });
    assert.equal(r.code, 0, r.stderr);
    const v = await runCli(verifyBlobArgs(b, artifact, ['--certificate-identity', 'alice@example.com', '--certificate-oidc-issuer', other.url + '/oidc']), { env });
    assert.equal(v.code, 1);
    assert.match(v.stderr, /certificate chain/);
  });

  test('a token the CA refuses: clear error, no bundle written; no token at all: usage error', async () => {
    const b = file('refused.json');
    const token = await devToken(srv, 'alice@example.com', { audience: 'not-sigstore' });
    let r = await runCli(['sign-blob', '--signing-config', srv.signingConfigPath, '--identity-token', token, '--bundle', b, artifact], { env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /audience|aud/i);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('Error')).length, 1);
    assert.equal(existsSync(b), false);
    // A token from an issuer the CA does not know.
    r = await runCli(['sign-blob', '--signing-config', srv.signingConfigPath, '--identity-token', await devToken(other, 'alice@example.com'), '--bundle', b, artifact], { env });
    assert.notEqual(r.code, 0);
    assert.equal(existsSync(b), false);
    r = await runCli(['sign-blob', '--signing-config', srv.signingConfigPath, '--bundle', b, artifact], { env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /identity token/);
    assert.equal(existsSync(b), false);
  });

  test('SIGSTORE_ID_TOKEN works; --tlog-upload=false signs with the TSA alone; Rekor v2 without TSA is refused', async () => {
    const b = file('env.json');
    const token = await devToken(srv, 'alice@example.com');
    // cosign v3's rules: no log means a signing config that lists none, not --tlog-upload=false beside it.
    const noLog = JSON.parse(readFileSync(srv.signingConfigPath, 'utf8'));
    delete noLog.rekorTlogUrls;
    const noLogConfig = file('no-log-config.json');
    writeFileSync(noLogConfig, JSON.stringify(noLog));
    let r = await runCli(['sign-blob', '--signing-config', srv.signingConfigPath, '--tlog-upload=false', '--bundle', b, artifact], { env: { ...env, SIGSTORE_ID_TOKEN: token } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--tlog-upload=false is not supported with --signing-config/);
    r = await runCli(['sign-blob', '--signing-config', srv.signingConfigPath, '--fulcio-url', srv.url, '--bundle', b, artifact], { env: { ...env, SIGSTORE_ID_TOKEN: token } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--fulcio-url and --signing-config cannot be used together/);
    r = await runCli(['sign-blob', '--signing-config', noLogConfig, '--bundle', b, artifact], { env: { ...env, SIGSTORE_ID_TOKEN: token } });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(readFileSync(b, 'utf8'));
    assert.equal(doc.verificationMaterial.tlogEntries, undefined);
    r = await runCli([...verifyBlobArgs(b, artifact), '--insecure-ignore-tlog', '--use-signed-timestamps'], { env });
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(verifyBlobArgs(b, artifact), { env });
    assert.equal(r.code, 1, 'without --insecure-ignore-tlog a log entry is required');
    // A config with a Rekor v2 log and no TSA.
    const cfg = JSON.parse(readFileSync(srv.signingConfigPath, 'utf8'));
    cfg.rekorTlogUrls[0].majorApiVersion = 2;
    cfg.tsaUrls = [];
    const cfgFile = file('v2.json');
    writeFileSync(cfgFile, JSON.stringify(cfg));
    r = await runCli(['sign-blob', '--signing-config', cfgFile, '--identity-token', token, '--bundle', file('x.json'), artifact], { env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Rekor v2.*timestamp authority/);
  });

  test('Rekor v2 with a TSA: the entry names the certificate and verifies', async () => {
    const cfg = JSON.parse(readFileSync(srv.signingConfigPath, 'utf8'));
    cfg.rekorTlogUrls[0].majorApiVersion = 2;
    const cfgFile = file('v2-tsa.json');
    writeFileSync(cfgFile, JSON.stringify(cfg));
    const b = file('v2.bundle');
    let r = await runCli(['sign-blob', '--signing-config', cfgFile, '--identity-token', await devToken(srv, 'alice@example.com'), '--bundle', b, artifact], { env });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(readFileSync(b, 'utf8'));
    assert.equal(doc.verificationMaterial.tlogEntries[0].kindVersion.version, '0.0.2');
    r = await runCli([...verifyBlobArgs(b, artifact), '--use-signed-timestamps'], { env });
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(verifyBlobArgs(b, artifact, ['--certificate-identity', 'bob@example.com', '--certificate-oidc-issuer', issuer()]), { env });
    assert.equal(r.code, 1);
  });

  test('interop: Signet verifies a bundle the sigstore package made through the same services', async () => {
    const payload = readFileSync(artifact);
    const token = await devToken(srv, 'alice@example.com');
    const serialized = await sigstore.sign(payload, { fulcioURL: srv.url, rekorURL: srv.url, tsaServerURL: srv.url, identityProvider: { getToken: async () => token }, retry: 0 });
    const b = file('sigstore-js.json');
    writeFileSync(b, JSON.stringify(serialized));
    let r = await runCli([...verifyBlobArgs(b, artifact), '--use-signed-timestamps'], { env });
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(verifyBlobArgs(b, artifact, ['--certificate-identity', 'mallory@example.com', '--certificate-oidc-issuer', issuer()]), { env });
    assert.equal(r.code, 1);
  });

  test('interop: the sigstore verifier accepts the keyless blob bundle Signet made', () => {
    const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(srv.trustedRootPath, 'utf8')));
    const verifier = new Verifier(toTrustMaterial(root), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 });
    const b = bundleFromJSON(JSON.parse(readFileSync(bundle, 'utf8')));
    const payload = readFileSync(artifact);
    const policy = { subjectAlternativeName: 'alice@example.com', extensions: { issuer: issuer() } };
    assert.ok(verifier.verify(toSignedEntity(b, payload), policy).identity);
    assert.throws(() => verifier.verify(toSignedEntity(b, payload), { ...policy, subjectAlternativeName: 'bob@example.com' }));
    assert.throws(() => verifier.verify(toSignedEntity(b, Buffer.from('tampered')), policy));
  });
});

describe('keyless images', () => {
  const verifyArgs = (ref: string, id = ['--certificate-identity', 'alice@example.com', '--certificate-oidc-issuer', issuer()]): string[] => [
    'verify', '--allow-http-registry', '--trusted-root', srv.trustedRootPath, '--insecure-ignore-sct', ...id, ref,
  ];
  const signArgs = (token: string, ref: string, extra: string[] = []): string[] => [
    'sign', '--allow-http-registry', '--signing-config', srv.signingConfigPath, '--identity-token', token, '-y', ...extra, ref,
  ];

  for (const format of ['bundle', 'legacy'] as const) {
    test(`${format} format: sign keyless, verify with identity (JSON carries Subject and Issuer), wrong identity refused`, async () => {
      const repo = { registry: reg.host, repository: `keyless/${format}` };
      const img = await pushRandomImage(client, repo, 'v1');
      const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
      const extra = format === 'legacy' ? ['--new-bundle-format=false'] : [];
      let r = await runCli(signArgs(await devToken(srv, 'alice@example.com'), ref, extra), { env });
      assert.equal(r.code, 0, r.stderr);
      if (format === 'legacy') {
        const m = await client.getManifest(repo, attachmentTag(img.digest, 'sig'));
        const a = parseImageManifest(m.bytes).layers[0]!.annotations!;
        assert.match(a[ANNOTATION.certificate]!, /^-----BEGIN CERTIFICATE-----/);
        assert.match(a[ANNOTATION.chain]!, /-----BEGIN CERTIFICATE-----[\s\S]*-----BEGIN CERTIFICATE-----/);
        assert.ok(JSON.parse(a[ANNOTATION.bundle]!).SignedEntryTimestamp);
        assert.ok(JSON.parse(a[ANNOTATION.rfc3161]!).SignedRFC3161Timestamp);
      } else {
        const { manifests } = await client.referrers(repo, img.digest);
        assert.equal(manifests.length, 1);
        // Interop: the sigstore verifier accepts the image's bundle, as stored in the registry, for alice only.
        const layer = parseImageManifest((await client.getManifest(repo, manifests[0]!.digest)).bytes).layers[0]!;
        const stored = bundleFromJSON(JSON.parse((await client.getBlob(repo, layer.digest)).toString('utf8')));
        const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(srv.trustedRootPath, 'utf8')));
        const verifier = new Verifier(toTrustMaterial(root), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 });
        const policy = { subjectAlternativeName: 'alice@example.com', extensions: { issuer: issuer() } };
        assert.ok(verifier.verify(toSignedEntity(stored), policy).identity);
        assert.throws(() => verifier.verify(toSignedEntity(stored), { ...policy, subjectAlternativeName: 'bob@example.com' }));
        const statement = JSON.parse(Buffer.from(stored.content.$case === 'dsseEnvelope' ? stored.content.dsseEnvelope.payload : Buffer.alloc(0)).toString('utf8'));
        assert.equal(statement.subject[0].digest.sha256, img.digest.slice('sha256:'.length));
      }
      r = await runCli(verifyArgs(ref), { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(CERT_LINE));
      const out = JSON.parse(r.stdout) as Array<{ critical: { image: Record<string, string> }; optional: Record<string, unknown> }>;
      assert.equal(out.length, 1);
      assert.equal(out[0]!.critical.image['docker-manifest-digest'], img.digest);
      assert.equal(out[0]!.optional.Subject, 'alice@example.com');
      assert.equal(out[0]!.optional.Issuer, issuer());
      if (format === 'legacy') assert.ok(out[0]!.optional.Bundle);

      r = await runCli(verifyArgs(ref, ['--certificate-identity', 'bob@example.com', '--certificate-oidc-issuer', issuer()]), { env });
      assert.equal(r.code, 12, r.stderr);
      assert.match(r.stderr, /bob@example\.com/);
      r = await runCli(verifyArgs(ref, ['--certificate-identity-regexp', '@example\\.com$', '--certificate-oidc-issuer-regexp', '^http://127\\.0\\.0\\.1']), { env });
      assert.equal(r.code, 0, r.stderr);
      r = await runCli(verifyArgs(ref, ['--certificate-identity', 'alice@example.com']), { env });
      assert.equal(r.code, 2);
    });
  }

  test('a key-signed legacy signature verified keyless: exit 13 (no certificate)', async () => {
    const repo = { registry: reg.host, repository: 'keyless/keyed' };
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    const keyFile = file('cosign.key');
    writeFileSync(keyFile, encryptPrivateKey(generateKeyPair('ecdsa-p256').privateKey, Buffer.from('pw'), { N: 32768 }));
    let r = await runCli(['sign', '--allow-http-registry', '--key', keyFile, '--tlog-upload=false', '--new-bundle-format=false', ref], { env });
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(verifyArgs(ref), { env });
    assert.equal(r.code, 13, r.stderr);
    assert.match(r.stderr, /certificate/);
  });

  test('a token the CA refuses: nothing pushed in either format', async () => {
    const repo = { registry: reg.host, repository: 'keyless/refused' };
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    const bad = await devToken(srv, 'alice@example.com', { audience: 'not-sigstore' });
    for (const extra of [[], ['--new-bundle-format=false']]) {
      const r = await runCli(signArgs(bad, ref, extra), { env });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /audience|aud/i);
    }
    assert.equal((await client.referrers(repo, img.digest)).manifests.length, 0);
    await assert.rejects(client.getManifest(repo, attachmentTag(img.digest, 'sig')));
  });
});
