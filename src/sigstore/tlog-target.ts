/**
 * Which transparency log a keyed signature goes to: none (upload off), a Rekor v1 URL, or the log a
 * signing config selects (Rekor v1 or v2); and which timestamp authorities timestamp it: the
 * `--timestamp-server-url`, or those the signing config selects. Usage errors come before anything is signed.
 */
import { SignetError } from '../errors.js';
import { readFileLimited } from '../fsutil.js';
import { RekorV1Client, tlogFromSigningConfig, type TlogTarget } from './rekor-client.js';
import { loadSigningConfig, selectServices } from './signing-config.js';
import { signingConfigInPlay } from './tuf.js';

export interface TlogTargetOptions {
  /** --tlog-upload: false signs without a log. */
  tlogUpload: boolean;
  /** --rekor-url: a Rekor v1 API. */
  rekorUrl?: string;
  /** --signing-config: a signing_config.json file naming the log. */
  signingConfig?: string;
  /** --use-signing-config (default true): the TUF cache's signing config, after `initialize`, names the log. */
  useSigningConfig?: boolean;
}

/** Where to log signatures, or undefined with --tlog-upload=false (or a signing config that lists no log). */
export async function tlogTarget(flags: TlogTargetOptions): Promise<TlogTarget | undefined> {
  const src = await signingConfigInPlay(flags);
  if (!flags.tlogUpload) return undefined;
  if (src) {
    const where = src.kind === 'file' ? src.path : `the signing config from TUF (${src.mirror})`;
    const bytes = src.kind === 'file' ? await readFileLimited(src.path, 4 * 1024 * 1024, `signing config ${src.path}`) : src.bytes;
    // A config without logs is how cosign v3 signs without one.
    if (!hasTlogs(bytes)) return undefined;
    try {
      return tlogFromSigningConfig(bytes);
    } catch (e) {
      if (e instanceof SignetError) throw new SignetError(e.code, `${where}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  if (flags.rekorUrl) {
    new RekorV1Client({ baseUrl: flags.rekorUrl }); // validates the URL before anything is signed
    return { url: flags.rekorUrl, majorApiVersion: 1 };
  }
  throw new SignetError(
    'USAGE',
    'no transparency log is configured: pass --tlog-upload=false to sign without one (the signature will not be publicly auditable), or --rekor-url / --signing-config to log it',
  );
}

/**
 * The RFC 3161 timestamp authorities a keyed signature is timestamped by: `--timestamp-server-url`, else
 * the signing config's selection (also with --tlog-upload=false), else none.
 */
export async function keyedTimestampUrls(flags: { signingConfig?: string; timestampServerUrl?: string }, now = new Date()): Promise<string[]> {
  if (flags.timestampServerUrl !== undefined) {
    let u: URL;
    try {
      u = new URL(flags.timestampServerUrl);
    } catch {
      throw new SignetError('USAGE', `--timestamp-server-url ${JSON.stringify(flags.timestampServerUrl)} is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new SignetError('USAGE', `--timestamp-server-url ${flags.timestampServerUrl} is not an http(s) URL`);
    return [flags.timestampServerUrl];
  }
  if (!flags.signingConfig) return [];
  return selectServices(await loadSigningConfig(flags.signingConfig), now).tsas;
}

function hasTlogs(bytes: Buffer): boolean {
  try {
    const urls = (JSON.parse(bytes.toString('utf8')) as { rekorTlogUrls?: unknown }).rekorTlogUrls;
    return !Array.isArray(urls) || urls.length > 0;
  } catch {
    return true; // tlogFromSigningConfig reports what is wrong
  }
}
