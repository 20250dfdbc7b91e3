/**
 * Server meets client: certificates from our CA, described by our trusted-root element, must pass
 * Signet's own client-side chain verification and identity extraction (src/sigstore), the code that
 * `signet verify` runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from '../../../src/server/ca/index.js';
import { OidcVerifier, parseOidcConfig } from '../../../src/server/oidc/index.js';
import { certificateAuthoritiesFromTrustedRoot, verifyCertificateChain } from '../../../src/sigstore/certificate.js';
import { certificateIdentity } from '../../../src/sigstore/identity.js';
import { isSignetError } from '../../../src/errors.js';
import { FakeIssuer, githubWorkflowClaims } from '../oidc/helpers.js';

test('Signet verifies the chain and reads the identity of certificates its CA issued', async () => {
  const gh = await FakeIssuer.start();
  try {
    const oidc = new OidcVerifier(parseOidcConfig({ OIDCIssuers: { [gh.url]: { Type: 'github-workflow' } } }));
    const ca = await createCa({ dataDir: mkdtempSync(join(tmpdir(), 'signet-ca-client-')), oidc });
    const sub = 'repo:octo/app:ref:refs/heads/main';
    const token = await gh.token(githubWorkflowClaims(sub, { ref: 'refs/heads/main', workflow: 'Release' }));
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const out = await ca.issue({ token, publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(), proofOfPossession: sign('sha256', Buffer.from(sub), privateKey) });
    const leafDer = new X509Certificate(out.certificate).raw;

    const cas = certificateAuthoritiesFromTrustedRoot([ca.trustedRootCertificateAuthority('http://ca.example')]);
    const verified = verifyCertificateChain(leafDer, cas, [new Date()]);
    assert.equal(verified.chain.length, 3);

    const id = certificateIdentity(leafDer);
    assert.deepEqual(id.sans, [{ type: 'uri', value: 'https://github.com/octo/app/.github/workflows/r.yml@refs/heads/main' }]);
    assert.equal(id.issuer, gh.url);
    assert.equal(id.extensions.sourceRepositoryUri, 'https://github.com/octo/app');
    assert.equal(id.extensions.buildTrigger, 'push');

    // outside the 10-minute window, and under another CA, the same certificate is refused
    assert.throws(() => verifyCertificateChain(leafDer, cas, [new Date(Date.now() + 11 * 60_000)]), (e: unknown) => isSignetError(e, 'VERIFICATION'));
    const other = await createCa({ dataDir: mkdtempSync(join(tmpdir(), 'signet-ca-other-')), oidc });
    const otherCas = certificateAuthoritiesFromTrustedRoot([other.trustedRootCertificateAuthority('http://other.example')]);
    assert.throws(() => verifyCertificateChain(leafDer, otherCas, [new Date()]), (e: unknown) => isSignetError(e, 'VERIFICATION'));
  } finally {
    await gh.stop();
  }
});
