import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TrustedRoot as ProtoTrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import { x509 } from '../../src/server/ca/x509.js';
import { parseTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { parseSigningConfig, selectServices } from '../../src/sigstore/signing-config.js';
import { noteKeyHash } from '../../src/tlog/note.js';
import { publicGoodTrustedRootBytes } from '../../src/sigstore/tuf.js';
import { runCli } from '../helpers/cli.js';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

async function chain(names: string[]): Promise<string> {
  // names[0] is the root; each next one is issued by the previous; the file lists leaf-most first.
  const pems: string[] = [];
  let issuer: { keys: webcrypto.CryptoKeyPair; name: string } | undefined;
  for (const [i, name] of names.entries()) {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const common = { serialNumber: `0${i + 1}`, notBefore: new Date('2025-01-01T00:00:00Z'), notAfter: new Date('2035-01-01T00:00:00Z'), signingAlgorithm: ALG };
    const ext = [new x509.BasicConstraintsExtension(i < names.length - 1 || names.length === 1, undefined, true)];
    const cert = issuer
      ? await x509.X509CertificateGenerator.create({ ...common, subject: name, issuer: issuer.name, publicKey: keys.publicKey, signingKey: issuer.keys.privateKey, extensions: ext })
      : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name, keys, extensions: ext });
    pems.unshift(cert.toString('pem'));
    issuer = { keys, name };
  }
  return pems.join('\n') + '\n';
}

describe('signet trusted-root create / signing-config create / initialize', () => {
  let dir: string;
  let caChain: string;
  let tsaChain: string;
  let rekorPub: string;
  let rekor2Pub: string;
  let ctPub: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trust-cli-'));
    caChain = join(dir, 'ca.pem');
    writeFileSync(caChain, await chain(['CN=root, O=example.com', 'CN=intermediate, O=example.com']));
    tsaChain = join(dir, 'tsa.pem');
    writeFileSync(tsaChain, await chain(['CN=tsa root, O=example.com', 'CN=tsa leaf, O=example.com']));
    const pub = (k: ReturnType<typeof generateKeyPairSync>['publicKey']) => k.export({ type: 'spki', format: 'pem' }) as string;
    rekorPub = join(dir, 'rekor.pub');
    writeFileSync(rekorPub, pub(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey));
    rekor2Pub = join(dir, 'rekor2.pub');
    writeFileSync(rekor2Pub, pub(generateKeyPairSync('ed25519').publicKey));
    ctPub = join(dir, 'ct.pub');
    writeFileSync(ctPub, pub(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey));
  });

  it('creates a trusted root that Signet and @sigstore/verify both load', async () => {
    const out = join(dir, 'trusted_root.json');
    const r = await runCli([
      'trusted-root', 'create',
      '--fulcio', `url=https://ca.example.com,certificate-chain=${caChain}`,
      '--rekor', `url=https://log2.example.com,public-key=${rekor2Pub},start-time=2025-06-01T00:00:00Z,origin=log2.example.com`,
      '--rekor', `url=https://log.example.com,public-key=${rekorPub},start-time=2025-01-01T00:00:00Z`,
      '--ctfe', `url=https://ct.example.com,public-key=${ctPub},start-time=2025-01-01T00:00:00Z,end-time=2030-01-01T00:00:00Z`,
      '--tsa', `url=https://tsa.example.com/api/v1/timestamp,certificate-chain=${tsaChain},start-time=2025-02-01T00:00:00Z`,
      '--out', out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const bytes = readFileSync(out);
    const ours = parseTrustedRoot(bytes);
    assert.deepEqual(ours.tlogs.map((l) => l.baseUrl), ['https://log.example.com', 'https://log2.example.com'], 'sorted by start');
    const v1 = ours.tlogs[0]!;
    assert.ok(v1.logId.equals(createHash('sha256').update(v1.spkiDer).digest()));
    assert.ok(Buffer.from(noteKeyHash('log2.example.com', ours.tlogs[1]!.publicKey)).equals(ours.tlogs[1]!.logId));
    const doc = JSON.parse(bytes.toString());
    assert.equal(doc.certificateAuthorities[0].certChain.certificates.length, 2);
    assert.deepEqual(doc.certificateAuthorities[0].subject, { organization: 'example.com', commonName: 'intermediate' });
    assert.equal(doc.certificateAuthorities[0].validFor.start, '2025-01-01T00:00:00.000Z');
    assert.equal(doc.ctlogs[0].publicKey.validFor.end, '2030-01-01T00:00:00.000Z');
    assert.equal(doc.timestampAuthorities[0].uri, 'https://tsa.example.com/api/v1/timestamp');
    const tm = toTrustMaterial(ProtoTrustedRoot.fromJSON(doc));
    assert.equal(tm.certificateAuthorities.length, 1);
    assert.equal(tm.timestampAuthorities.length, 1);
    assert.equal(Object.keys(tm.tlogs).length, 2);
    assert.equal(Object.keys(tm.ctlogs).length, 1);
  });

  it('writes to stdout without --out, and refuses bad specs with one line', async () => {
    const ok = await runCli(['trusted-root', 'create', '--rekor', `url=https://log.example.com,public-key=${rekorPub},start-time=2025-01-01T00:00:00Z`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).tlogs.length, 1);
    const cases: [string[], RegExp][] = [
      [[], /at least one of --fulcio/],
      [['--rekor', `url=https://l,public-key=${rekorPub}`], /--rekor: missing start-time/],
      [['--rekor', `url=https://l,public-key=${rekorPub},start-time=yesterday`], /not an RFC 3339 time/],
      [['--rekor', `url=https://l,public-key=${rekorPub},start-time=2025-01-01T00:00:00Z,colour=red`], /unknown key "colour"/],
      [['--rekor', `url=https://l,public-key=${caChain},start-time=2025-01-01T00:00:00Z`], /holds no PEM PUBLIC KEY/],
      [['--rekor', `url=https://l,public-key=${join(dir, 'nope.pub')},start-time=2025-01-01T00:00:00Z`], /no such file/],
      [['--ctfe', `url=https://l,public-key=${ctPub},start-time=2025-01-01T00:00:00Z,origin=x`], /unknown key "origin"/],
      [['--fulcio', `url=https://ca,certificate-chain=${rekorPub}`], /holds no PEM certificates/],
      [['--fulcio', `url=ca.example.com,certificate-chain=${caChain}`], /not a URL/],
      [['--fulcio', `url=https://ca,certificate-chain=${caChain},start-time=2025-02-01T00:00:00Z,end-time=2025-01-01T00:00:00Z`], /end-time is before start-time/],
      [['--rekor', `url=https://a,public-key=${rekorPub},start-time=2025-01-01T00:00:00Z`, '--rekor', `url=https://b,public-key=${rekorPub},start-time=2025-01-01T00:00:00Z`], /share the log ID/],
    ];
    for (const [args, re] of cases) {
      const out = join(dir, 'never.json');
      const r = await runCli(['trusted-root', 'create', ...args, '--out', out]);
      assert.equal(r.code, /no such file/.test(re.source) ? 1 : 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(existsSync(out), false);
    }
    // A chain whose certificates are not issuer-linked is refused.
    const mixed = join(dir, 'mixed.pem');
    writeFileSync(mixed, readFileSync(caChain, 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/)[0] + readFileSync(tsaChain, 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/)[1]);
    const r = await runCli(['trusted-root', 'create', '--fulcio', `url=https://ca,certificate-chain=${mixed}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /certificate 1 in .* is not issued by certificate 2/);
  });

  it('creates a signing config that parses and selects as asked', async () => {
    const out = join(dir, 'signing_config.json');
    const t = 'start-time=2025-01-01T00:00:00Z';
    const r = await runCli([
      'signing-config', 'create',
      '--fulcio', `url=https://ca.example.com,api-version=1,${t},operator=example.com`,
      '--oidc-provider', `url=https://issuer.example.com,api-version=1,${t},operator=example.com`,
      '--rekor', `url=https://log.example.com,api-version=1,${t},operator=example.com`,
      '--rekor', `url=https://log.other.org,api-version=1,${t},operator=other.org`,
      '--tsa', `url=https://tsa.example.com/api/v1/timestamp,api-version=1,${t},operator=example.com`,
      '--rekor-config', 'EXACT:2',
      '--tsa-config', 'ALL',
      '--out', out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const cfg = parseSigningConfig(readFileSync(out));
    assert.deepEqual(cfg.rekorTlogConfig, { selector: 'EXACT', count: 2 });
    const s = selectServices(cfg, new Date('2026-01-01T00:00:00Z'));
    assert.equal(s.ca, 'https://ca.example.com');
    assert.equal(s.oidc, 'https://issuer.example.com');
    assert.equal(s.tlogs.length, 2);
    assert.deepEqual(s.tsas, ['https://tsa.example.com/api/v1/timestamp']);
  });

  it('refuses bad signing-config specs', async () => {
    const t = 'start-time=2025-01-01T00:00:00Z';
    const cases: [string[], RegExp][] = [
      [[], /at least one of/],
      [['--fulcio', `url=https://ca,${t},operator=x`], /missing api-version/],
      [['--fulcio', `url=https://ca,api-version=one,${t},operator=x`], /api-version "one"/],
      [['--fulcio', `url=https://ca,api-version=1,${t}`], /missing operator/],
      [['--rekor', `url=https://l,api-version=1,${t},operator=x`, '--rekor-config', 'SOME'], /"SOME" is not ANY, ALL or EXACT/],
      [['--rekor', `url=https://l,api-version=1,${t},operator=x`, '--rekor-config', 'EXACT:2'], /EXACT:2 needs at least 2/],
      [['--tsa', `url=https://t,api-version=1,${t},operator=x`, '--tsa-config', 'EXACT:0'], /not ANY, ALL or EXACT/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(['signing-config', 'create', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stdout, '');
    }
  });

  it('initialize: one clear line when the mirror is unreachable', async () => {
    const cache = join(dir, 'tuf');
    const root = join(dir, 'missing-root.json');
    let r = await runCli(['initialize', '--mirror', 'http://127.0.0.1:1'], { env: { TUF_ROOT: cache } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /pass --root/);
    r = await runCli(['initialize', '--mirror', 'http://127.0.0.1:1', '--root', root], { env: { TUF_ROOT: cache } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no such file/);
    r = await runCli(['initialize', '--root-checksum', 'sha256:00'], { env: { TUF_ROOT: cache } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--root-checksum needs --root/);
    const seeds = createRequire(import.meta.url)('@sigstore/tuf/seeds.json') as Record<string, { 'root.json': string }>;
    const realRoot = join(dir, 'root.json');
    writeFileSync(realRoot, Buffer.from(seeds['https://tuf-repo-cdn.sigstore.dev']!['root.json'], 'base64'));
    const srv = createServer();
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((res) => srv.close(() => res()));
    r = await runCli(['initialize', '--mirror', `http://127.0.0.1:${port}`, '--root', realRoot], { env: { TUF_ROOT: cache } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^Error: cannot update TUF metadata from http://127.0.0.1:${port}: .*ECONNREFUSED`));
    assert.equal(r.stderr.trim().split('\n').length, 1);
    const digest = createHash('sha256').update(readFileSync(realRoot)).digest('hex');
    r = await runCli(['initialize', '--mirror', `http://127.0.0.1:${port}`, '--root', realRoot, '--root-checksum', `sha256:${'0'.repeat(64)}`], { env: { TUF_ROOT: cache } });
    assert.match(r.stderr, /does not match --root-checksum/);
    r = await runCli(['initialize', '--mirror', `http://127.0.0.1:${port}`, '--root', realRoot, '--root-checksum', digest], { env: { TUF_ROOT: cache } });
    assert.match(r.stderr, /cannot update TUF metadata/, 'a matching checksum proceeds to the mirror');
    assert.equal(existsSync(cache) ? readdirSync(cache).includes('remote.json') : false, false);
  });

  it('--with-default-services: the pinned public-good services, a kind given by flags replaced, --no-default-* dropped', async () => {
    const env = { TUF_ROOT: join(dir, 'no-tuf-cache') };
    const pinned = JSON.parse(publicGoodTrustedRootBytes().toString());
    let r = await runCli(['trusted-root', 'create', '--with-default-services', '--no-default-ctfe', '--fulcio', `url=https://ca.example.com,certificate-chain=${caChain}`], { env });
    assert.equal(r.code, 0, r.stderr);
    const root = parseTrustedRoot(Buffer.from(r.stdout));
    assert.deepEqual((root.certificateAuthorities as { uri: string }[]).map((c) => c.uri), ['https://ca.example.com'], 'the given CA replaces the default ones');
    assert.equal(root.ctlogs.length, 0);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.tlogs, pinned.tlogs);
    assert.deepEqual(doc.timestampAuthorities, pinned.timestampAuthorities);
    r = await runCli(['trusted-root', 'create', '--no-default-ctfe', '--fulcio', `url=https://ca.example.com,certificate-chain=${caChain}`], { env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--no-default-\* flags need --with-default-services/);

    r = await runCli(['signing-config', 'create', '--with-default-services', '--no-default-rekor'], { env });
    assert.equal(r.code, 0, r.stderr);
    const noLog = parseSigningConfig(r.stdout);
    assert.equal(noLog.rekorTlogUrls.length, 0);
    assert.deepEqual(noLog.caUrls.map((c) => c.url), ['https://fulcio.sigstore.dev']);
    assert.ok(noLog.tsaUrls.length >= 1);
    const base = join(dir, 'base-signing-config.json');
    writeFileSync(base, r.stdout);
    r = await runCli(['signing-config', 'create', '--base-config', base, '--no-default-oidc', '--tsa', 'url=https://tsa2.example.com/api/v1/timestamp,api-version=1,start-time=2025-01-01T00:00:00Z,operator=example.com', '--tsa-config', 'EXACT:1'], { env });
    assert.equal(r.code, 0, r.stderr);
    const derived = parseSigningConfig(r.stdout);
    assert.deepEqual(derived.tsaUrls.map((t) => t.url), ['https://tsa2.example.com/api/v1/timestamp']);
    assert.deepEqual(derived.tsaConfig, { selector: 'EXACT', count: 1 });
    assert.deepEqual(derived.caUrls, noLog.caUrls);
    assert.equal(derived.oidcUrls.length, 0);
    assert.equal(derived.rekorTlogUrls.length, 0);
    r = await runCli(['signing-config', 'create', '--base-config', base, '--with-default-services'], { env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot be used together/);
    r = await runCli(['signing-config', 'create', '--no-default-rekor'], { env });
    assert.equal(r.code, 2);
  });

  it('has --help with examples', async () => {
    for (const cmd of [['initialize'], ['trusted-root', 'create'], ['signing-config', 'create']]) {
      const r = await runCli([...cmd, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /Examples:\n {2}signet /);
    }
  });
});
