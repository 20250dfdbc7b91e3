/**
 * Certificates for Kubernetes service-account, SPIFFE, GitLab CI and Buildkite tokens: the development
 * issuer's typed issuers mint tokens with those issuer types' claims, the CA maps them to Fulcio's SAN
 * and extension values (Fulcio's pkg/identity/{kubernetes,spiffe,gitlabcom,buildkite}); read back with
 * @peculiar/x509 and checked with `openssl x509 -text`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, sign } from 'node:crypto';
import { x509 } from '../../../src/server/ca/x509.js';
import { createDevIssuer, DEV_SPIFFE_TRUST_DOMAIN, OidcVerifier, type DevIssuer, type DevTypedIssuer } from '../../../src/server/oidc/index.js';
import { createCa } from '../../../src/server/ca/index.js';
import { derUtf8String, SIGSTORE_OID } from '../../../src/server/oidc/principal.js';
import { RouteHost } from './helpers.js';
import { runCli } from '../../helpers/cli.js';

let host: RouteHost;
let dataDir: string;
let dev: DevIssuer;
let ca: Awaited<ReturnType<typeof createCa>>;

before(async () => {
  host = await RouteHost.start();
  dataDir = mkdtempSync(join(tmpdir(), 'signet-typed-ids-'));
  dev = await createDevIssuer({ dataDir, serverUrl: host.url });
  host.mount(dev.routes);
  ca = await createCa({ dataDir, oidc: new OidcVerifier({ issuers: dev.issuerConfigs, metaIssuers: [] }) });
});
after(async () => {
  await host.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A certificate for a token of `kind` with `claims` (proof of possession over `sub`, the challenge of these types). */
async function certify(kind: DevTypedIssuer, claims: Record<string, unknown>): Promise<x509.X509Certificate> {
  const token = await dev.mintClaimsToken({ kind, claims });
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const out = await ca.issue({
    token,
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    proofOfPossession: sign('sha256', Buffer.from(claims.sub as string), privateKey),
  });
  return new x509.X509Certificate(out.certificate);
}

function sanUris(cert: x509.X509Certificate): string[] {
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  assert.ok(ext, 'a SAN extension');
  return ext.names.items.map((n) => `${n.type}:${n.value}`);
}

/** The extension's value: UTF8String-wrapped for 1.8+, raw bytes for the deprecated 1.1–1.6. */
function ext(cert: x509.X509Certificate, oid: string): string | undefined {
  const e = cert.getExtension(oid);
  if (!e) return undefined;
  const v = Buffer.from(e.value);
  const arc = Number(oid.split('.').pop());
  if (arc >= 8) {
    assert.equal(v[0], 0x0c, `${oid} is a UTF8String`);
    assert.deepEqual(v, derUtf8String(v.subarray(v[1]! < 0x80 ? 2 : 2 + (v[1]! & 0x7f)).toString('utf8')));
    return v.subarray(v[1]! < 0x80 ? 2 : 2 + (v[1]! & 0x7f)).toString('utf8');
  }
  return v.toString('utf8');
}

function opensslText(cert: x509.X509Certificate): string {
  const dir = mkdtempSync(join(tmpdir(), 'signet-typed-pem-'));
  try {
    writeFileSync(join(dir, 'c.pem'), cert.toString('pem'));
    return execFileSync('openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-text'], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('certificates for typed identities', () => {
  test('Kubernetes service account: SAN https://kubernetes.io/namespaces/NS/serviceaccounts/SA, issuer extensions', async () => {
    const cert = await certify('kubernetes', {
      sub: 'system:serviceaccount:payments:builder',
      'kubernetes.io': { namespace: 'payments', serviceaccount: { name: 'builder', uid: '5e9f' }, pod: { name: 'p', uid: 'u' } },
    });
    assert.deepEqual(sanUris(cert), ['url:https://kubernetes.io/namespaces/payments/serviceaccounts/builder']);
    assert.equal(ext(cert, SIGSTORE_OID.issuer), `${dev.issuerUrl}/kubernetes`);
    assert.equal(ext(cert, SIGSTORE_OID.issuerV2), `${dev.issuerUrl}/kubernetes`);
    assert.equal(ext(cert, SIGSTORE_OID.buildSignerUri), undefined, 'no CI extensions for a workload identity');
    const text = opensslText(cert);
    assert.match(text, /URI:https:\/\/kubernetes\.io\/namespaces\/payments\/serviceaccounts\/builder/);
    assert.match(text, /1\.3\.6\.1\.4\.1\.57264\.1\.8:/);
  });

  test('SPIFFE: the SPIFFE ID is the SAN; a subject outside the trust domain is refused', async () => {
    const id = `spiffe://${DEV_SPIFFE_TRUST_DOMAIN}/ns/prod/sa/signer`;
    const cert = await certify('spiffe', { sub: id });
    assert.deepEqual(sanUris(cert), [`url:${id}`]);
    assert.equal(ext(cert, SIGSTORE_OID.issuerV2), `${dev.issuerUrl}/spiffe`);
    assert.match(opensslText(cert), new RegExp(`URI:${id.replace(/[.]/g, '\\.')}`));
    await assert.rejects(certify('spiffe', { sub: 'spiffe://evil.example/ns/prod' }), /not a SPIFFE ID in trust domain/);
  });

  test('GitLab CI: SAN https://<ci_config_ref_uri> and Fulcio\'s build and source extensions', async () => {
    const claims = {
      sub: 'project_path:acme/app:ref_type:branch:ref:main',
      project_path: 'acme/app',
      project_id: '42',
      namespace_path: 'acme',
      namespace_id: '7',
      pipeline_source: 'push',
      pipeline_id: '1001',
      ci_config_ref_uri: 'gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main',
      ci_config_sha: 'c0ffee',
      job_id: '9001',
      ref: 'main',
      ref_type: 'branch',
      sha: 'deadbeef',
      runner_environment: 'gitlab-hosted',
      runner_id: 12,
      project_visibility: 'private',
    };
    const cert = await certify('gitlab', claims);
    const san = 'https://gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main';
    assert.deepEqual(sanUris(cert), [`url:${san}`]);
    const expected: Array<[string, string]> = [
      [SIGSTORE_OID.issuerV2, `${dev.issuerUrl}/gitlab`],
      [SIGSTORE_OID.buildSignerUri, san],
      [SIGSTORE_OID.buildSignerDigest, 'c0ffee'],
      [SIGSTORE_OID.runnerEnvironment, 'gitlab-hosted'],
      [SIGSTORE_OID.sourceRepositoryUri, 'https://gitlab.com/acme/app'],
      [SIGSTORE_OID.sourceRepositoryDigest, 'deadbeef'],
      [SIGSTORE_OID.sourceRepositoryRef, 'refs/heads/main'],
      [SIGSTORE_OID.sourceRepositoryIdentifier, '42'],
      [SIGSTORE_OID.sourceRepositoryOwnerUri, 'https://gitlab.com/acme'],
      [SIGSTORE_OID.sourceRepositoryOwnerIdentifier, '7'],
      [SIGSTORE_OID.buildConfigUri, san],
      [SIGSTORE_OID.buildConfigDigest, 'c0ffee'],
      [SIGSTORE_OID.buildTrigger, 'push'],
      [SIGSTORE_OID.runInvocationUri, 'https://gitlab.com/acme/app/-/jobs/9001'],
      [SIGSTORE_OID.sourceRepositoryVisibilityAtSigning, 'private'],
    ];
    for (const [oid, value] of expected) assert.equal(ext(cert, oid), value, oid);
    assert.equal(ext((await certify('gitlab', { ...claims, ref: 'v1.2.0', ref_type: 'tag' })), SIGSTORE_OID.sourceRepositoryRef), 'refs/tags/v1.2.0');
    await assert.rejects(certify('gitlab', { ...claims, ref_type: 'merge_request' }), /ref_type "merge_request" is neither branch nor tag/);
    await assert.rejects(certify('gitlab', { sub: claims.sub }), /no "ci_config_ref_uri" claim/);
  });

  test('Buildkite: SAN https://buildkite.com/ORG/PIPELINE, the issuer extensions only; slugs are required', async () => {
    const claims = { sub: 'organization:acme:pipeline:app:ref:refs/heads/main:commit:abc:step:build', organization_slug: 'acme', pipeline_slug: 'app', build_number: 12, job_id: 'j-1' };
    const cert = await certify('buildkite', claims);
    assert.deepEqual(sanUris(cert), ['url:https://buildkite.com/acme/app']);
    assert.equal(ext(cert, SIGSTORE_OID.issuer), `${dev.issuerUrl}/buildkite`);
    assert.equal(ext(cert, SIGSTORE_OID.issuerV2), `${dev.issuerUrl}/buildkite`);
    assert.equal(ext(cert, SIGSTORE_OID.buildSignerUri), undefined);
    assert.match(opensslText(cert), /URI:https:\/\/buildkite\.com\/acme\/app/);
    await assert.rejects(certify('buildkite', { sub: 'x', organization_slug: 'acme' }), /no "pipeline_slug" claim/);
  });

  test('the typed issuers are their own issuers: discovery at each, tokens over HTTP, bad requests refused', async () => {
    for (const kind of ['kubernetes', 'spiffe', 'gitlab', 'buildkite']) {
      const d = (await (await fetch(`${host.url}/oidc/${kind}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
      assert.equal(d.issuer, `${dev.issuerUrl}/${kind}`);
      assert.equal(d.jwks_uri, `${dev.issuerUrl}/jwks`);
    }
    const post = (body: unknown) => fetch(`${host.url}/oidc/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const ok = await post({ kind: 'buildkite', claims: { sub: 's', organization_slug: 'o', pipeline_slug: 'p', iss: 'https://forged.example' } });
    assert.equal(ok.status, 200);
    const token = ((await ok.json()) as { id_token: string }).id_token;
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(payload.iss, `${dev.issuerUrl}/buildkite`, 'the issuer is not the caller\'s to choose');
    for (const bad of [{ kind: 'github', claims: { sub: 's' } }, { kind: 'spiffe', claims: {} }, { kind: 'spiffe', claims: 'x' }]) {
      const r = await post(bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
    }
  });

  test('signet dev token --kind K --claims JSON prints a typed token; misuse is one line, exit 2', async () => {
    const claims = { sub: 'system:serviceaccount:prod:builder', 'kubernetes.io': { namespace: 'prod', serviceaccount: { name: 'builder' } } };
    const r = await runCli(['dev', 'token', '--server', host.url, '--kind', 'kubernetes', '--claims', JSON.stringify(claims)]);
    assert.equal(r.code, 0, r.stderr);
    const payload = JSON.parse(Buffer.from(r.stdout.trim().split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(payload.iss, `${dev.issuerUrl}/kubernetes`);
    assert.deepEqual(payload['kubernetes.io'], claims['kubernetes.io']);
    for (const [args, message] of [
      [['--kind', 'kubernetes', '--claims', '{oops'], /--claims must be a JSON object/],
      [['--kind', 'kubernetes', '--email', 'a@example.com', '--claims', '{}'], /cannot be used together/],
      [['--claims', '{}', '--email', 'a@example.com'], /--claims needs --kind/],
      [[], /--email is required/],
      [['--kind', 'github', '--claims', '{"sub": "x"}'], /kind must be one of kubernetes, spiffe, gitlab, buildkite/],
    ] as Array<[string[], RegExp]>) {
      const bad = await runCli(['dev', 'token', '--server', host.url, ...args]);
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, message);
      assert.equal(bad.stderr.trim().split('\n').length, 1);
    }
  });
});
