/**
 * The certificate of a keyless entry (a hashedrekord's, Rekor v1 or v2) parsed off the event loop. Rekor parses every certificate it logs,
 * and indexes it by its email and URI names; node:crypto's X509Certificate did that on the event loop,
 * ~40 µs of it per keyless write under load, the largest part of what a certificate costs a write beyond
 * a key. The native addon parses the certificates asked for in one turn of the event loop in one
 * thread-pool job, and answers only where its answer is certainly node's (see log_crypto.c); the rest,
 * and every server without the addon, parse as before.
 */
import { availableParallelism } from 'node:os';
import { perTurnBatcher } from '../batching.js';
import { decodePemBlocks } from '../keys/index.js';
import { nativeCrypto } from '../native.js';
import { type Verifier, b64 as b64Strict, certificateVerifier, knownVerifier } from './common.js';

const addon = nativeCrypto.addon;

/** parseCertificates' answers: per certificate its email and URI names, or undefined (not answered). */
export function decodeCertificateAnswers(out: Uint8Array, n: number): (string[] | undefined)[] {
  const b = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  const answers: (string[] | undefined)[] = [];
  let at = 0;
  const need = (k: number): void => {
    if (at + k > b.length) throw new Error('certificate batch answer is truncated');
  };
  for (let i = 0; i < n; i++) {
    need(1);
    if (b[at++] === 0) {
      answers.push(undefined);
      continue;
    }
    need(2);
    const count = b.readUInt16BE(at);
    at += 2;
    const names: string[] = [];
    for (let j = 0; j < count; j++) {
      need(3);
      const len = b.readUInt16BE(at + 1);
      at += 3;
      need(len);
      names.push(b.toString('latin1', at, at + len));
      at += len;
    }
    answers.push(names);
  }
  if (at !== b.length) throw new Error('certificate batch answer has bytes left over');
  return answers;
}

const parseBatched = addon
  ? perTurnBatcher<Uint8Array, string[] | undefined>(async (ders) => decodeCertificateAnswers(await addon.parseCertificates(ders), ders.length), {
      maxChunks: availableParallelism(),
    })
  : undefined;

/** `o[camel]`, or `o[snake]` (protojson accepts both names; the synchronous parse refuses both at once). */
function member(o: unknown, camel: string, snake?: string): unknown {
  if (o === null || typeof o !== 'object') return undefined;
  const r = o as Record<string, unknown>;
  return r[camel] ?? (snake ? r[snake] : undefined);
}

/**
 * The certificate of a hashedrekord entry, as the text the synchronous parse keys it by (v1: the base64 of
 * its PEM, which must hold one certificate; v2: its DER) and the DER; undefined for anything else.
 */
function certificateOf(api: 1 | 2, doc: unknown): { of: string | Buffer; der: Buffer } | undefined {
  try {
    if (api === 1) {
      if (member(doc, 'kind') !== 'hashedrekord') return undefined;
      const text = member(member(member(member(doc, 'spec'), 'signature'), 'publicKey'), 'content');
      if (typeof text !== 'string' || text.length > 64 * 1024 || knownVerifier(text)) return undefined;
      // The same strict base64 as the synchronous parse: text it refuses is never answered here.
      const blocks = decodePemBlocks(b64Strict(text, 'publicKey.content').toString('utf8'));
      return blocks.length === 1 && blocks[0]!.label === 'CERTIFICATE' ? { of: text, der: blocks[0]!.der } : undefined;
    }
    const req = member(doc, 'hashedRekordRequestV002', 'hashed_rekord_request_v002');
    const cert = member(member(member(req, 'signature'), 'verifier'), 'x509Certificate', 'x509_certificate');
    const raw = member(cert, 'rawBytes', 'raw_bytes');
    if (typeof raw !== 'string' || raw.length > 64 * 1024) return undefined;
    const der = b64Strict(raw, 'rawBytes');
    return { of: der, der };
  } catch {
    return undefined;
  }
}

/**
 * The verifier of a hashedrekord entry's certificate — v1: a `publicKey.content` PEM holding one
 * certificate; v2: `verifier.x509Certificate` — parsed off the event loop, with what the synchronous parse
 * knows it by (withVerifierFor); undefined when it is known already, is anything else, or the addon does
 * not answer (the synchronous canonicalization then parses it, with its own errors). A certificate that
 * does not parse is never answered here.
 */
export async function certificateVerifierOffLoop(api: 1 | 2, doc: unknown): Promise<{ of: string | Buffer; verifier: Verifier } | undefined> {
  if (!parseBatched) return undefined;
  const c = certificateOf(api, doc);
  if (!c) return undefined;
  // Should the job fail (out of memory), the synchronous parse still answers.
  const subjects = await parseBatched(c.der).catch(() => undefined);
  const verifier = subjects && certificateVerifier(c.der, subjects);
  return verifier ? { of: c.of, verifier } : undefined;
}
