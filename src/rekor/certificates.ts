/**
 * The certificate of a keyless entry parsed off the event loop. Rekor parses every certificate it logs,
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

/**
 * The verifier of a v1 hashedrekord whose `publicKey.content` is a PEM holding one certificate, parsed off
 * the event loop; undefined when it is known already, is anything else, or the addon does not answer (the
 * synchronous canonicalization then parses it, with its own errors). A certificate that does not parse is
 * never answered here.
 */
export async function certificateVerifierOffLoop(doc: unknown): Promise<{ b64: string; verifier: Verifier } | undefined> {
  if (!parseBatched) return undefined;
  const d = doc as { kind?: unknown; spec?: { signature?: { publicKey?: { content?: unknown } } } } | null;
  if (d === null || typeof d !== 'object' || d.kind !== 'hashedrekord') return undefined;
  const b64 = d.spec?.signature?.publicKey?.content;
  if (typeof b64 !== 'string' || b64.length > 64 * 1024 || knownVerifier(b64)) return undefined;
  let der: Buffer;
  try {
    // The same strict base64 as the synchronous parse: text it refuses is never answered here.
    const blocks = decodePemBlocks(b64Strict(b64, 'publicKey.content').toString('utf8'));
    if (blocks.length !== 1 || blocks[0]!.label !== 'CERTIFICATE') return undefined;
    der = blocks[0]!.der;
  } catch {
    return undefined;
  }
  const subjects = await parseBatched(der);
  const verifier = subjects && certificateVerifier(der, subjects);
  return verifier ? { b64, verifier } : undefined;
}
