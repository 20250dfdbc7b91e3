/**
 * `signet admission`'s HTTPS listener: the HTTP layer of `signet serve` (router, limits, request log,
 * /metrics) over node:https, with `/validate`, `/mutate`, `/healthz`, `/readyz` and admission metrics.
 * Policies are watched and reloaded (a broken file keeps the old set, and the log says why); the TLS
 * certificate and key are re-read when either file changes. Lives in cli/ because admission/ does not
 * import server/.
 */
import { statSync, watch, watchFile, unwatchFile, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Server as HttpsServer } from 'node:https';
import { SignetError } from '../errors.js';
import { AdmissionEngine, loadNamespaces, loadPolicySet, mutateRequest, parseReview, reviewOut, validateRequest, type LoadPoliciesOptions, type NamespaceLabels, type ReviewContext } from '../admission/index.js';
import type { RegistryClient } from '../oci/index.js';
import { Metrics, Router, createHttpServer } from '../server/http/server.js';
import { parseListen } from '../server/serve.js';

export interface AdmissionServerOptions {
  policies: string[];
  loadOptions?: LoadPoliciesOptions;
  client: RegistryClient;
  tlsCert: string;
  tlsKey: string;
  listen?: string;
  noMatch?: 'deny' | 'warn' | 'allow';
  namespaces?: NamespaceLabels;
  /** `--namespaces FILE`: read now and again whenever it changes (a broken file keeps the labels in use). */
  namespacesFile?: string;
  cacheTtlMs?: number;
  /** A review that takes longer is denied (fail closed); default 9 s, under the API server's 10 s. */
  reviewTimeoutMs?: number;
  /** Request log and reload messages; false for none. Default stderr. */
  log?: { write(line: string): unknown } | false;
  /** With TrustRoots from TUF mirrors (`spec.remote`): how often the policies are reloaded to refresh them (default 10 minutes). */
  tufRefreshMs?: number;
  /** Debounce of the policy watcher (default 200 ms). */
  reloadDelayMs?: number;
}

export interface RunningAdmission {
  url: string;
  engine: AdmissionEngine;
  /** Load the policies again now; resolves true when the new set is in use. */
  reload(): Promise<boolean>;
  close(): Promise<void>;
}

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

class AdmissionMetrics {
  readonly reviews = new Map<string, number>();
  readonly hist = new Map<string, { counts: number[]; sum: number; count: number }>();
  reloads = { ok: 0, error: 0 };

  review(endpoint: string, verdict: string, seconds: number): void {
    const k = `endpoint="${endpoint}",verdict="${verdict}"`;
    this.reviews.set(k, (this.reviews.get(k) ?? 0) + 1);
    let h = this.hist.get(endpoint);
    if (!h) this.hist.set(endpoint, (h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) h!.counts[i]!++;
    });
    h.sum += seconds;
    h.count++;
  }

  render(engine: AdmissionEngine): string {
    const out: string[] = [];
    out.push('# HELP signet_admission_reviews_total AdmissionReviews answered, by endpoint and verdict.');
    out.push('# TYPE signet_admission_reviews_total counter');
    for (const [k, v] of this.reviews) out.push(`signet_admission_reviews_total{${k}} ${v}`);
    out.push('# HELP signet_admission_review_duration_seconds Time to answer an AdmissionReview, by endpoint.');
    out.push('# TYPE signet_admission_review_duration_seconds histogram');
    for (const [ep, h] of this.hist) {
      BUCKETS.forEach((b, i) => out.push(`signet_admission_review_duration_seconds_bucket{endpoint="${ep}",le="${b}"} ${h.counts[i]}`));
      out.push(`signet_admission_review_duration_seconds_bucket{endpoint="${ep}",le="+Inf"} ${h.count}`);
      out.push(`signet_admission_review_duration_seconds_sum{endpoint="${ep}"} ${h.sum}`);
      out.push(`signet_admission_review_duration_seconds_count{endpoint="${ep}"} ${h.count}`);
    }
    out.push('# HELP signet_admission_cache_hits_total Policy verdicts served from the cache.');
    out.push('# TYPE signet_admission_cache_hits_total counter');
    out.push(`signet_admission_cache_hits_total ${engine.stats.cacheHits}`);
    out.push('# HELP signet_admission_cache_misses_total Policy verdicts computed (registry and verification).');
    out.push('# TYPE signet_admission_cache_misses_total counter');
    out.push(`signet_admission_cache_misses_total ${engine.stats.cacheMisses}`);
    out.push('# HELP signet_admission_cache_entries Policy verdicts in the cache.');
    out.push('# TYPE signet_admission_cache_entries gauge');
    out.push(`signet_admission_cache_entries ${engine.cacheSize}`);
    out.push('# HELP signet_admission_policies ClusterImagePolicies in use.');
    out.push('# TYPE signet_admission_policies gauge');
    out.push(`signet_admission_policies ${engine.policySet.policies.length}`);
    out.push('# HELP signet_admission_policy_reloads_total Policy reloads, by result (an error keeps the previous policies).');
    out.push('# TYPE signet_admission_policy_reloads_total counter');
    out.push(`signet_admission_policy_reloads_total{result="ok"} ${this.reloads.ok}`);
    out.push(`signet_admission_policy_reloads_total{result="error"} ${this.reloads.error}`);
    return out.join('\n') + '\n';
  }
}

async function readTls(cert: string, key: string): Promise<{ cert: Buffer; key: Buffer }> {
  try {
    return { cert: await readFile(cert), key: await readFile(key) };
  } catch (e) {
    throw new SignetError('IO', `cannot read the TLS certificate or key: ${(e as Error).message}`);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SignetError('TIMEOUT', `${what} took longer than ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export async function startAdmissionServer(opts: AdmissionServerOptions): Promise<RunningAdmission> {
  const { host, port } = parseListen(opts.listen ?? ':8443');
  const logSink = opts.log === undefined ? process.stderr : opts.log;
  const note = (fields: Record<string, unknown>): void => {
    if (logSink) logSink.write(JSON.stringify({ time: new Date().toISOString(), ...fields }) + '\n');
  };
  const set = await loadPolicySet(opts.policies, opts.loadOptions);
  const tls = await readTls(opts.tlsCert, opts.tlsKey);
  const engine = new AdmissionEngine(set, {
    client: opts.client,
    ...(opts.noMatch ? { noMatch: opts.noMatch } : {}),
    ...(opts.cacheTtlMs !== undefined ? { cacheTtlMs: opts.cacheTtlMs } : {}),
  });
  const am = new AdmissionMetrics();
  const metrics = new Metrics();
  const router = new Router();
  const timeoutMs = opts.reviewTimeoutMs ?? 9_000;
  const ctx: ReviewContext = { engine, ...(opts.namespaces ? { namespaces: opts.namespaces } : {}) };
  if (opts.namespacesFile) ctx.namespaces = await loadNamespaces(opts.namespacesFile);
  const json = (body: unknown) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) });

  router.add('POST', '/validate', '/validate', async (c) => {
    const start = process.hrtime.bigint();
    const req = parseReview(await c.json());
    let out;
    try {
      out = await withTimeout(validateRequest(ctx, req), timeoutMs, 'verifying the images');
    } catch (e) {
      // Fail closed: a review we cannot finish is a denial that says why.
      out = { response: { uid: req.uid, allowed: false, status: { code: 500, message: `admission denied by signet: ${(e as Error).message}` } }, verdict: 'denied' as const };
    }
    am.review('validate', out.verdict, Number(process.hrtime.bigint() - start) / 1e9);
    return json(reviewOut(out.response));
  });
  router.add('POST', '/mutate', '/mutate', async (c) => {
    const start = process.hrtime.bigint();
    const req = parseReview(await c.json());
    let out;
    try {
      out = await withTimeout(mutateRequest(ctx, req), timeoutMs, 'resolving the image tags');
    } catch {
      out = { response: { uid: req.uid, allowed: true }, patched: 0 };
    }
    am.review('mutate', out.patched > 0 ? 'patched' : 'unchanged', Number(process.hrtime.bigint() - start) / 1e9);
    return json(reviewOut(out.response));
  });
  router.add('GET', '/healthz', '/healthz', () => json({ status: 'ok' }));
  router.add('GET', '/readyz', '/readyz', () => json({ status: 'ready', policies: engine.policySet.policies.length }));
  // Registered before the HTTP layer's own /metrics, so this one (which includes it) answers.
  router.add('GET', '/metrics', '/metrics', () => ({
    status: 200,
    headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
    body: metrics.render() + am.render(engine),
  }));

  const server = createHttpServer({ router, metrics, tls, log: logSink }) as unknown as HttpsServer;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new SignetError('IO', `cannot listen on ${opts.listen ?? ':8443'}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  const shownHost = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  let reloading: Promise<boolean> | undefined;
  let again = false;
  const reload = async (): Promise<boolean> => {
    if (reloading) {
      again = true;
      return reloading;
    }
    reloading = (async () => {
      let ok = false;
      do {
        again = false;
        try {
          const next = await loadPolicySet(opts.policies, opts.loadOptions);
          engine.swap(next);
          am.reloads.ok++;
          note({ level: 'info', message: `policies reloaded: ${next.policies.length} ClusterImagePolicies from ${next.files.length} files` });
          ok = true;
        } catch (e) {
          am.reloads.error++;
          note({ level: 'error', message: `policy reload failed, keeping the previous policies: ${(e as Error).message}` });
          ok = false;
        }
      } while (again);
      return ok;
    })().finally(() => {
      reloading = undefined;
    });
    return reloading;
  };
  const delay = opts.reloadDelayMs ?? 200;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), delay);
  };
  const watchers: FSWatcher[] = [];
  // A file is watched through its directory: editors and ConfigMap mounts replace files by renaming,
  // which ends a watch on the file itself.
  const watchPath = (p: string, onChange: () => void): void => {
    try {
      if (statSync(p).isDirectory()) watchers.push(watch(p, { persistent: false }, onChange));
      else {
        const name = basename(p);
        watchers.push(watch(dirname(p), { persistent: false }, (_event, changed) => (changed === null || changed === name || changed.startsWith('..') ? onChange() : undefined)));
      }
    } catch (e) {
      note({ level: 'warn', message: `cannot watch ${p} for changes: ${(e as Error).message}` });
    }
  };
  for (const p of opts.policies) watchPath(p, schedule);
  // Mounted Secrets and ConfigMaps change inside DIR/<name>/ (the kubelet's `..data` swap): watched whole.
  for (const d of [opts.loadOptions?.secretsDir, opts.loadOptions?.configMapsDir]) {
    if (!d) continue;
    try {
      watchers.push(watch(d, { persistent: false, recursive: true }, schedule));
    } catch (e) {
      note({ level: 'warn', message: `cannot watch ${d} for changes: ${(e as Error).message}` });
    }
  }
  let nsTimer: NodeJS.Timeout | undefined;
  const nsFile = opts.namespacesFile;
  if (nsFile) {
    watchPath(nsFile, () => {
      clearTimeout(nsTimer);
      nsTimer = setTimeout(() => {
        loadNamespaces(nsFile).then(
          (ns) => {
            ctx.namespaces = ns;
            note({ level: 'info', message: `namespaces reloaded: ${ns.size} from ${nsFile}` });
          },
          (e: Error) => note({ level: 'error', message: `namespaces reload failed, keeping the previous labels: ${e.message}` }),
        );
      }, delay);
    });
  }
  const tlsChanged = (): void => {
    void readTls(opts.tlsCert, opts.tlsKey).then(
      (t) => {
        try {
          server.setSecureContext(t);
          note({ level: 'info', message: 'TLS certificate reloaded' });
        } catch (e) {
          note({ level: 'error', message: `TLS certificate reload failed, keeping the previous one: ${(e as Error).message}` });
        }
      },
      (e: Error) => note({ level: 'error', message: `TLS certificate reload failed, keeping the previous one: ${e.message}` }),
    );
  };
  // TrustRoots from TUF mirrors change without a file changing: reloaded (and so refreshed) on a timer.
  const refreshMs = opts.tufRefreshMs ?? 10 * 60_000;
  const refresh = refreshMs > 0 ? setInterval(() => (engine.policySet.remote ? void reload() : undefined), refreshMs) : undefined;
  refresh?.unref();
  watchFile(opts.tlsCert, { interval: 1000, persistent: false }, tlsChanged);
  watchFile(opts.tlsKey, { interval: 1000, persistent: false }, tlsChanged);

  return {
    url: `https://${shownHost}:${boundPort}`,
    engine,
    reload,
    async close() {
      clearTimeout(timer);
      clearTimeout(nsTimer);
      clearInterval(refresh);
      for (const w of watchers) w.close();
      unwatchFile(opts.tlsCert, tlsChanged);
      unwatchFile(opts.tlsKey, tlsChanged);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    },
  };
}
