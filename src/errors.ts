/**
 * One error type for the whole library. Every failure carries a stable `code`; the CLI maps codes to
 * exit codes and prints the message as one line. Messages say what is wrong in the user's terms.
 */
export type ErrorCode =
  | 'USAGE' // bad flags or arguments
  | 'IO' // a local file could not be read or written
  | 'KEY_FORMAT' // a key file is not in a format we accept
  | 'KEY_PASSWORD' // wrong password for an encrypted key
  | 'KEY_UNSUPPORTED' // key type or size not allowed
  | 'KEY_SERVICE' // a PKCS#11 token or KMS plug-in failed or answered something unusable
  | 'REFERENCE' // an image reference does not parse
  | 'REGISTRY' // the registry answered with an error
  | 'REGISTRY_AUTH' // authentication with the registry failed
  | 'NETWORK' // could not reach a server
  | 'TIMEOUT' // a server took too long (a request phase, or the command's -t/--timeout)
  | 'NOT_FOUND' // image or tag does not exist
  | 'TOO_LARGE' // a document exceeds a size bound
  | 'MALFORMED' // a document from a registry, file or server does not parse
  | 'NO_SIGNATURES' // the image has no signatures at all
  | 'NO_MATCHING_SIGNATURES' // signatures exist but none verifies
  | 'NO_CERTIFICATE' // a keyless signature without certificate
  | 'VERIFICATION' // a signature, bundle or claim did not verify
  | 'TLOG' // transparency-log problems
  | 'STORAGE_CORRUPT' // stored log data does not match the tree it committed (a file changed or went missing)
  | 'CONFLICT' // a concurrent writer changed what we were updating
  | 'LOG_ALARM' // log monitor: a checkpoint that does not verify, or a log that is not append-only (exit 3)
  | 'INTERNAL';

/** Exit codes follow cosign's documented ones where cosign has one (10–13); everything else exits 1, usage 2, a log monitor's alarm 3. */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = {
  USAGE: 2,
  LOG_ALARM: 3,
  NO_SIGNATURES: 10,
  NOT_FOUND: 11,
  NO_MATCHING_SIGNATURES: 12,
  NO_CERTIFICATE: 13,
};

export class SignetError extends Error {
  readonly code: ErrorCode;
  override readonly cause?: unknown;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = 'SignetError';
    this.code = code;
    this.cause = options?.cause;
  }

  get exitCode(): number {
    return EXIT_CODES[this.code] ?? 1;
  }
}

export function isSignetError(e: unknown, code?: ErrorCode): e is SignetError {
  return e instanceof SignetError && (code === undefined || e.code === code);
}

/** A one-line description of any thrown value, for the CLI. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message.replace(/\s*\n\s*/g, ' ');
  return String(e);
}
