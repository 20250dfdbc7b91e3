import { SignetError } from '../../errors.js';

/** Why a token was refused; the HTTP layer turns each into a 4xx (or 503 for an unreachable issuer). */
export type OidcRefusalReason =
  | 'malformed'
  | 'unknown_issuer'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_audience'
  | 'email_not_verified'
  | 'invalid_claims'
  | 'issuer_unavailable';

/** A refused identity token. `code` is VERIFICATION, except MALFORMED / NETWORK where those fit. */
export class OidcError extends SignetError {
  readonly reason: OidcRefusalReason;
  constructor(reason: OidcRefusalReason, message: string, options?: { cause?: unknown }) {
    super(
      reason === 'malformed' ? 'MALFORMED' : reason === 'issuer_unavailable' ? 'NETWORK' : 'VERIFICATION',
      `identity token refused (${reason}): ${message}`,
      options,
    );
    this.name = 'OidcError';
    this.reason = reason;
  }

  /** HTTP status for this refusal: 400 for a token that does not parse, 503 if the issuer is down, else 401. */
  get httpStatus(): number {
    return this.reason === 'malformed' ? 400 : this.reason === 'issuer_unavailable' ? 503 : 401;
  }
}
