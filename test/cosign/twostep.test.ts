/**
 * Signing in two steps: `sign --upload=false` writes the payload, signature and bundle and pushes
 * nothing (the log entry is still made); those files verify on their own (verify-blob, the sigstore
 * verifier) and can be pushed later with `attach signature`; `sign --payload` signs a payload from
 * `generate`; `bundle create` assembles a bundle from an openssl signature, its key and the log entry,
 * which `verify-blob` and the sigstore verifier accept; `upload blob`/`upload wasm` push files as images
 * that are then signed and verified. Bad inputs write and push nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { encryptPrivateKey, generateKeyPair, parsePublicKey, publicKeyInfo } from '../../src/keys/index.js';
import { RegistryClient, type Repo } from '../../src/oci/index.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { hashedrekordV001, RekorV1Client } from '../../src/sigstore/rekor-client.js';
import { requestTimestamp } from '../../src/sigstore/tsa-client.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';

let reg: RunningRegistry;
let client: RegistryClient;
let log: RunningServer;
const dir = mkdtempSync(join(tmpdir(), 'signet-twostep-'));
const keys = generateKeyPair('ecdsa-p256');
const pub = publicKeyInfo(keys.publicKey);
const keyFile = join(dir, 'cosign.key');
const pubFile = join(dir, 'cosign.pub');
const env = { COSIGN_PASSWORD: 'pw', SIGNET_HOME: join(dir, 'home') };
let n = 0;
const repoOf = (): Repo => ({ registry: reg.host, repository: `twostep/app${++n}` });
const ref = (r: Repo, tag: string): string => `${r.registry}/${r.repository}:${tag}`;
const file = (name: string): string => join(dir, `${++n}-${name}`);

before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({});
  log = await startServer({ dataDir: join(dir, 'log'), listen: '127.0.0.1:0', requestLog: false });
  writeFileSync(keyFile, encryptPrivateKey(keys.privateKey, Buffer.from('pw'), { N: 32768 }));
  writeFileSync(pubFile, pub.pem);
});
after(async () => {
  await client.close();
  await reg.stop();
  await log.close();
});

async function treeSize(): Promise<number> {
  return (await new RekorV1Client({ baseUrl: log.url }).logInfo()).treeSize;
}

/** The sigstore verifier with the log's trusted root and one known signing key. */
function sigstoreVerifier(keyPem: string): Verifier {
  const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(log.trustedRootPath, 'utf8')));
  const trust = toTrustMaterial(root, () => ({ publicKey: createPublicKey(keyPem), validFor: () => true }));
  return new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 });
}

/** An EC P-256 key pair made by openssl: [private key PEM file, public key PEM file]. */
function opensslKey(): [string, string] {
  const k = file('openssl.key');
  const p = file('openssl.pub');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', k]);
  execFileSync('openssl', ['ec', '-in', k, '-pubout', '-out', p], { stdio: 'ignore' });
  return [k, p];
}

describe('sign --upload=false', () => {
  test('bundle format: writes payload, signature and bundle, logs the signature, pushes nothing; the bundle verifies', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const tagsBefore = (await client.listTags(repo)).sort();
    const sizeBefore = await treeSize();
    const [payload, sig, bundle] = [file('payload.json'), file('payload.sig'), file('bundle.json')];
    const r = await runCli(['sign', '--key', keyFile, '--rekor-url', log.url, '--upload=false', '--output-payload', payload, '--output-signature', sig, '--bundle', bundle, ref(repo, 'v1')], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /tlog entry created with index: \d+/);
    assert.match(r.stderr, /not uploaded/);
    assert.doesNotMatch(r.stderr, /Pushed signature/);
    // Nothing pushed: same tags (no .sig, no referrers fallback tag), and no referrer; the log has the entry.
    assert.deepEqual((await client.listTags(repo)).sort(), tagsBefore);
    assert.equal(await treeSize(), sizeBefore + 1);
    // The payload is the in-toto statement about the image; the signature is the DSSE one in the bundle.
    const statement = JSON.parse(readFileSync(payload, 'utf8'));
    assert.equal(statement.subject[0].digest.sha256, img.digest.replace('sha256:', ''));
    const doc = JSON.parse(readFileSync(bundle, 'utf8'));
    assert.equal(doc.dsseEnvelope.signatures[0].sig, readFileSync(sig, 'utf8'));
    assert.equal(Buffer.from(doc.dsseEnvelope.payload, 'base64').toString('utf8'), readFileSync(payload, 'utf8'));
    // The sigstore verifier accepts the bundle (signature, log entry), and refuses it under another key.
    sigstoreVerifier(pub.pem).verify(toSignedEntity(bundleFromJSON(doc)));
    const other = generateKeyPair('ecdsa-p256').publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => sigstoreVerifier(other).verify(toSignedEntity(bundleFromJSON(doc))));
  });

  test('legacy format: the files verify with verify-blob and push later with attach signature; --tlog-upload=false logs nothing', async () => {
    const repo = repoOf();
    await pushRandomImage(client, repo, 'v1');
    const tagsBefore = (await client.listTags(repo)).sort();
    const [payload, sig, local] = [file('payload.json'), file('payload.sig'), file('local.json')];
    const r = await runCli(['sign', '--key', keyFile, '--rekor-url', log.url, '--new-bundle-format=false', '--upload=false', '--output-payload', payload, '--output-signature', sig, '--bundle', local, ref(repo, 'v1')], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await client.listTags(repo)).sort(), tagsBefore);
    // The payload and signature verify on their own, and the LocalSignedPayload with its log entry.
    const vb = await runCli(['verify-blob', '--key', pubFile, '--insecure-ignore-tlog', '--signature', sig, payload], { env });
    assert.equal(vb.code, 0, vb.stderr);
    const vl = await runCli(['verify-blob', '--key', pubFile, '--trusted-root', log.trustedRootPath, '--bundle', local, payload], { env });
    assert.equal(vl.code, 0, vl.stderr);
    // Step two: push what was made, then verify the image.
    const at = await runCli(['attach', 'signature', '--payload', payload, '--signature', sig, ref(repo, 'v1')], { env });
    assert.equal(at.code, 0, at.stderr);
    const v = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', ref(repo, 'v1')], { env });
    assert.equal(v.code, 0, v.stderr);

    const sizeBefore = await treeSize();
    const quiet = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', '--upload=false', '--output-signature', file('sig'), ref(repo, 'v1')], { env });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(await treeSize(), sizeBefore);
  });

  test('--output-certificate writes the certificate given with --key (own CA); the bundle carries it', async () => {
    const repo = repoOf();
    await pushRandomImage(client, repo, 'v1');
    const [k] = opensslKey();
    const pkcs8 = file('leaf.pkcs8');
    execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', k, '-out', pkcs8]);
    const prefix = file('leaf');
    const imp = await runCli(['import-key-pair', '--key', pkcs8, '--output-key-prefix', prefix, '--yes'], { env });
    assert.equal(imp.code, 0, imp.stderr);
    const cert = file('leaf.pem');
    execFileSync('openssl', ['req', '-new', '-x509', '-key', k, '-out', cert, '-days', '1', '-subj', '/CN=two-step signer'], { stdio: 'ignore' });
    const [outCert, bundle] = [file('out-cert.pem'), file('bundle.json')];
    const r = await runCli(['sign', '--key', `${prefix}.key`, '--certificate', cert, '--tlog-upload=false', '--upload=false', '--output-certificate', outCert, '--bundle', bundle, ref(repo, 'v1')], { env });
    assert.equal(r.code, 0, r.stderr);
    const der = (pem: string): string => pem.replace(/-----[^-]+-----|\s+/g, '');
    assert.equal(der(readFileSync(outCert, 'utf8')), der(readFileSync(cert, 'utf8')));
    assert.equal(JSON.parse(readFileSync(bundle, 'utf8')).verificationMaterial.certificate.rawBytes, der(readFileSync(cert, 'utf8')));
  });

  test('bad uses: outputs for several images, the same file twice, a certificate to write without one; nothing written or pushed', async () => {
    const repo = repoOf();
    await pushRandomImage(client, repo, 'v1');
    await pushRandomImage(client, repo, 'v2');
    const tagsBefore = (await client.listTags(repo)).sort();
    const out = file('sig');
    const cases = [
      ['--output-signature', out, ref(repo, 'v1'), ref(repo, 'v2')],
      ['--output-signature', out, '--bundle', out, ref(repo, 'v1')],
      ['--output-certificate', out, ref(repo, 'v1')],
    ];
    for (const extra of cases) {
      const r = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', ...extra], { env });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(existsSync(out), false);
    }
    assert.deepEqual((await client.listTags(repo)).sort(), tagsBefore);
  });
});

describe('sign --payload', () => {
  test('signs the payload from generate (legacy format); a payload for another image is refused and nothing is pushed', async () => {
    const repo = repoOf();
    await pushRandomImage(client, repo, 'v1');
    const other = await pushRandomImage(client, repo, 'v2');
    const payload = file('payload.json');
    const g = await runCli(['--output-file', payload, 'generate', '-a', 'team=blue', ref(repo, 'v1')], { env });
    assert.equal(g.code, 0, g.stderr);
    const s = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', '--new-bundle-format=false', '--payload', payload, ref(repo, 'v1')], { env });
    assert.equal(s.code, 0, s.stderr);
    const v = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', '-a', 'team=blue', ref(repo, 'v1')], { env });
    assert.equal(v.code, 0, v.stderr);

    const tagsBefore = (await client.listTags(repo)).sort();
    const wrong = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', '--new-bundle-format=false', '--payload', payload, ref(repo, 'v2')], { env });
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.match(wrong.stderr, new RegExp(`not for .*${other.digest}`));
    const newFormat = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', '--payload', payload, ref(repo, 'v1')], { env });
    assert.equal(newFormat.code, 2, newFormat.stderr);
    const missing = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', '--new-bundle-format=false', '--payload', file('nope'), ref(repo, 'v1')], { env });
    assert.notEqual(missing.code, 0);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
    assert.deepEqual((await client.listTags(repo)).sort(), tagsBefore);
  });
});

describe('bundle create', () => {
  test('from an openssl signature, its key and the log entry: verify-blob and the sigstore verifier accept it', async () => {
    const [k, p] = opensslKey();
    const artifact = file('artifact.txt');
    writeFileSync(artifact, 'two steps\n');
    const sig = file('artifact.sig');
    execFileSync('openssl', ['dgst', '-sha256', '-sign', k, '-out', sig, artifact]);
    // The signature logged by whoever signed (as rekor-cli upload would).
    const keyPem = readFileSync(p, 'utf8');
    const proposed = hashedrekordV001({ hashAlg: 'sha256', digest: createHash('sha256').update(readFileSync(artifact)).digest(), signature: readFileSync(sig), verifierPem: keyPem });
    await new RekorV1Client({ baseUrl: log.url }).createEntry(proposed);

    const out = file('artifact.sigstore.json');
    const c = await runCli(['bundle', 'create', '--artifact', artifact, '--signature', sig, '--key', p, '--rekor-url', log.url, '--out', out], { env });
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, /Found tlog entry with index: \d+/);
    const vb = await runCli(['verify-blob', '--key', p, '--trusted-root', log.trustedRootPath, '--bundle', out, artifact], { env });
    assert.equal(vb.code, 0, vb.stderr);
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(doc.verificationMaterial.publicKey.hint, parsePublicKey(keyPem).hint);
    sigstoreVerifier(keyPem).verify(toSignedEntity(bundleFromJSON(doc), readFileSync(artifact)));
    assert.throws(() => sigstoreVerifier(keyPem).verify(toSignedEntity(bundleFromJSON(doc), Buffer.from('tampered'))));

    // --ignore-tlog: no entry, verifies without the log; base64 signature (cosign's form) on stdout.
    const b64 = file('artifact.sig.b64');
    writeFileSync(b64, readFileSync(sig).toString('base64'));
    const bare = await runCli(['bundle', 'create', '--artifact', artifact, '--signature', b64, '--key', p, '--ignore-tlog'], { env });
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal(JSON.parse(bare.stdout).verificationMaterial.tlogEntries, undefined);
    const bareFile = file('bare.json');
    writeFileSync(bareFile, bare.stdout);
    const vbare = await runCli(['verify-blob', '--key', p, '--insecure-ignore-tlog', '--bundle', bareFile, artifact], { env });
    assert.equal(vbare.code, 0, vbare.stderr);

    // A timestamp over the signature from the TSA: the bundle carries it and verifies with --use-signed-timestamps.
    const ts = file('ts.json');
    writeFileSync(ts, JSON.stringify({ SignedRFC3161Timestamp: (await requestTimestamp(`${log.url}/api/v1/timestamp`, readFileSync(sig))).toString('base64') }));
    const stamped = file('stamped.json');
    const cs = await runCli(['bundle', 'create', '--artifact', artifact, '--signature', sig, '--key', p, '--ignore-tlog', '--rfc3161-timestamp', ts, '--out', stamped], { env });
    assert.equal(cs.code, 0, cs.stderr);
    const vts = await runCli(['verify-blob', '--key', p, '--insecure-ignore-tlog', '--trusted-root', log.trustedRootPath, '--use-signed-timestamps', '--bundle', stamped, artifact], { env });
    assert.equal(vts.code, 0, vts.stderr);
    const vnone = await runCli(['verify-blob', '--key', p, '--insecure-ignore-tlog', '--trusted-root', log.trustedRootPath, '--use-signed-timestamps', '--bundle', bareFile, artifact], { env });
    assert.notEqual(vnone.code, 0);
    // A timestamp over another signature is refused, nothing written.
    const otherTs = file('other-ts.json');
    writeFileSync(otherTs, JSON.stringify({ SignedRFC3161Timestamp: (await requestTimestamp(`${log.url}/api/v1/timestamp`, Buffer.from('another signature'))).toString('base64') }));
    const wrongTs = file('wrong-ts.json');
    const cw = await runCli(['bundle', 'create', '--artifact', artifact, '--signature', sig, '--key', p, '--ignore-tlog', '--rfc3161-timestamp', otherTs, '--out', wrongTs], { env });
    assert.notEqual(cw.code, 0);
    assert.match(cw.stderr, /timestamp is for other data/);
    assert.equal(existsSync(wrongTs), false);
  });

  test('from a certificate and an old-format bundle; bad inputs: one line each, nothing written', async () => {
    const [k, p] = opensslKey();
    const artifact = file('artifact.txt');
    writeFileSync(artifact, 'certified\n');
    const sig = file('artifact.sig');
    execFileSync('openssl', ['dgst', '-sha256', '-sign', k, '-out', sig, artifact]);
    const cert = file('cert.pem');
    execFileSync('openssl', ['req', '-new', '-x509', '-key', k, '-out', cert, '-days', '1', '-subj', '/CN=two-step signer'], { stdio: 'ignore' });
    const withCert = await runCli(['bundle', 'create', '--artifact', artifact, '--signature', sig, '--certificate', cert, '--key', p, '--ignore-tlog'], { env });
    assert.equal(withCert.code, 0, withCert.stderr);
    assert.ok(JSON.parse(withCert.stdout).verificationMaterial.certificate.rawBytes);
    // cosign's old bundle: the signature (and certificate) come from it.
    const legacy = file('legacy.json');
    writeFileSync(legacy, JSON.stringify({ base64Signature: readFileSync(sig).toString('base64'), cert: Buffer.from(readFileSync(p)).toString('base64') }));
    const fromLegacy = await runCli(['bundle', 'create', '--artifact', artifact, '--bundle', legacy, '--key', p, '--ignore-tlog'], { env });
    assert.equal(fromLegacy.code, 0, fromLegacy.stderr);

    const [k2] = opensslKey();
    const otherCert = file('other.pem');
    execFileSync('openssl', ['req', '-new', '-x509', '-key', k2, '-out', otherCert, '-days', '1', '-subj', '/CN=someone else'], { stdio: 'ignore' });
    const otherArtifact = file('other.txt');
    writeFileSync(otherArtifact, 'not what was signed\n');
    const out = file('out.json');
    const bad: Array<[string[], RegExp]> = [
      [['--artifact', otherArtifact, '--signature', sig, '--key', p, '--ignore-tlog'], /does not verify/],
      [['--artifact', artifact, '--signature', file('missing.sig'), '--key', p, '--ignore-tlog'], /missing\.sig/],
      [['--artifact', file('missing.txt'), '--signature', sig, '--key', p, '--ignore-tlog'], /missing\.txt/],
      [['--artifact', artifact, '--signature', sig, '--certificate', otherCert, '--key', p, '--ignore-tlog'], /different public key/],
      [['--artifact', artifact, '--signature', sig, '--certificate', otherCert, '--ignore-tlog'], /does not verify/],
      [['--artifact', artifact, '--signature', sig, '--ignore-tlog'], /--key or --certificate/],
      [['--signature', sig, '--key', p], /--artifact/],
      // Never logged: the log has no entry for it.
      [['--artifact', artifact, '--signature', sig, '--key', p, '--rekor-url', log.url], /no entry for this signature/],
    ];
    for (const [args, msg] of bad) {
      const r = await runCli(['bundle', 'create', ...args, '--out', out], { env });
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(existsSync(out), false);
    }
  });
});

describe('bundle create --attestation', () => {
  test('a DSSE envelope from attest-blob and its log entry become a bundle verify-blob-attestation accepts; bad inputs one line each, nothing written', async () => {
    const artifact = file('app.tar');
    writeFileSync(artifact, 'attested in two steps\n');
    const predicate = file('predicate.json');
    writeFileSync(predicate, JSON.stringify({ buildDefinition: { buildType: 'https://example.com/two-step', externalParameters: {} }, runDetails: { builder: { id: 'https://example.com/builder' } } }));
    const envelope = file('envelope.json');
    const made = await runCli(['attest-blob', '--key', keyFile, '--rekor-url', log.url, '--predicate', predicate, '--type', 'slsaprovenance1', '--bundle', file('first.json'), '--output-signature', envelope, '-y', artifact], { env });
    assert.equal(made.code, 0, made.stderr);

    const out = file('att.sigstore.json');
    const c = await runCli(['bundle', 'create', '--attestation', envelope, '--artifact', artifact, '--key', pubFile, '--rekor-url', log.url, '--out', out], { env });
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, /Found tlog entry with index: \d+/);
    assert.ok(JSON.parse(readFileSync(out, 'utf8')).dsseEnvelope);
    const v = await runCli(['verify-blob-attestation', '--key', pubFile, '--trusted-root', log.trustedRootPath, '--type', 'slsaprovenance1', '--bundle', out, artifact], { env });
    assert.equal(v.code, 0, v.stderr);
    // --ignore-tlog, no --artifact (as cosign's example): the bundle holds the envelope alone.
    const bare = await runCli(['bundle', 'create', '--attestation', envelope, '--key', pubFile, '--ignore-tlog'], { env });
    assert.equal(bare.code, 0, bare.stderr);
    const bareFile = file('bare-att.json');
    writeFileSync(bareFile, bare.stdout);
    const vb = await runCli(['verify-blob-attestation', '--key', pubFile, '--insecure-ignore-tlog', '--type', 'slsaprovenance1', '--bundle', bareFile, artifact], { env });
    assert.equal(vb.code, 0, vb.stderr);

    // An envelope signed but never logged.
    const unlogged = file('unlogged.json');
    const u = await runCli(['attest-blob', '--key', keyFile, '--tlog-upload=false', '--predicate', predicate, '--type', 'slsaprovenance1', '--bundle', file('u.json'), '--output-signature', unlogged, '-y', artifact], { env });
    assert.equal(u.code, 0, u.stderr);
    const other = file('other.txt');
    writeFileSync(other, 'something else\n');
    const [, otherPub] = opensslKey();
    const sig = file('plain.sig');
    writeFileSync(sig, Buffer.from('AAAA').toString('base64'));
    const bad: Array<[string[], RegExp]> = [
      [['--attestation', envelope, '--artifact', other, '--key', pubFile, '--ignore-tlog'], /does not name the artifact/],
      [['--attestation', envelope, '--key', otherPub, '--ignore-tlog'], /does not verify/],
      [['--attestation', envelope, '--signature', sig, '--key', pubFile, '--ignore-tlog'], /without --signature or --bundle/],
      [['--attestation', unlogged, '--key', pubFile, '--rekor-url', log.url], /no entry for this envelope's signature/],
      [['--attestation', artifact, '--key', pubFile, '--ignore-tlog'], /--attestation is not valid JSON/],
      [['--attestation', envelope, '--sk', '--ignore-tlog'], /no PIV .*--key/],
      [['--attestation', envelope, '--slot', 'signature', '--key', pubFile, '--ignore-tlog'], /no PIV/],
    ];
    const dest = file('never.json');
    for (const [args, msg] of bad) {
      const r = await runCli(['bundle', 'create', ...args, '--out', dest], { env });
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, msg, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(existsSync(dest), false);
    }
  });
});

describe('upload blob / upload wasm', () => {
  test('a file becomes a one-layer image that signs and verifies; several files with platforms an index; bad uses push nothing', async () => {
    const repo = repoOf();
    const script = file('install.sh');
    writeFileSync(script, '#!/bin/sh\necho hello\n');
    const up = await runCli(['upload', 'blob', '-f', script, ref(repo, 'v1')], { env });
    assert.equal(up.code, 0, up.stderr);
    const [, digest] = up.stdout.trim().split('@');
    const m = await client.getManifest(repo, 'v1');
    assert.equal(m.digest, digest);
    const doc = JSON.parse(m.bytes.toString('utf8'));
    assert.equal(doc.layers.length, 1);
    assert.equal(doc.layers[0].mediaType, 'text/plain');
    assert.deepEqual(await client.getBlob(repo, doc.layers[0].digest), readFileSync(script));
    const s = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', ref(repo, 'v1')], { env });
    assert.equal(s.code, 0, s.stderr);
    const v = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', ref(repo, 'v1')], { env });
    assert.equal(v.code, 0, v.stderr);

    const [linux, darwin] = [file('tool-linux'), file('tool-darwin')];
    writeFileSync(linux, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x01, 0x00]));
    writeFileSync(darwin, Buffer.from([0xcf, 0xfa, 0xed, 0xfe, 0x00, 0x01]));
    const multi = await runCli(['upload', 'blob', '--ct', 'application/x-executable', '-f', `${linux}:linux/amd64`, '-f', `${darwin}:darwin/arm64`, ref(repo, 'tools')], { env });
    assert.equal(multi.code, 0, multi.stderr);
    const idx = JSON.parse((await client.getManifest(repo, 'tools')).bytes.toString('utf8'));
    assert.deepEqual(idx.manifests.map((d: any) => `${d.platform.os}/${d.platform.architecture}`), ['linux/amd64', 'darwin/arm64']);
    const child = JSON.parse((await client.getManifest(repo, idx.manifests[1].digest)).bytes.toString('utf8'));
    assert.equal(child.layers[0].mediaType, 'application/x-executable');
    assert.deepEqual(await client.getBlob(repo, child.layers[0].digest), readFileSync(darwin));

    const wasmFile = file('module.wasm');
    writeFileSync(wasmFile, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    const w = await runCli(['upload', 'wasm', '-f', wasmFile, ref(repo, 'wasm')], { env });
    assert.equal(w.code, 0, w.stderr);
    const wm = JSON.parse((await client.getManifest(repo, 'wasm')).bytes.toString('utf8'));
    assert.equal(wm.config.mediaType, 'application/vnd.wasm.config.v1+json');
    assert.equal(wm.layers[0].mediaType, 'application/vnd.wasm.content.layer.v1+wasm');

    const tagsBefore = (await client.listTags(repo)).sort();
    const bad: Array<[string[], RegExp]> = [
      [['blob', '-f', linux, '-f', darwin, ref(repo, 'bad')], /unique platform/],
      [['blob', '-f', `${linux}:linux`, '-f', `${darwin}:linux`, ref(repo, 'bad')], /unique platform/],
      [['blob', '-f', file('missing'), ref(repo, 'bad')], /missing/],
      [['blob', ref(repo, 'bad')], /-f FILE/],
      [['wasm', '-f', script, ref(repo, 'bad')], /not a wasm module/],
    ];
    for (const [args, msg] of bad) {
      const r = await runCli(['upload', ...args], { env });
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.deepEqual((await client.listTags(repo)).sort(), tagsBefore);
  });
});

describe('bundle create against a log whose candidates record nothing', () => {
  test('an entry body of JSON null, an array, or a dsse body whose signatures are not a list is skipped: NOT_FOUND, one line, nothing written', async () => {
    // An envelope signed and never logged, and a plain signature by the same key.
    const artifact = file('artifact.txt');
    writeFileSync(artifact, 'odd log\n');
    const predicate = file('predicate.json');
    writeFileSync(predicate, JSON.stringify({ note: 'odd log' }));
    const envelope = file('envelope.json');
    const made = await runCli(['attest-blob', '--key', keyFile, '--tlog-upload=false', '--predicate', predicate, '--type', 'custom', '--bundle', file('b.json'), '--output-signature', envelope, '-y', artifact], { env });
    assert.equal(made.code, 0, made.stderr);
    const payloadHex = createHash('sha256').update(Buffer.from(JSON.parse(readFileSync(envelope, 'utf8')).payload, 'base64')).digest('hex');
    const sig = file('artifact.sig');
    const signed = await runCli(['sign-blob', '--key', keyFile, '--tlog-upload=false', '--new-bundle-format=false', '--output-signature', sig, '-y', artifact], { env });
    assert.equal(signed.code, 0, signed.stderr);
    const bodies = ['null', '[1]', JSON.stringify({ kind: 'dsse', apiVersion: '0.0.1', spec: { payloadHash: { algorithm: 'sha256', value: payloadHex }, signatures: { not: 'a list' } } })];
    const uuids = bodies.map((_, i) => String(i).padStart(64, '0'));
    // A log that finds every candidate and serves these bodies (no real log writes them; a broken or hostile one might).
    const { createServer } = await import('node:http');
    const odd = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/v1/index/retrieve') return void req.resume().on('end', () => res.end(JSON.stringify(uuids)));
      const i = uuids.findIndex((u) => req.url === `/api/v1/log/entries/${u}`);
      if (i < 0) return void res.writeHead(404).end('{"message":"no such entry"}');
      res.end(JSON.stringify({ [uuids[i]!]: { body: Buffer.from(bodies[i]!).toString('base64'), integratedTime: 1, logID: '00'.repeat(32), logIndex: i, verification: {} } }));
    });
    await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(odd.address() as { port: number }).port}`;
      const out = file('out.json');
      for (const args of [['--artifact', artifact, '--signature', sig], ['--attestation', envelope]]) {
        const r = await runCli(['bundle', 'create', ...args, '--key', pubFile, '--rekor-url', url, '--out', out], { env });
        assert.notEqual(r.code, 0, args.join(' '));
        assert.match(r.stderr, /has no entry for this/, args.join(' '));
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.equal(existsSync(out), false);
      }
    } finally {
      odd.close();
    }
  });
});
