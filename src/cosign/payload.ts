/**
 * cosign's legacy "simple signing" payload: what is signed for an image in the `.sig` format.
 * Writing reproduces Go's bytes exactly; reading is as lenient as Go's json.Unmarshal (keys are
 * matched case-insensitively), because old cosign versions wrote `Critical`, `Docker-manifest-digest`…
 */
import { SignetError } from '../errors.js';
import { goEscape, sortedKeys } from './gojson.js';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';

export interface SimpleSigningPayload {
  critical: {
    identity: { 'docker-reference': string };
    image: { 'docker-manifest-digest': string };
    type: string;
  };
  optional: Record<string, unknown> | null;
}

/** The exact bytes cosign produces for this image digest, repository and annotations. */
export function simpleSigningPayload(dockerReference: string, manifestDigest: string, annotations?: Record<string, string>): Buffer {
  const optional = annotations && Object.keys(annotations).length > 0 ? sortedKeys(annotations) : null;
  const doc = {
    critical: {
      identity: { 'docker-reference': dockerReference },
      image: { 'docker-manifest-digest': manifestDigest },
      type: COSIGN_SIGNATURE_TYPE,
    },
    optional,
  };
  return Buffer.from(goEscape(JSON.stringify(doc)), 'utf8');
}

function getCaseInsensitive(obj: unknown, key: string): unknown {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  const rec = obj as Record<string, unknown>;
  if (key in rec) return rec[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(rec)) if (k.toLowerCase() === lower) return rec[k];
  return undefined;
}

/** Parse a simple-signing payload as cosign's verifier does; MALFORMED when it is not one. */
export function parseSimpleSigningPayload(bytes: Buffer): SimpleSigningPayload {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', 'signature payload is not JSON');
  }
  const critical = getCaseInsensitive(doc, 'critical');
  const identity = getCaseInsensitive(critical, 'identity');
  const image = getCaseInsensitive(critical, 'image');
  const digest = getCaseInsensitive(image, 'docker-manifest-digest');
  const type = getCaseInsensitive(critical, 'type');
  const ref = getCaseInsensitive(identity, 'docker-reference');
  if (typeof digest !== 'string') throw new SignetError('MALFORMED', 'signature payload has no critical.image.docker-manifest-digest');
  const optional = getCaseInsensitive(doc, 'optional');
  return {
    critical: {
      identity: { 'docker-reference': typeof ref === 'string' ? ref : '' },
      image: { 'docker-manifest-digest': digest },
      type: typeof type === 'string' ? type : '',
    },
    optional: optional !== null && typeof optional === 'object' && !Array.isArray(optional) ? (optional as Record<string, unknown>) : null,
  };
}

/**
 * cosign's SimpleClaimVerifier: the payload names exactly this image digest, and every requested
 * annotation is present with the same value.
 */
export function checkSimpleSigningClaims(payload: SimpleSigningPayload, manifestDigest: string, annotations?: Record<string, string>): void {
  const got = payload.critical.image['docker-manifest-digest'];
  if (got !== manifestDigest) {
    throw new SignetError('VERIFICATION', `signature is for ${got}, not for the image ${manifestDigest}`);
  }
  checkAnnotations(payload.optional ?? {}, annotations);
}

export function checkAnnotations(present: Record<string, unknown>, wanted?: Record<string, string>): void {
  for (const [k, v] of Object.entries(wanted ?? {})) {
    if (present[k] !== v) {
      const actual = present[k] === undefined ? 'missing' : JSON.stringify(present[k]);
      throw new SignetError('VERIFICATION', `annotation ${k}: expected "${v}", signature has ${actual}`);
    }
  }
}
