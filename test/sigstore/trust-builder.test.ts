/** trusted_root.json and signing_config.json built by the library (src/index.ts) from cosign-style service specs. */
import assert from 'node:assert/strict';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildSigningConfigFromSpecs, buildTrustedRoot, isSignetError, parseSelector, parseServiceSpec, parseSigningConfig, parseTrustedRoot, serializeSigningConfig } from '../../src/index.js';
import { x509 } from '../../src/server/ca/x509.js';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const usage = (re: RegExp) => (e: unknown) => isSignetError(e, 'USAGE') && re.test((e as Error).message);

describe('trust configuration builders', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-trust-lib-'));
  const logPub = join(dir, 'log.pub');
  const caPem = join(dir, 'ca.pem');
  before(async () => {
    writeFileSync(logPub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=root, O=example.com',
      notBefore: new Date('2025-01-01T00:00:00Z'),
      notAfter: new Date('2035-01-01T00:00:00Z'),
      signingAlgorithm: ALG,
      keys,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    writeFileSync(caPem, cert.toString('pem'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a trusted root from a CA chain and a log key parses, with the CA trusted from its certificate\'s start', async () => {
    const json = await buildTrustedRoot({
      fulcio: [`url=https://ca.example.com,certificate-chain=${caPem}`],
      rekor: [`url=https://log.example.com,public-key=${logPub},start-time=2025-01-01T00:00:00Z`],
    });
    const root = parseTrustedRoot(json);
    assert.equal(root.tlogs.length, 1);
    assert.equal(root.tlogs[0]!.baseUrl, 'https://log.example.com');
    assert.equal(root.certificateAuthorities.length, 1);
    assert.equal((JSON.parse(json) as { certificateAuthorities: Array<{ validFor: { start: string } }> }).certificateAuthorities[0]!.validFor.start, '2025-01-01T00:00:00.000Z');
  });

  test('bad specs are usage errors naming the flag; unreadable files are IO errors', async () => {
    await assert.rejects(buildTrustedRoot({ rekor: [`url=https://log.example.com,public-key=${logPub}`] }), usage(/^--rekor: missing start-time/));
    await assert.rejects(buildTrustedRoot({ rekor: [`url=https://log.example.com,public-key=${logPub},start-time=yesterday`] }), usage(/not an RFC 3339 time/));
    const twice = `url=https://log.example.com,public-key=${logPub},start-time=2025-01-01T00:00:00Z`;
    await assert.rejects(buildTrustedRoot({ rekor: [twice, twice] }), usage(/share the log ID/));
    await assert.rejects(buildTrustedRoot({ fulcio: [`url=https://ca.example.com,certificate-chain=${join(dir, 'none.pem')}`] }), (e) => isSignetError(e, 'IO'));
    assert.throws(() => parseServiceSpec('--x', 'url=a,color=red', ['url'], ['url']), usage(/unknown key "color"/));
  });

  test('a signing config from service specs round-trips; EXACT needs that many operators', () => {
    const spec = (url: string, op: string) => `url=${url},api-version=1,start-time=2025-01-01T00:00:00Z,operator=${op}`;
    const cfg = buildSigningConfigFromSpecs({ fulcio: [spec('https://ca.example.com', 'a')], rekor: [spec('https://log.example.com', 'a')], tsaConfig: 'ANY' });
    const again = parseSigningConfig(serializeSigningConfig(cfg));
    assert.equal(again.caUrls[0]!.url, 'https://ca.example.com');
    assert.equal(again.rekorTlogUrls[0]!.majorApiVersion, 1);
    assert.deepEqual(parseSelector('--rekor-config', 'exact:2'), { selector: 'EXACT', count: 2 });
    assert.throws(() => buildSigningConfigFromSpecs({ rekor: [spec('https://log.example.com', 'a')], rekorConfig: 'EXACT:2' }), usage(/distinct operators/));
  });
});
