/**
 * The log explorer in a real browser (Debian's chromium driven by playwright-core) against a real
 * `signet serve` log holding hashedrekord, dsse and intoto entries signed with a key and keyless: every
 * way of searching, the entry pages with the inclusion proof checked in the page, the log state, bad
 * input, phone widths, and a proxy that tampers with the proof or the checkpoint, which the page must
 * flag. Also the assets' headers (content types, cache, CSP) and the two explorer endpoints.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { BrowserContext, Page } from 'playwright-core';
import { startServer } from '../../../src/server/serve.js';
import { ecKey, hashedRekordV1 } from '../../rekor/fixtures.js';
import { EMAIL, type ExplorerLog, launchBrowser, startExplorerLog } from './fixture.js';

// Functions passed to page.evaluate run in the browser, where these exist (this project compiles without the DOM lib).
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const location: { hash: string };

const EXTRA = 12; // keyed hashedrekord entries beyond the six: the key's search has two pages

let log: ExplorerLog;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let context: BrowserContext;
const pageErrors: string[] = [];
const foreignRequests: string[] = [];

before(async () => {
  log = await startExplorerLog(EXTRA);
  browser = await launchBrowser();
  context = browser.context;
});
after(async () => {
  await browser?.close();
  await log?.close();
});

async function open(base: string, hash: string, ctx: BrowserContext = context): Promise<Page> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('request', (r) => {
    if (!r.url().startsWith(base + '/') && !r.url().startsWith('data:')) foreignRequests.push(r.url());
  });
  await page.goto(`${base}/${hash}`);
  await page.waitForFunction(() => document.body.dataset.ready !== undefined);
  return page;
}

/** Navigates within the page and waits for that navigation's render to finish. */
async function go(page: Page, hash: string): Promise<void> {
  const before = await page.evaluate(() => Number(document.body.dataset.ready));
  await page.evaluate((h) => (location.hash = h), hash);
  await page.waitForFunction((n) => Number(document.body.dataset.ready) > n, before);
}

/** Runs an action that navigates (a submitted search, a chosen file) and waits for that page's render. */
async function navigating(page: Page, action: () => Promise<void>): Promise<void> {
  const before = await page.evaluate(() => Number(document.body.dataset.ready));
  await action();
  await page.waitForFunction((n) => Number(document.body.dataset.ready) > n, before);
}

const rows = (page: Page): Promise<string[]> => page.locator('table.results tbody tr').allInnerTexts();
const rowIndexes = async (page: Page): Promise<number[]> => (await page.locator('table.results tbody tr td:first-child').allInnerTexts()).map(Number);
const verdict = async (page: Page): Promise<{ state: string | null; text: string }> => {
  await page.waitForFunction(() => document.getElementById('verdict')?.dataset.state !== 'pending');
  return { state: await page.getAttribute('#verdict', 'data-state'), text: await page.innerText('#verdict') };
};

describe('explorer assets and endpoints', () => {
  it('/ is the page: HTML, revalidated by ETag, with a CSP that allows nothing from elsewhere; assets are versioned and immutable', async () => {
    const r = await fetch(log.srv.url + '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    const csp = r.headers.get('content-security-policy') ?? '';
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(d), `${d} in ${csp}`);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    const html = await r.text();
    const etag = r.headers.get('etag')!;
    assert.equal((await fetch(log.srv.url + '/', { headers: { 'if-none-match': etag } })).status, 304);
    assert.doesNotMatch(html, /(?:src|href)="(?:https?:)?\/\//);
    const base = /src="(\/explorer\/[0-9a-f]{16})\/app\.js"/.exec(html)?.[1];
    assert.ok(base, html);
    for (const [name, type] of [
      ['app.js', 'text/javascript; charset=utf-8'],
      ['der.js', 'text/javascript; charset=utf-8'],
      ['proof.js', 'text/javascript; charset=utf-8'],
      ['style.css', 'text/css; charset=utf-8'],
    ]) {
      const a = await fetch(`${log.srv.url}${base}/${name}`);
      assert.equal(a.status, 200, name);
      assert.equal(a.headers.get('content-type'), type, name);
      assert.equal(a.headers.get('cache-control'), 'public, max-age=31536000, immutable', name);
      const text = await a.text();
      assert.doesNotMatch(text, /from ['"](?:https?:)?\/\/|import\(['"](?:https?:)?\/\/|url\((?:['"])?(?:https?:)?\/\//, name);
      assert.equal((await fetch(`${log.srv.url}${base}/${name}`, { headers: { 'if-none-match': a.headers.get('etag')! } })).status, 304, name);
    }
    const stale = await fetch(`${log.srv.url}/explorer/0000000000000000/app.js`);
    assert.equal(stale.status, 404);
    assert.match(((await stale.json()) as { message: string }).message, /no such explorer asset/);
    assert.equal((await fetch(`${log.srv.url}${base}/nothing.js`)).status, 404);
  });

  it('stats count the entries; a key fingerprint finds its entries; a bad fingerprint is a 400 with a reason', async () => {
    const stats = (await (await fetch(log.srv.url + '/api/explorer/v1/stats')).json()) as { treeSize: number; entriesPerMinute: { lastMinute: number; lastHour: number } };
    assert.equal(stats.treeSize, 6 + EXTRA);
    assert.equal(stats.entriesPerMinute.lastHour * 60, 6 + EXTRA);
    assert.ok(stats.entriesPerMinute.lastMinute <= 6 + EXTRA);
    const fp = createHash('sha256').update(log.key.pem).digest('hex');
    const ids = (await (await fetch(`${log.srv.url}/api/explorer/v1/fingerprint/${fp}`)).json()) as string[];
    assert.equal(ids.length, 3 + EXTRA);
    assert.ok(ids.every((id) => /^[0-9a-f]{80}$/.test(id)));
    const bad = await fetch(`${log.srv.url}/api/explorer/v1/fingerprint/xyz`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /64 hex digits/);
  });
});

describe('explorer in the browser', () => {
  it('the home page shows the tree size, the entry rate and the recent entries; the log page verifies the checkpoint', async () => {
    const page = await open(log.srv.url, '');
    assert.match(await page.innerText('#stats'), new RegExp(`Tree size\\s+${6 + EXTRA}`));
    assert.equal((await rows(page)).length, 10);
    await go(page, '#/log');
    await page.waitForFunction(() => !document.getElementById('checkpoint-state')?.classList.contains('pending'));
    assert.match(await page.innerText('#checkpoint-state'), /Checkpoint signature VERIFIED/);
    assert.equal((await rows(page)).length, 6 + EXTRA);
    await page.close();
  });

  it('search by artifact hash, typed and sent with the keyboard; the entry page verifies the proof and shows the key', async () => {
    const page = await open(log.srv.url, '');
    await page.focus('#q');
    await page.keyboard.type(log.artifactSha256);
    await navigating(page, () => page.keyboard.press('Enter'));
    assert.deepEqual(await rowIndexes(page), [log.indexes.keyedHashedrekord]);
    assert.match(page.url(), new RegExp(`#/search\\?q=${log.artifactSha256}&type=auto`));
    await navigating(page, () => page.click('table.results tbody a'));
    // Keyboard and screen-reader users land on the new page's heading.
    await page.waitForFunction(() => document.activeElement?.tagName === 'H1');
    const v = await verdict(page);
    assert.equal(v.state, 'verified', v.text);
    assert.match(v.text, /Inclusion proof VERIFIED/);
    const text = await page.innerText('main');
    assert.match(text, /hashedrekord 0\.0\.1/);
    assert.match(text, new RegExp(`Artifact digest\\s+sha256:${log.artifactSha256}`));
    assert.match(text, /Public key\s+ECDSA P-256/);
    assert.ok(text.includes(createHash('sha256').update(log.key.pem).digest('hex')), 'key fingerprint shown');
    assert.ok(text.includes(log.key.pem.trim()), 'key PEM shown');
    await page.close();
  });

  it('search by a file chosen in the page: hashed there, the hash in the URL', async () => {
    const page = await open(log.srv.url, '');
    await navigating(page, () => page.setInputFiles('#file', { name: 'artifact.txt', mimeType: 'text/plain', buffer: log.artifact }));
    assert.deepEqual(await rowIndexes(page), [log.indexes.keyedHashedrekord]);
    assert.ok(page.url().includes(`q=${log.artifactSha256}&type=hash`));
    await page.close();
  });

  it('search by email finds the keyless hashedrekord, dsse and intoto entries; each entry page shows the certificate and verifies', async () => {
    const page = await open(log.srv.url, `#/search?q=${encodeURIComponent(EMAIL)}&type=email`);
    const found = await rows(page);
    assert.deepEqual(await rowIndexes(page), [log.indexes.keylessIntoto, log.indexes.keylessDsse, log.indexes.keylessHashedrekord].sort((a, b) => b - a));
    assert.ok(found.every((r) => r.includes(EMAIL)));
    for (const [kind, index] of [
      ['hashedrekord 0.0.1', log.indexes.keylessHashedrekord],
      ['dsse 0.0.1', log.indexes.keylessDsse],
      ['intoto 0.0.2', log.indexes.keylessIntoto],
    ] as const) {
      await go(page, `#/index/${index}`);
      const v = await verdict(page);
      assert.equal(v.state, 'verified', `${kind}: ${v.text}`);
      const text = await page.innerText('main');
      assert.match(text, new RegExp(`Entry ${index}: ${kind}`));
      assert.match(text, new RegExp(`Identity\\s+${EMAIL}`));
      assert.match(text, new RegExp(`OIDC issuer\\s+${log.srv.url}/oidc`));
      assert.match(text, /Signing certificate/);
      assert.match(text, new RegExp(`SAN \\(email\\)\\s+${EMAIL}`));
      assert.match(text, /At integrated time\s+within the validity period/);
      assert.match(text, /Issuer\s+\S.*\(1\.3\.6\.1\.4\.1\.57264\.1\.8\)/);
      if (kind === 'intoto 0.0.2') {
        // This entry carries the whole chain (as sigstore-js's intoto entries do); cosign's carry the leaf.
        assert.match(text, /Chain certificate 2 \(CA\)/);
        assert.match(text, /DSSE payload type\s+application\/vnd\.in-toto\+json/);
      }
    }
    await page.close();
  });

  it('search by an in-toto subject digest finds the dsse and intoto entries; a statement checked against the logged hash shows its subject and predicate type', async () => {
    const page = await open(log.srv.url, `#/search?q=${log.subjectSha256}&type=hash`);
    assert.deepEqual(
      (await rowIndexes(page)).sort((a, b) => a - b),
      [log.indexes.keyedDsse, log.indexes.keyedIntoto, log.indexes.keylessDsse, log.indexes.keylessIntoto].sort((a, b) => a - b),
    );
    await go(page, `#/index/${log.indexes.keyedDsse}`);
    assert.equal((await verdict(page)).state, 'verified');
    await page.setInputFiles('#statement-file', { name: 'other.json', mimeType: 'application/json', buffer: Buffer.from('{"_type":"x"}') });
    await page.waitForSelector('#statement .error');
    assert.match(await page.innerText('#statement'), /does not hold this entry's payload/);
    await page.setInputFiles('#statement-file', { name: 'statement.json', mimeType: 'application/json', buffer: log.statements.keyedDsse });
    await page.waitForSelector('#statement .verdict.ok');
    const text = await page.innerText('#statement');
    assert.match(text, /Predicate type\s+https:\/\/example\.com\/keyed-dsse\/v1/);
    assert.ok(text.includes(`sha256:${log.subjectSha256}`));
    await page.close();
  });

  it('search by a pasted PEM key pages through its entries; the key fingerprint finds the same entries', async () => {
    const page = await open(log.srv.url, '');
    await page.fill('#q', log.key.pem);
    await navigating(page, () => page.click('button[type=submit]'));
    assert.match(await page.innerText('table.results caption'), new RegExp(`Entries 1–10 of ${3 + EXTRA}, newest first`));
    assert.equal((await rows(page)).length, 10);
    await navigating(page, () => page.click('a[rel=next]'));
    assert.equal((await rows(page)).length, 3 + EXTRA - 10);
    assert.match(page.url(), /page=2/);
    assert.ok((await rowIndexes(page)).includes(log.indexes.keyedHashedrekord));
    const fp = createHash('sha256').update(log.key.pem).digest('hex');
    await go(page, `#/search?q=${fp}&type=fingerprint`);
    assert.match(await page.innerText('table.results caption'), new RegExp(`of ${3 + EXTRA},`));
    await page.close();
  });

  it('search by log index, UUID and entry ID; entry links by ID', async () => {
    const page = await open(log.srv.url, `#/search?q=${log.indexes.keyedIntoto}`);
    assert.deepEqual(await rowIndexes(page), [log.indexes.keyedIntoto]);
    const href = (await page.getAttribute('table.results tbody a', 'href'))!;
    const id = decodeURIComponent(href.replace('#/entry/', ''));
    assert.match(id, /^[0-9a-f]{80}$/);
    await go(page, `#/search?q=${id.slice(16)}`);
    assert.deepEqual(await rowIndexes(page), [log.indexes.keyedIntoto]);
    await go(page, `#/search?q=${id}&type=uuid`);
    assert.deepEqual(await rowIndexes(page), [log.indexes.keyedIntoto]);
    await go(page, href);
    const v = await verdict(page);
    assert.equal(v.state, 'verified', v.text);
    assert.match(await page.innerText('main'), /intoto 0\.0\.2/);
    await page.close();
  });

  it('bad input gets a clear message, never a crash', async () => {
    const page = await open(log.srv.url, '');
    await page.click('button[type=submit]');
    assert.match(await page.innerText('#search-error'), /Enter something to search for/);
    for (const [q, type, want] of [
      ['hello world', 'auto', /Cannot tell what "hello world" is/],
      ['abc', 'index', /A log index is a whole number/],
      ['12345678901234567890', 'index', /A log index is a whole number/],
      ['abcd', 'hash', /An artifact hash is 64 hex digits/],
      ['abcdef0123456789abcdef', 'auto', /neither a SHA-256 hash or UUID/],
      ['-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----', 'key', /does not decode/],
      ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', 'key', /the log refused the query: publicKey\.content/],
      ['not a pem', 'key', /Paste a PEM public key/],
      ['9999999', 'auto', /No entries found/],
      ['a'.repeat(64), 'auto', /No entries found/],
      ['x', 'nonsense', /Unknown search type/],
    ] as const) {
      await go(page, `#/search?${new URLSearchParams({ q, type })}`);
      assert.match(await page.innerText('#results'), want, `${type}: ${q}`);
    }
    await go(page, `#/search?q=${encodeURIComponent(EMAIL)}&type=email&page=9`);
    assert.match(await page.innerText('#results'), /only 1 page/);
    await go(page, '#/entry/zz');
    assert.match(await page.innerText('main'), /An entry UUID is 64 hex digits/);
    await go(page, `#/entry/${'b'.repeat(64)}`);
    assert.match(await page.innerText('main'), /not found: no entry with UUID/);
    await go(page, '#/index/99999');
    assert.match(await page.innerText('main'), /not found: no entry at log index 99999/);
    await go(page, '#/nowhere');
    assert.match(await page.innerText('main'), /There is no page \/nowhere here/);
    assert.deepEqual(pageErrors, []);
    await page.close();
  });

  it('readable at a phone width: nothing wider than the screen', async () => {
    const phone = await launchBrowser({ width: 390, height: 844 });
    try {
      for (const hash of ['', `#/search?q=${encodeURIComponent(EMAIL)}&type=email`, `#/index/${log.indexes.keylessHashedrekord}`, '#/log']) {
        const page = await open(log.srv.url, hash, phone.context);
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(width <= 390, `${hash || '/'}: ${width}px wide`);
        await page.close();
      }
    } finally {
      await phone.close();
    }
  });

  it('the page loads nothing from anywhere but the log', () => {
    assert.deepEqual(foreignRequests, []);
  });
});

describe('signet serve (the CLI)', () => {
  it('names the explorer\'s URL on start, and serves it from the files the package ships', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signet-explorer-cli-'));
    const main = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
    const child = spawn(process.execPath, [main, 'serve', '--data-dir', dir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      child.stdout.resume();
      const url = await new Promise<string>((res, rej) => {
        let err = '';
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /Log explorer \(search, entries, proofs checked in the browser\) at (http:\/\/\S+)\//.exec(err);
          if (m) res(m[1]!);
        });
        child.once('exit', (code) => rej(new Error(`signet serve exited with ${code}: ${err}`)));
      });
      const r = await fetch(url + '/');
      assert.equal(r.status, 200);
      assert.match(await r.text(), /<title>Signet transparency log explorer<\/title>/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('explorer on a log with an Ed25519 key', () => {
  it('the page verifies the Ed25519-signed checkpoint (C2SP key ID) with WebCrypto', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signet-explorer-ed-'));
    const srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false, logKey: generateKeyPairSync('ed25519').privateKey });
    try {
      const r = await fetch(srv.url + '/api/v1/log/entries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hashedRekordV1(ecKey())) });
      assert.equal(r.status, 201);
      await fetch(srv.url + '/api/v1/log/entries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hashedRekordV1(ecKey())) });
      const page = await open(srv.url, '#/index/0');
      const v = await verdict(page);
      assert.equal(v.state, 'verified', v.text);
      assert.match(await page.innerText('#log-key'), /log's Ed25519 key/);
      await go(page, '#/log');
      await page.waitForFunction(() => !document.getElementById('checkpoint-state')?.classList.contains('pending'));
      assert.match(await page.innerText('#checkpoint-state'), /Checkpoint signature VERIFIED/);
      await page.close();
    } finally {
      await srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('explorer: a certificate from a CI workflow', () => {
  it('the entry page decodes the GitHub Actions claims of Fulcio\'s extensions, old raw-string ones and DER ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signet-explorer-gh-'));
    const srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false });
    try {
      const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
      const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
      const utf8String = (v: string): Buffer => {
        const b = Buffer.from(v);
        return Buffer.concat([Buffer.of(0x0c, b.length), b]);
      };
      const workflow = 'https://github.com/octo/app/.github/workflows/release.yml@refs/tags/v1.2.3';
      const cert = await x509.X509CertificateGenerator.createSelfSigned(
        {
          serialNumber: '0a',
          name: 'CN=ci',
          notBefore: new Date(Date.now() - 60_000),
          notAfter: new Date(Date.now() + 600_000),
          keys: keys as never,
          signingAlgorithm: alg,
          extensions: [
            new x509.SubjectAlternativeNameExtension([{ type: 'url', value: workflow }]),
            new x509.Extension('1.3.6.1.4.1.57264.1.1', false, Buffer.from('https://token.actions.githubusercontent.com')),
            new x509.Extension('1.3.6.1.4.1.57264.1.2', false, Buffer.from('push')),
            new x509.Extension('1.3.6.1.4.1.57264.1.5', false, Buffer.from('octo/app')),
            new x509.Extension('1.3.6.1.4.1.57264.1.8', false, utf8String('https://token.actions.githubusercontent.com')),
            new x509.Extension('1.3.6.1.4.1.57264.1.9', false, utf8String(workflow)),
            new x509.Extension('1.3.6.1.4.1.57264.1.11', false, utf8String('github-hosted')),
            new x509.Extension('1.3.6.1.4.1.57264.1.13', false, utf8String('a'.repeat(40))),
          ],
        },
        webcrypto as never,
      );
      const { KeyObject } = await import('node:crypto');
      const privateKey = KeyObject.from(keys.privateKey);
      const key = ecKey();
      const entry = hashedRekordV1({ ...key, privateKey }, Buffer.from('release tarball'), { pem: cert.toString('pem') + '\n' });
      const r = await fetch(srv.url + '/api/v1/log/entries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(entry) });
      assert.equal(r.status, 201, await r.clone().text());
      const page = await open(srv.url, `#/search?q=${encodeURIComponent(workflow)}`);
      assert.deepEqual(await rowIndexes(page), [0]);
      await go(page, '#/index/0');
      assert.equal((await verdict(page)).state, 'verified');
      const text = await page.innerText('main');
      assert.match(text, new RegExp(`Identity\\s+${workflow.replace(/[.?]/g, '\\$&')}`));
      assert.match(text, /OIDC issuer\s+https:\/\/token\.actions\.githubusercontent\.com/);
      assert.match(text, /GitHub Workflow Trigger\s+push \(1\.3\.6\.1\.4\.1\.57264\.1\.2\)/);
      assert.match(text, /GitHub Workflow Repository\s+octo\/app/);
      assert.match(text, /Build Signer URI\s+https:\/\/github\.com\/octo\/app\/\.github\/workflows\/release\.yml@refs\/tags\/v1\.2\.3/);
      assert.match(text, /Runner Environment\s+github-hosted/);
      assert.match(text, new RegExp(`Source Repository Digest\\s+${'a'.repeat(40)}`));
      assert.match(text, /SAN \(URI\)/);
      await page.close();
    } finally {
      await srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('explorer against a log that lies', () => {
  let proxy: Server;
  let mode: 'proof' | 'signature' | 'root' | 'body' = 'proof';
  let proxyUrl = '';

  /** Alters the inclusion proofs in the log's answers as the mode says; everything else passes unchanged. */
  function tamper(body: Record<string, { body: string; verification?: { inclusionProof?: { hashes: string[]; checkpoint: string; rootHash: string } } }>): void {
    for (const e of Object.values(body)) {
      if (mode === 'body') {
        // Another body under the same UUID, its proof untouched.
        const doc = JSON.parse(Buffer.from(e.body, 'base64').toString());
        doc.apiVersion = doc.apiVersion + ' ';
        e.body = Buffer.from(JSON.stringify(doc)).toString('base64');
        continue;
      }
      const p = e.verification?.inclusionProof;
      if (!p) continue;
      if (mode === 'proof') p.hashes[0] = (p.hashes[0]![0] === '0' ? '1' : '0') + p.hashes[0]!.slice(1);
      else if (mode === 'signature') {
        const lines = p.checkpoint.split('\n');
        const i = lines.findIndex((l) => l.startsWith('\u2014 '));
        const [dash, name, sig] = lines[i]!.split(' ');
        const raw = Buffer.from(sig!, 'base64');
        raw[raw.length - 1] ^= 1;
        lines[i] = [dash, name, raw.toString('base64')].join(' ');
        p.checkpoint = lines.join('\n');
      } else {
        // A root hash that the proof leads to, but not the one the log signed.
        p.rootHash = 'ff'.repeat(32);
      }
    }
  }

  before(async () => {
    proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const upstream = await fetch(log.srv.url + req.url, {
        method: req.method!,
        headers: { ...(req.headers['content-type'] ? { 'content-type': req.headers['content-type'] } : {}) },
        ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
      });
      let body = Buffer.from(await upstream.arrayBuffer());
      if (upstream.status === 200 && /^\/api\/v1\/log\/entries/.test(req.url!)) {
        const j = JSON.parse(body.toString());
        for (const o of Array.isArray(j) ? j : [j]) tamper(o);
        body = Buffer.from(JSON.stringify(j));
      }
      const headers: Record<string, string> = {};
      for (const h of ['content-type', 'content-security-policy', 'cache-control']) if (upstream.headers.get(h)) headers[h] = upstream.headers.get(h)!;
      res.writeHead(upstream.status, headers).end(body);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  after(async () => {
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
  });

  for (const [m, want] of [
    ['proof', /FAILED: Proof hashes lead to the root hash/],
    ['signature', /FAILED: Checkpoint is signed by the log key — no\. the checkpoint's signature does not verify/],
    ['root', /FAILED: Proof hashes lead to the root hash/],
    ['body', /FAILED: Entry UUID is the leaf hash of the body/],
  ] as const) {
    it(`a tampered ${m} is flagged as FAILED`, async () => {
      mode = m;
      for (const index of [log.indexes.keyedHashedrekord, log.indexes.keylessDsse]) {
        const page = await open(proxyUrl, `#/index/${index}`);
        const v = await verdict(page);
        assert.equal(v.state, 'failed', v.text);
        assert.match(v.text, want);
        await page.close();
      }
    });
  }
});
