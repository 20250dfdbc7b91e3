import { test } from 'node:test';
import assert from 'node:assert/strict';
import { x509 } from '../../src/server/ca/x509.js';
import { certificateIdentity, checkIdentity, validateIdentityPolicy } from '../../src/sigstore/identity.js';
import { codeSigningEku, makeChain, makeLeaf, publicGoodCases, rawExt, utf8Ext } from './certificate-fixtures.js';
import { throwsCode } from '../helpers/assert.js';

const [email, github] = publicGoodCases as [(typeof publicGoodCases)[0], (typeof publicGoodCases)[0]];

test('identities of public-good leaves', () => {
  const e = certificateIdentity(email.leaf);
  assert.deepEqual(e.sans, [{ type: 'email', value: 'cody@soyland.com' }]);
  assert.equal(e.subject, 'cody@soyland.com');
  assert.equal(e.issuer, 'https://github.com/login/oauth');
  assert.deepEqual(e.extensions, {});

  const g = certificateIdentity(github.leaf);
  assert.deepEqual(g.sans, [{ type: 'uri', value: github.identity }]);
  assert.equal(g.issuer, 'https://token.actions.githubusercontent.com');
  assert.equal(g.extensions.githubWorkflowTrigger, 'workflow_dispatch');
  assert.equal(g.extensions.githubWorkflowRepository, 'sigstore-conformance/extremely-dangerous-public-oidc-beacon');
  assert.equal(g.extensions.githubWorkflowRef, 'refs/heads/main');
  assert.equal(g.extensions.githubWorkflowSha, 'af785b6d3b0fa0c0aa1305faee7ce6036e8d90c4');
  assert.equal(g.extensions.githubWorkflowName, 'Extremely dangerous OIDC beacon');
  assert.equal(g.extensions.runnerEnvironment, 'github-hosted');
  assert.equal(g.extensions.sourceRepositoryIdentifier, '632596897');
  assert.equal(g.extensions.runInvocationUri, 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/actions/runs/5282265650/attempts/1');
});

test('exact identity and issuer', () => {
  for (const c of publicGoodCases) checkIdentity(certificateIdentity(c.leaf), { identity: c.identity, issuer: c.issuer });
  const id = certificateIdentity(email.leaf);
  throwsCode(() => checkIdentity(id, { identity: 'mallory@soyland.com', issuer: email.issuer }), 'VERIFICATION', /^certificate identity "cody@soyland.com" does not match "mallory@soyland.com"$/);
  throwsCode(() => checkIdentity(id, { identity: 'CODY@soyland.com', issuer: email.issuer }), 'VERIFICATION', /does not match/);
  throwsCode(() => checkIdentity(id, { identity: 'cody@soyland.co', issuer: email.issuer }), 'VERIFICATION', /does not match/);
  throwsCode(
    () => checkIdentity(id, { identity: email.identity, issuer: 'https://accounts.google.com' }),
    'VERIFICATION',
    /^certificate OIDC issuer "https:\/\/github.com\/login\/oauth" does not match "https:\/\/accounts.google.com"$/,
  );
});

test('regexps are unanchored, as Go RE2 MatchString', () => {
  const id = certificateIdentity(email.leaf);
  checkIdentity(id, { identityRegexp: '@soyland\\.com', issuerRegexp: 'github' });
  checkIdentity(id, { identityRegexp: '^cody@soyland\\.com$', issuerRegexp: '^https://github\\.com/login/oauth$' });
  throwsCode(() => checkIdentity(id, { identityRegexp: '^alice@', issuer: email.issuer }), 'VERIFICATION', /does not match the regular expression "\^alice@"/);
  throwsCode(() => checkIdentity(id, { identity: email.identity, issuerRegexp: 'google' }), 'VERIFICATION', /OIDC issuer .* does not match the regular expression "google"/);
  // Exact and regexp together: either may match.
  checkIdentity(id, { identity: 'nobody@example.com', identityRegexp: 'cody', issuer: email.issuer });
});

test('keyless policy needs an identity and an issuer; bad regexps are usage errors', () => {
  const id = certificateIdentity(email.leaf);
  throwsCode(() => checkIdentity(id, { issuer: email.issuer }), 'USAGE', /--certificate-identity or --certificate-identity-regexp is required/);
  throwsCode(() => checkIdentity(id, { identity: email.identity }), 'USAGE', /--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required/);
  throwsCode(() => checkIdentity(id, {}), 'USAGE', /required/);
  throwsCode(() => validateIdentityPolicy({ identityRegexp: '(', issuer: 'x' }), 'USAGE', /--certificate-identity-regexp: invalid regular expression/);
  throwsCode(() => validateIdentityPolicy({ identity: 'x', issuerRegexp: '(?P<n>x)' }), 'USAGE', /RE2 syntax/);
});

test('GitHub workflow claims are compared exactly', () => {
  const id = certificateIdentity(github.leaf);
  const base = { identity: github.identity, issuer: github.issuer };
  checkIdentity(id, {
    ...base,
    githubWorkflowTrigger: 'workflow_dispatch',
    githubWorkflowSha: 'af785b6d3b0fa0c0aa1305faee7ce6036e8d90c4',
    githubWorkflowName: 'Extremely dangerous OIDC beacon',
    githubWorkflowRepository: 'sigstore-conformance/extremely-dangerous-public-oidc-beacon',
    githubWorkflowRef: 'refs/heads/main',
  });
  throwsCode(() => checkIdentity(id, { ...base, githubWorkflowTrigger: 'push' }), 'VERIFICATION', /^certificate GitHub workflow trigger "workflow_dispatch" does not match "push"$/);
  throwsCode(() => checkIdentity(id, { ...base, githubWorkflowRef: 'refs/heads/mai' }), 'VERIFICATION', /GitHub workflow ref "refs\/heads\/main" does not match/);
  throwsCode(
    () => checkIdentity(certificateIdentity(email.leaf), { identity: email.identity, issuer: email.issuer, githubWorkflowRepository: 'a/b' }),
    'VERIFICATION',
    /^certificate has no GitHub workflow repository, expected "a\/b"$/,
  );
});

test('issuer falls back to the deprecated raw 1.1 extension; username otherName SAN; no issuer at all', async () => {
  const chain = await makeChain();
  // otherName 1.3.6.1.4.1.57264.1.7 with [0] EXPLICIT UTF8String "alice!example.com", built as DER by hand.
  const name = Buffer.from('alice!example.com');
  const oid = Buffer.from([0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x07]);
  const utf = Buffer.concat([Buffer.from([0x0c, name.length]), name]);
  const explicit = Buffer.concat([Buffer.from([0xa0, utf.length]), utf]);
  const other = Buffer.concat([Buffer.from([0xa0, oid.length + explicit.length]), oid, explicit]);
  const san = new x509.Extension('2.5.29.17', true, Buffer.concat([Buffer.from([0x30, other.length]), other]));
  const leaf = await makeLeaf(chain, [codeSigningEku(), san, rawExt('1.3.6.1.4.1.57264.1.1', 'https://legacy.test')]);
  const id = certificateIdentity(leaf);
  assert.deepEqual(id.sans, [{ type: 'username', value: 'alice!example.com' }]);
  assert.equal(id.issuer, 'https://legacy.test');
  checkIdentity(id, { identity: 'alice!example.com', issuer: 'https://legacy.test' });

  const both = await makeLeaf(chain, [codeSigningEku(), san, rawExt('1.3.6.1.4.1.57264.1.1', 'https://old.test'), utf8Ext('1.3.6.1.4.1.57264.1.8', 'https://new.test')]);
  assert.equal(certificateIdentity(both).issuer, 'https://new.test');

  const none = await makeLeaf(chain, [codeSigningEku(), san]);
  throwsCode(() => checkIdentity(certificateIdentity(none), { identity: 'alice!example.com', issuer: 'x' }), 'VERIFICATION', /^certificate has no OIDC issuer extension, expected "x" \(a certificate from your own CA/);
  // cosign matches the missing issuer as "": a regexp that accepts it (private PKI's '.*') passes, others do not.
  checkIdentity(certificateIdentity(none), { identity: 'alice!example.com', issuerRegexp: '.*' });
  throwsCode(() => checkIdentity(certificateIdentity(none), { identity: 'alice!example.com', issuerRegexp: '.+' }), 'VERIFICATION', /no OIDC issuer extension/);

  const badIssuer = await makeLeaf(chain, [codeSigningEku(), san, rawExt('1.3.6.1.4.1.57264.1.8', 'not DER')]);
  throwsCode(() => certificateIdentity(badIssuer), 'MALFORMED', /^certificate OIDC issuer \(1\.3\.6\.1\.4\.1\.57264\.1\.8\) (is truncated|is not a DER UTF8String)/);
});

test('SANs read in place agree with the schema decoder', async () => {
  const { AsnConvert } = await import('@peculiar/asn1-schema');
  const { SubjectAlternativeName } = await import('@peculiar/asn1-x509');
  // The reference: the @peculiar/asn1-x509 schema, mapped as identity.ts used to map it.
  const reference = (der: Buffer) => {
    const ext = parseSan(der);
    if (!ext) return [];
    const out: { type: string; value: string }[] = [];
    for (const n of AsnConvert.parse(ext, SubjectAlternativeName)) {
      if (n.rfc822Name !== undefined) out.push({ type: 'email', value: n.rfc822Name });
      else if (n.uniformResourceIdentifier !== undefined) out.push({ type: 'uri', value: n.uniformResourceIdentifier });
      else if (n.dNSName !== undefined) out.push({ type: 'dns', value: n.dNSName });
      else if (n.iPAddress !== undefined) out.push({ type: 'ip', value: n.iPAddress });
      else if (n.otherName) {
        const v = Buffer.from(n.otherName.value);
        if (v[0] === 0x0c) out.push({ type: n.otherName.typeId === '1.3.6.1.4.1.57264.1.7' ? 'username' : 'otherName', value: v.subarray(2).toString('utf8') });
      }
    }
    return out;
  };
  const parseSan = (der: Buffer): Buffer | undefined => {
    const e = new x509.X509Certificate(der).getExtension('2.5.29.17');
    return e ? Buffer.from(e.value) : undefined;
  };
  const chain = await makeChain();
  const sanOf = (names: { type: string; value: string }[]) => new x509.SubjectAlternativeNameExtension(names as never, true);
  const leaves: Buffer[] = publicGoodCases.map((c) => c.leaf);
  for (const names of [
    [{ type: 'email', value: 'a@example.com' }, { type: 'dns', value: 'host.example' }],
    [{ type: 'url', value: 'https://github.com/o/r/.github/workflows/w.yml@refs/heads/main' }],
    [{ type: 'ip', value: '192.0.2.7' }, { type: 'ip', value: '2001:db8::1' }, { type: 'ip', value: '2001:db8:0:1:0:0:0:1' }, { type: 'ip', value: '::' }, { type: 'ip', value: '1:0:2:0:3:0:4:5' }],
    [{ type: 'upn', value: 'alice@corp.example' }, { type: 'dn', value: 'CN=x' }, { type: 'id', value: '1.2.3.4' }, { type: 'email', value: 'b@example.com' }],
  ]) {
    leaves.push(await makeLeaf(chain, [codeSigningEku(), sanOf(names)]));
  }
  for (const der of leaves) assert.deepEqual(certificateIdentity(der).sans, reference(der));
  assert.deepEqual(
    certificateIdentity(leaves.at(-2)!).sans.map((s) => s.value),
    ['192.0.2.7', '2001:db8::1', '2001:db8:0:1::1', '::', '1:0:2:0:3:0:4:5'],
  );
  assert.deepEqual(certificateIdentity(leaves.at(-1)!).sans, [{ type: 'otherName', value: 'alice@corp.example' }, { type: 'email', value: 'b@example.com' }]);

  // Malformed SAN values are refused.
  for (const v of [[0x30, 0x03, 0x81, 0x01], [0x31, 0x00], [0x30, 0x02, 0x89, 0x00], [0x30, 0x03, 0x87, 0x01, 0x01], [0x30, 0x02, 0x81, 0x00, 0x00], [0x30, 0x04, 0xa0, 0x02, 0x06, 0x00]]) {
    const leaf = await makeLeaf(chain, [codeSigningEku(), new x509.Extension('2.5.29.17', true, Buffer.from(v))]);
    throwsCode(() => certificateIdentity(leaf), 'MALFORMED', /subject alternative name|IP address SAN/);
  }
});
