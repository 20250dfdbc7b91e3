/**
 * Keys in a PKCS#11 token, end to end against SoftHSM2 (Debian's softhsm2, a fresh token made by the
 * test): P-256, P-384 and RSA keys sign a blob and an image in a real docker-registry, the signatures
 * verify with the public key `public-key` exports, with `--key pkcs11:…` itself, and with sigstore-js;
 * `pkcs11-tool` lists what cosign lists; bad input gets one clear line each.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { parsePublicKey } from '../../src/keys/index.js';
import { RegistryClient } from '../../src/oci/index.js';
import { runCli } from '../helpers/cli.js';
import { createSoftToken, type SoftToken } from '../helpers/softhsm.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-pkcs11-'));
let token: SoftToken;
let reg: RunningRegistry;
const blob = join(dir, 'artifact.txt');

const KEYS = [
  { label: 'p256', type: 'EC:prime256v1', id: '01', kind: 'ecdsa-p256' },
  { label: 'p384', type: 'EC:secp384r1', id: '02', kind: 'ecdsa-p384' },
  { label: 'rsa', type: 'rsa:2048', id: '03', kind: 'rsa' },
] as const;

const EMPTY_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
} as unknown as TrustedRoot;

function cli(args: string[], env: Record<string, string | undefined> = {}) {
  return runCli(args, { env: { ...token.env, COSIGN_PKCS11_PIN: undefined, COSIGN_PKCS11_MODULE_PATH: undefined, ...env } });
}

before(async () => {
  token = createSoftToken(dir);
  for (const k of KEYS) token.generate(k.type, k.label, k.id);
  writeFileSync(blob, 'signed in a token\n');
  reg = await startRegistry();
});
after(async () => {
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('pkcs11: keys', () => {
  for (const k of KEYS) {
    test(`${k.label}: public-key, sign-blob and verify-blob (exported key, the URI, sigstore-js)`, async () => {
      const pub = join(dir, `${k.label}.pub`);
      const exported = await cli(['public-key', '--key', token.uri(k.label, { pin: false }), '--outfile', pub]);
      assert.equal(exported.code, 0, exported.stderr);
      const info = parsePublicKey(readFileSync(pub));
      assert.equal(info.kind, k.kind);

      const bundle = join(dir, `${k.label}.bundle.json`);
      const s = await cli(['sign-blob', '--key', token.uri(k.label), '--tlog-upload=false', '--bundle', bundle, blob]);
      assert.equal(s.code, 0, s.stderr);
      for (const key of [pub, token.uri(k.label, { pin: false })]) {
        const v = await cli(['verify-blob', '--key', key, '--bundle', bundle, '--insecure-ignore-tlog', blob]);
        assert.equal(v.code, 0, v.stderr);
        assert.match(v.stderr, /Verified OK/);
      }
      const trust = toTrustMaterial(EMPTY_ROOT, () => ({ publicKey: info.key, validFor: () => true }));
      const entity = toSignedEntity(bundleFromJSON(JSON.parse(readFileSync(bundle, 'utf8'))), readFileSync(blob));
      new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);

      writeFileSync(join(dir, 'other.txt'), 'not what was signed\n');
      const bad = await cli(['verify-blob', '--key', pub, '--bundle', bundle, '--insecure-ignore-tlog', join(dir, 'other.txt')]);
      assert.notEqual(bad.code, 0);
    });

    test(`${k.label}: sign an image in a registry, verify it with the exported key`, async () => {
      const client = new RegistryClient();
      const repo = { registry: reg.host, repository: `pkcs11/${k.label}` };
      const img = await pushRandomImage(client, repo, 'v1');
      await client.close();
      const ref = `${reg.host}/${repo.repository}@${img.digest}`;
      // The module from COSIGN_PKCS11_MODULE_PATH and the PIN from COSIGN_PKCS11_PIN, as cosign reads them.
      const uri = `pkcs11:token=${token.label};id=%${k.id}`;
      const env = { COSIGN_PKCS11_MODULE_PATH: token.module, COSIGN_PKCS11_PIN: token.pin };
      const s = await cli(['sign', '--key', uri, '--tlog-upload=false', ref], env);
      assert.equal(s.code, 0, s.stderr);
      const pub = join(dir, `${k.label}.pub`);
      const v = await cli(['verify', '--key', pub, '--insecure-ignore-tlog', ref]);
      assert.equal(v.code, 0, v.stderr);
      const otherKey = token.uri(KEYS[(KEYS.indexOf(k) + 1) % 3]!.label, { pin: false });
      const other = await cli(['verify', '--key', otherKey, '--insecure-ignore-tlog', ref]);
      assert.equal(other.code, 12, other.stderr);
    });
  }
});

describe('pkcs11: attestations', () => {
  test('attest-blob with a token key, verify-blob-attestation with the URI', async () => {
    const predicate = join(dir, 'predicate.json');
    writeFileSync(predicate, '{"result":"pass"}');
    const bundle = join(dir, 'attestation.json');
    const type = 'https://example.com/test-result/v1';
    const a = await cli(['attest-blob', '--key', token.uri('p256'), '--tlog-upload=false', '--predicate', predicate, '--type', type, '--bundle', bundle, blob]);
    assert.equal(a.code, 0, a.stderr);
    const v = await cli(['verify-blob-attestation', '--key', token.uri('p256', { pin: false }), '--insecure-ignore-tlog', '--bundle', bundle, '--type', type, blob]);
    assert.equal(v.code, 0, v.stderr);
    const wrong = await cli(['verify-blob-attestation', '--key', token.uri('rsa', { pin: false }), '--insecure-ignore-tlog', '--bundle', bundle, '--type', type, blob]);
    assert.notEqual(wrong.code, 0);
  });

  test('generate-key-pair does not create keys in tokens: it says how to', async () => {
    for (const args of [['--kms', token.uri('new')], [token.uri('new')]]) {
      const r = await cli(['generate-key-pair', ...args]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /^Error: generate-key-pair does not create keys in PKCS#11 tokens .*pkcs11-tool --keypairgen.*signet pkcs11-tool list-keys-uris\n$/);
    }
  });
});

describe('pkcs11: bad input, one line each', () => {
  const sign = (uri: string, env: Record<string, string | undefined> = {}) =>
    cli(['sign-blob', '--key', uri, '--tlog-upload=false', '--bundle', join(dir, 'never.json'), blob], env);
  const oneLine = (r: { code: number; stderr: string }, re: RegExp): void => {
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  };

  test('wrong PIN', async () => {
    oneLine(await sign(token.uri('p256').replace('pin-value=1234', 'pin-value=9999')), /^Error: wrong PIN for PKCS#11 token "signet-test"$/m);
    oneLine(await sign(token.uri('p256', { pin: false }), { COSIGN_PKCS11_PIN: '0000' }), /wrong PIN/);
  });

  test('no PIN and no terminal to ask on', async () => {
    oneLine(await sign(token.uri('p256', { pin: false })), /token "signet-test" needs a PIN: add pin-value or pin-source to the URI, or set COSIGN_PKCS11_PIN/);
  });

  test('pin-source reads the PIN from a file', async () => {
    const pinFile = join(dir, 'pin.txt');
    writeFileSync(pinFile, `${token.pin}\n`);
    const r = await sign(`${token.uri('p256', { pin: false })}&pin-source=file:${pinFile}`);
    assert.equal(r.code, 0, r.stderr);
  });

  test('missing module, a file that is not a module', async () => {
    oneLine(await sign(`pkcs11:token=${token.label};object=p256?module-path=${join(dir, 'nope.so')}&pin-value=1234`), /PKCS#11 module .*nope\.so: no such file/);
    oneLine(await sign(`pkcs11:token=${token.label};object=p256?module-path=${blob}&pin-value=1234`), /cannot load PKCS#11 module/);
  });

  test('a URI naming no key, no token', async () => {
    oneLine(await sign(token.uri('absent')), /no private key with label "absent" in PKCS#11 token "signet-test"/);
    oneLine(await cli(['public-key', '--key', token.uri('absent')]), /no public key or certificate with label "absent"/);
    oneLine(await sign(`pkcs11:token=elsewhere;object=p256?module-path=${token.module}&pin-value=1234`), /has no token labelled "elsewhere"/);
    oneLine(await sign(`pkcs11:slot-id=4242;object=p256?module-path=${token.module}&pin-value=1234`), /has no slot 4242/);
  });

  test('malformed URIs', async () => {
    oneLine(await sign(`pkcs11:object=p256?module-path=${token.module}`), /malformed PKCS#11 URI .*one of token and slot-id must be set/);
    oneLine(await sign(`pkcs11:token=${token.label}?module-path=${token.module}`), /one of object and id must be set/);
    oneLine(await sign(`pkcs11:token=${token.label};object=p256`), /module-path or COSIGN_PKCS11_MODULE_PATH must be set/);
    oneLine(await sign(`pkcs11:token=${token.label};object=p256?module-path=relative.so`), /not an absolute path/);
    oneLine(await sign(`pkcs11:token=${token.label};slot-id=x;object=p256?module-path=${token.module}`), /slot-id "x" is not a number/);
    // The PIN never appears in a message.
    const r = await sign(`pkcs11:token=${token.label};object=p%zz?module-path=${token.module}&pin-value=secret77`);
    oneLine(r, /bad percent-encoding/);
    assert.doesNotMatch(r.stderr, /secret77/);
  });
});

describe('pkcs11-tool', () => {
  test('list-tokens prints the token as cosign does', async () => {
    const r = await cli(['pkcs11-tool', 'list-tokens', '--module-path', token.module]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^\\nListing tokens of PKCS11 module '${token.module}'\\nToken in slot ${token.slot}\\n\\tLabel: signet-test\\n\\tManufacturer: SoftHSM project\\n\\tModel: SoftHSM v2\\n\\tS/N: [0-9a-f]+\\n\\n`));
  });

  test('list-keys-uris prints URIs that sign', async () => {
    const r = await cli(['pkcs11-tool', 'list-keys-uris', '--slot-id', String(token.slot), '--pin', token.pin], { COSIGN_PKCS11_MODULE_PATH: token.module });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^\\nListing URIs of keys in slot '${token.slot}' of PKCS11 module '${token.module}'\\n`));
    const uri = `pkcs11:token=signet-test;slot-id=${token.slot};id=%01;object=p256?module-path=${token.module}&pin-value=1234`;
    assert.match(r.stdout, new RegExp(`Object \\d\\n\\tLabel: p256\\n\\tID: 01\\n\\tURI: ${uri.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n`));
    const s = await cli(['sign-blob', '--key', uri, '--tlog-upload=false', '--bundle', join(dir, 'listed.json'), blob]);
    assert.equal(s.code, 0, s.stderr);
  });

  test('list-keys-uris with a wrong PIN, and without a module', async () => {
    const r = await cli(['pkcs11-tool', 'list-keys-uris', '--module-path', token.module, '--slot-id', String(token.slot), '--pin', '0000']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^Error: wrong PIN/);
    const m = await cli(['pkcs11-tool', 'list-tokens']);
    assert.equal(m.code, 2);
    assert.match(m.stderr, /--module-path/);
  });
});

describe('pkcs11: concurrency', () => {
  test('hundreds of signatures at once from one token (EC and RSA) all verify: the module is initialized for threads', async () => {
    // In this process, with the test token's configuration: signing runs on the thread pool in several
    // sessions at once, which crashed SoftHSM2 (a segmentation fault) before C_Initialize asked it to lock.
    const saved = { ...process.env };
    Object.assign(process.env, token.env);
    const { pkcs11Signer, closePkcs11Modules } = await import('../../src/keys/pkcs11.js');
    const { verifySignature } = await import('../../src/keys/index.js');
    try {
      for (const label of ['p256', 'rsa']) {
        const signer = await pkcs11Signer(token.uri(label));
        const messages = Array.from({ length: label === 'rsa' ? 200 : 400 }, (_, i) => Buffer.from(`message ${i}`));
        const sigs = await Promise.all(messages.map((m) => signer.sign(m)));
        sigs.forEach((s, i) => assert.ok(verifySignature(signer.publicKey, messages[i]!, s), `${label} signature ${i}`));
      }
    } finally {
      closePkcs11Modules();
      process.env = saved;
    }
  });
});
