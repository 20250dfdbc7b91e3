import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildSigningConfig,
  parseSigningConfig,
  publicGoodSigningConfig,
  selectServices,
  serializeSigningConfig,
  SIGNING_CONFIG_MEDIA_TYPE,
} from '../../src/sigstore/signing-config.js';
import { isSignetError } from '../../src/errors.js';

// The published public-good signing_config.v0.2.json (sigstore/root-signing), as protojson writes it.
const PUBLISHED = {
  mediaType: SIGNING_CONFIG_MEDIA_TYPE,
  caUrls: [{ url: 'https://fulcio.sigstore.dev', majorApiVersion: 1, validFor: { start: '2023-04-14T21:38:40Z' }, operator: 'sigstore.dev' }],
  oidcUrls: [{ url: 'https://oauth2.sigstore.dev/auth', majorApiVersion: 1, validFor: { start: '2025-04-16T00:00:00Z' }, operator: 'sigstore.dev' }],
  rekorTlogUrls: [
    { url: 'https://log2025-1.rekor.sigstore.dev', majorApiVersion: 2, validFor: { start: '2025-10-06T00:00:00Z' }, operator: 'sigstore.dev' },
    { url: 'https://rekor.sigstore.dev', majorApiVersion: 1, validFor: { start: '2021-01-12T11:53:27Z' }, operator: 'sigstore.dev' },
  ],
  tsaUrls: [{ url: 'https://timestamp.sigstore.dev/api/v1/timestamp', majorApiVersion: 1, validFor: { start: '2025-07-04T00:00:00Z' }, operator: 'sigstore.dev' }],
  rekorTlogConfig: { selector: 'ANY' },
  tsaConfig: { selector: 'ANY' },
};

const svc = (url: string, major: number, start: string, operator: string, end?: string) => ({
  url,
  majorApiVersion: major,
  validFor: end ? { start, end } : { start },
  operator,
});
const cfg = (over: Record<string, unknown>) => JSON.stringify({ ...PUBLISHED, ...over });
const malformed = (input: string, re: RegExp) => assert.throws(() => parseSigningConfig(input), (e) => isSignetError(e, 'MALFORMED') && re.test(e.message));

describe('signing config: parse', () => {
  it('parses the published config and round-trips it', () => {
    const c = parseSigningConfig(JSON.stringify(PUBLISHED));
    assert.equal(c.rekorTlogUrls.length, 2);
    assert.equal(c.rekorTlogUrls[0]!.validFor.start.toISOString(), '2025-10-06T00:00:00.000Z');
    const again = parseSigningConfig(serializeSigningConfig(c));
    assert.deepEqual(again, c);
  });

  it('refuses unknown fields, wrong media type, bad URLs, dates and selectors', () => {
    malformed('{', /not valid JSON/);
    malformed(cfg({ mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.1+json' }), /media type/);
    malformed(cfg({ extra: 1 }), /unknown field "extra"/);
    malformed(cfg({ caUrls: [{ ...PUBLISHED.caUrls[0], foo: 1 }] }), /unknown field "foo" in caUrls\[0\]/);
    malformed(cfg({ caUrls: [svc('fulcio.sigstore.dev', 1, '2023-01-01T00:00:00Z', 'x')] }), /caUrls\[0\].url .* is not a URL/);
    malformed(cfg({ caUrls: [svc('ftp://x', 1, '2023-01-01T00:00:00Z', 'x')] }), /not an http\(s\) URL/);
    malformed(cfg({ caUrls: [svc('https://x', 1, '2023-01-01', 'x')] }), /validFor.start is not an RFC 3339/);
    malformed(cfg({ caUrls: [svc('https://x', 1, '2023-01-02T00:00:00Z', 'x', '2023-01-01T00:00:00Z')] }), /ends before it starts/);
    malformed(cfg({ caUrls: [{ url: 'https://x', majorApiVersion: 1, operator: 'x' }] }), /validFor is not an object/);
    malformed(cfg({ caUrls: [{ url: 'https://x', validFor: { start: '2023-01-01T00:00:00Z' } }] }), /majorApiVersion is missing/);
    malformed(cfg({ caUrls: [svc('https://x', 1.5, '2023-01-01T00:00:00Z', 'x')] }), /not an unsigned integer/);
    malformed(cfg({ caUrls: {} }), /caUrls is not a list/);
    malformed(cfg({ rekorTlogConfig: { selector: 'SOME' } }), /selector "SOME"/);
    malformed(cfg({ rekorTlogConfig: { selector: 'EXACT' } }), /count must be a positive integer/);
    malformed(cfg({ tsaConfig: { selector: 'EXACT', count: 0 } }), /count must be a positive integer/);
    malformed(cfg({ tsaConfig: { selector: 'ANY', count: 2 } }), /only allowed with EXACT/);
  });
});

describe('signing config: select', () => {
  const now = new Date('2026-01-01T00:00:00Z');

  it('prefers the highest supported Rekor version that is valid now', () => {
    const s = selectServices(parseSigningConfig(JSON.stringify(PUBLISHED)), now);
    assert.equal(s.ca, 'https://fulcio.sigstore.dev');
    assert.equal(s.oidc, 'https://oauth2.sigstore.dev/auth');
    assert.deepEqual(s.tlogs, [{ url: 'https://log2025-1.rekor.sigstore.dev', majorApiVersion: 2 }]);
    assert.deepEqual(s.tsas, ['https://timestamp.sigstore.dev/api/v1/timestamp']);
    // Before the v2 shard starts, v1 is used; a signer restricted to v1 never sees v2.
    assert.deepEqual(selectServices(parseSigningConfig(JSON.stringify(PUBLISHED)), new Date('2025-09-01T00:00:00Z')).tlogs, [{ url: 'https://rekor.sigstore.dev', majorApiVersion: 1 }]);
    assert.deepEqual(selectServices(parseSigningConfig(JSON.stringify(PUBLISHED)), now, { rekorVersions: [1] }).tlogs[0]!.majorApiVersion, 1);
  });

  it('skips expired, future and unsupported entries; newest start wins', () => {
    const c = parseSigningConfig(
      cfg({
        caUrls: [
          svc('https://ca-old', 1, '2020-01-01T00:00:00Z', 'a'),
          svc('https://ca-new', 1, '2024-01-01T00:00:00Z', 'a'),
          svc('https://ca-expired', 1, '2025-01-01T00:00:00Z', 'a', '2025-06-01T00:00:00Z'),
          svc('https://ca-future', 1, '2027-01-01T00:00:00Z', 'a'),
          svc('https://ca-v2', 2, '2025-12-01T00:00:00Z', 'a'),
        ],
        tsaUrls: [svc('https://tsa-v3', 3, '2024-01-01T00:00:00Z', 'a'), svc('https://tsa-gone', 1, '2020-01-01T00:00:00Z', 'a', '2021-01-01T00:00:00Z')],
      }),
    );
    const s = selectServices(c, now);
    assert.equal(s.ca, 'https://ca-new');
    assert.deepEqual(s.tsas, []);
  });

  it('applies ALL, ANY and EXACT over distinct operators', () => {
    const logs = [
      svc('https://l1', 1, '2024-01-01T00:00:00Z', 'op1'),
      svc('https://l1b', 1, '2024-06-01T00:00:00Z', 'op1'),
      svc('https://l2', 1, '2023-01-01T00:00:00Z', 'op2'),
      svc('https://l3', 1, '2022-01-01T00:00:00Z', 'op3'),
    ];
    const pick = (sel: Record<string, unknown>) => selectServices(parseSigningConfig(cfg({ rekorTlogUrls: logs, rekorTlogConfig: sel })), now).tlogs.map((t) => t.url);
    assert.deepEqual(pick({ selector: 'ALL' }), ['https://l1b', 'https://l2', 'https://l3']);
    assert.deepEqual(pick({ selector: 'ANY' }), ['https://l1b']);
    assert.deepEqual(pick({ selector: 'EXACT', count: 2 }), ['https://l1b', 'https://l2']);
    assert.throws(() => pick({ selector: 'EXACT', count: 4 }), (e) => isSignetError(e, 'MALFORMED') && /exactly 4 transparency logs .* only 3 are usable/.test(e.message));
  });
});

describe('signing config: build and defaults', () => {
  it('builds a config the parser and selector accept', () => {
    const start = new Date('2025-01-01T00:00:00Z');
    const c = buildSigningConfig({ caUrl: 'http://127.0.0.1:8080/', oidcUrl: 'http://127.0.0.1:8080/oidc', rekorUrl: 'http://127.0.0.1:8080', rekorVersion: 2, tsaUrl: 'http://127.0.0.1:8080/api/v1/timestamp', start });
    const again = parseSigningConfig(serializeSigningConfig(c));
    const s = selectServices(again, new Date('2025-02-01T00:00:00Z'));
    assert.equal(s.ca, 'http://127.0.0.1:8080');
    assert.equal(s.oidc, 'http://127.0.0.1:8080/oidc');
    assert.deepEqual(s.tlogs, [{ url: 'http://127.0.0.1:8080', majorApiVersion: 2 }]);
    assert.deepEqual(s.tsas, ['http://127.0.0.1:8080/api/v1/timestamp']);
    assert.throws(() => buildSigningConfig({ caUrl: 'nope', rekorUrl: 'http://x', rekorVersion: 1, start }), (e) => isSignetError(e, 'USAGE'));
    assert.throws(() => buildSigningConfig({ caUrl: 'http://x', rekorUrl: 'http://x', rekorVersion: 3 as 1, start }), (e) => isSignetError(e, 'USAGE'));
  });

  it('has a public-good default that selects all four services', () => {
    const s = selectServices(parseSigningConfig(serializeSigningConfig(publicGoodSigningConfig())));
    assert.equal(s.ca, 'https://fulcio.sigstore.dev');
    assert.equal(s.oidc, 'https://oauth2.sigstore.dev/auth');
    assert.deepEqual(s.tlogs, [{ url: 'https://rekor.sigstore.dev', majorApiVersion: 1 }]);
    assert.deepEqual(s.tsas, ['https://timestamp.sigstore.dev/api/v1/timestamp']);
  });
});
