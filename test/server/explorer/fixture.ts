/**
 * A `signet serve --dev-oidc` log holding what the explorer shows: hashedrekord, dsse and intoto entries,
 * each signed with a key and keyless (a certificate from the server's CA for a dev-issuer token), made
 * through the library where Signet's clients make that kind and built as sigstore-js builds them
 * otherwise (intoto); plus the browser the tests and the screenshot script drive (Debian's chromium via
 * playwright-core, never a downloaded browser).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { attestBlob, keylessSigner, signBlob, signerFromPrivateKey, tlogTarget } from '../../../src/index.js';
import { requestCertificate } from '../../../src/sigstore/fulcio-client.js';
import { type RunningServer, startServer } from '../../../src/server/serve.js';
import { aptInstall } from '../../helpers/apt.js';
import { type TestKey, ecKey, hashedRekordV1, intotoV2 } from '../../rekor/fixtures.js';
import { devToken } from '../../helpers/dev-token.js';

export const EMAIL = 'alice@example.com';

export interface ExplorerLog {
  srv: RunningServer;
  dir: string;
  key: TestKey;
  /** The keyed artifact's bytes and sha256 hex (a hashedrekord). */
  artifact: Buffer;
  artifactSha256: string;
  /** The subject digest of the in-toto statements. */
  subjectSha256: string;
  /** The statements signed as dsse and intoto entries. */
  statements: Record<'keyedDsse' | 'keyedIntoto' | 'keylessDsse' | 'keylessIntoto', Buffer>;
  /** Log indexes by what they hold. */
  indexes: Record<'keyedHashedrekord' | 'keyedDsse' | 'keyedIntoto' | 'keylessHashedrekord' | 'keylessDsse' | 'keylessIntoto', number>;
  close(): Promise<void>;
}

async function postEntry(url: string, body: unknown): Promise<number> {
  const r = await fetch(url + '/api/v1/log/entries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (r.status !== 201) throw new Error(`log refused the entry: ${r.status} ${await r.text()}`);
  const j = (await r.json()) as Record<string, { logIndex: number }>;
  return Object.values(j)[0]!.logIndex;
}


const pem = (label: string, der: Buffer): string => `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;

/** `extraKeyed` more hashedrekord entries by the same key (for paging). */
export async function startExplorerLog(extraKeyed = 0): Promise<ExplorerLog> {
  const dir = mkdtempSync(join(tmpdir(), 'signet-explorer-'));
  const srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false, devOidc: true });
  try {
    const key = ecKey();
    const signer = signerFromPrivateKey(key.privateKey);
    const artifact = Buffer.from('the explorer test artifact\n');
    const subjectSha256 = createHash('sha256').update('built artifact').digest('hex');
    const statement = (n: string): Buffer =>
      Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'app.tar', digest: { sha256: subjectSha256 } }], predicateType: `https://example.com/${n}/v1`, predicate: {} }));

    const tlog = await tlogTarget({ tlogUpload: true, rekorUrl: srv.url });
    const s1 = await signBlob(artifact, { signer, ...(tlog ? { tlog } : {}) });
    const keyedHashedrekord = Number(s1.tlogEntries[0]!.logIndex);
    const a1 = await attestBlob(statement('keyed-dsse'), { signer, ...(tlog ? { tlog } : {}) });
    const keyedDsse = Number(a1.tlogEntries[0]!.logIndex);
    const keyedIntoto = await postEntry(srv.url, intotoV2(key, statement('keyed-intoto')));

    const ks = await keylessSigner({ tlogUpload: true, signingConfig: srv.signingConfigPath, identityToken: await devToken(srv.url, EMAIL) });
    const s2 = await signBlob(Buffer.from('a keyless artifact\n'), { keyless: ks });
    const keylessHashedrekord = Number(s2.tlogEntries[0]!.logIndex);
    const a2 = await attestBlob(statement('keyless-dsse'), { keyless: await keylessSigner({ tlogUpload: true, signingConfig: srv.signingConfigPath, identityToken: await devToken(srv.url, EMAIL) }) });
    const keylessDsse = Number(a2.tlogEntries[0]!.logIndex);
    // Signet's clients write dsse, not intoto; sigstore-js's intoto entries carry the certificate as here.
    const eph = ecKey();
    const cert = await requestCertificate(srv.url, { token: await devToken(srv.url, EMAIL), signer: signerFromPrivateKey(eph.privateKey) });
    const chainPem = [cert.leafDer, ...cert.chainDer].map((d) => pem('CERTIFICATE', d)).join('');
    const keylessIntoto = await postEntry(srv.url, intotoV2({ ...eph, pem: chainPem }, statement('keyless-intoto')));
    for (let i = 0; i < extraKeyed; i++) await postEntry(srv.url, hashedRekordV1(key, Buffer.from(`extra artifact ${i}`)));
    return {
      srv,
      dir,
      key,
      artifact,
      artifactSha256: createHash('sha256').update(artifact).digest('hex'),
      subjectSha256,
      statements: { keyedDsse: statement('keyed-dsse'), keyedIntoto: statement('keyed-intoto'), keylessDsse: statement('keyless-dsse'), keylessIntoto: statement('keyless-intoto') },
      indexes: { keyedHashedrekord, keyedDsse, keyedIntoto, keylessHashedrekord, keylessDsse, keylessIntoto },
      close: async () => {
        await srv.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export const CHROMIUM = '/usr/bin/chromium';

/** Debian's chromium, headless, with a fresh profile that is removed on close. */
export async function launchBrowser(viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) aptInstall('chromium');
  const profile = mkdtempSync(join(tmpdir(), 'signet-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
