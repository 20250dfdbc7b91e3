/**
 * Connection limits and timeouts of the HTTP front. Every connection is a file descriptor; when idle
 * connections use up the process's descriptor limit, the log can no longer open its files and writes
 * on connections already accepted fail. So the server accepts at most `maxConnections` at once (more
 * are closed as soon as they are accepted) and keeps the rest of the limit for its own files: the log's
 * tiles, SQLite databases and WAL files, the PostgreSQL pool, the thread pool and worker threads.
 */
import { readFileSync } from 'node:fs';

/** Time for a request's headers to arrive, counted from its first byte (or the connection's start). */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** Time for a whole request, body included (a 4 MiB body needs about 1.1 Mbit/s). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** How long an idle keep-alive connection stays open after a response. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/**
 * How often node:http looks for connections past their header or request timeout. Node's default is
 * 30 s, which let a slowloris hold a connection 37 s against a 15 s header timeout; a check every
 * second enforces the timeouts within a second.
 */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

/** Descriptors kept for the server's own use: at least this many, or the share below if larger. */
const MIN_RESERVED_DESCRIPTORS = 128;
const RESERVED_SHARE = 0.1;
/** Assumed when the limit cannot be read (not Linux): the common default soft limit. */
const FALLBACK_DESCRIPTOR_LIMIT = 1024;

/**
 * The process's current open-file limit (RLIMIT_NOFILE soft limit, which Node raises to the hard
 * limit at startup), from /proc/self/limits; undefined where that cannot be read or says "unlimited".
 */
export function descriptorLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (!m || !/^[0-9]+$/.test(m[1]!)) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * The default connection cap for a descriptor limit: the limit minus a reserve of 10% (at least 128
 * descriptors) for the server's own files; at least 1. An unknown limit counts as 1024.
 */
export function defaultMaxConnections(limit: number | undefined): number {
  const l = limit ?? FALLBACK_DESCRIPTOR_LIMIT;
  const reserve = Math.max(MIN_RESERVED_DESCRIPTORS, Math.ceil(l * RESERVED_SHARE));
  return Math.max(1, l - reserve);
}
