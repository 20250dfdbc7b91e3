/**
 * Which transparency log a keyed signature goes to: none (upload off), a Rekor v1 URL, or the log a
 * signing config selects (Rekor v1 or v2). Usage errors come before anything is signed.
 */
import { SignetError } from '../errors.js';
import { readFileLimited } from '../fsutil.js';
import { RekorV1Client, tlogFromSigningConfig, type TlogTarget } from './rekor-client.js';
import { tufTrust } from './tuf.js';

export interface TlogTargetOptions {
  /** --tlog-upload: false signs without a log. */
  tlogUpload: boolean;
  /** --rekor-url: a Rekor v1 API. */
  rekorUrl?: string;
  /** --signing-config: a signing_config.json file naming the log. */
  signingConfig?: string;
}

/** Where to log signatures, or undefined with --tlog-upload=false. */
export async function tlogTarget(flags: TlogTargetOptions): Promise<TlogTarget | undefined> {
  if (!flags.tlogUpload) return undefined;
  if (flags.rekorUrl && flags.signingConfig) throw new SignetError('USAGE', '--rekor-url and --signing-config cannot be used together');
  if (flags.signingConfig) {
    const bytes = await readFileLimited(flags.signingConfig, 4 * 1024 * 1024, `signing config ${flags.signingConfig}`);
    try {
      return tlogFromSigningConfig(bytes);
    } catch (e) {
      if (e instanceof SignetError) throw new SignetError(e.code, `${flags.signingConfig}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  if (!flags.rekorUrl) {
    // After `initialize`, the TUF cache's signing config names the log, as cosign v3 takes it.
    const fromTuf = (await tufTrust())?.signingConfigBytes;
    if (fromTuf) return tlogFromSigningConfig(fromTuf);
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
