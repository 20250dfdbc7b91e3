/**
 * Prometheus text exposition for the HTTP layer: request counts by route and status, latency histograms
 * for requests and log appends, plus gauges a service contributes (log size, batches).
 */

const BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

class Histogram {
  readonly counts = new Array<number>(BUCKETS_MS.length).fill(0);
  sum = 0;
  count = 0;
  observe(ms: number): void {
    for (let i = 0; i < BUCKETS_MS.length; i++) if (ms <= BUCKETS_MS[i]!) this.counts[i]!++;
    this.sum += ms / 1000;
    this.count++;
  }
  render(name: string, labels: string, out: string[]): void {
    const sep = labels ? ',' : '';
    BUCKETS_MS.forEach((b, i) => out.push(`${name}_bucket{${labels}${sep}le="${b / 1000}"} ${this.counts[i]}`));
    out.push(`${name}_bucket{${labels}${sep}le="+Inf"} ${this.count}`);
    out.push(`${name}_sum${labels ? `{${labels}}` : ''} ${this.sum}`);
    out.push(`${name}_count${labels ? `{${labels}}` : ''} ${this.count}`);
  }
}

export interface Gauge {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  value: () => number;
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class Metrics {
  readonly #requests = new Map<string, number>();
  readonly #durations = new Map<string, Histogram>();
  readonly #append = new Histogram();
  readonly #gauges: Gauge[] = [];

  /**
   * Label strings made once per route, method and status: a request then costs lookups of strings whose
   * hashes are already known, not six escapes and two new keys to hash (every request passes here).
   */
  readonly #labels = new Map<string, { hist: Histogram; byMethod: Map<string, Map<number, string>> }>();

  request(method: string, route: string, status: number, ms: number): void {
    let r = this.#labels.get(route);
    if (!r) {
      const rk = `route="${esc(route)}"`;
      let hist = this.#durations.get(rk);
      if (!hist) this.#durations.set(rk, (hist = new Histogram()));
      this.#labels.set(route, (r = { hist, byMethod: new Map() }));
    }
    let byStatus = r.byMethod.get(method);
    if (!byStatus) r.byMethod.set(method, (byStatus = new Map()));
    let key = byStatus.get(status);
    if (key === undefined) byStatus.set(status, (key = `method="${esc(method)}",route="${esc(route)}",status="${status}"`));
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    r.hist.observe(ms);
  }

  /** Time from a verified entry to its durable, checkpointed append. */
  append(ms: number): void {
    this.#append.observe(ms);
  }

  addGauge(g: Gauge): void {
    this.#gauges.push(g);
  }

  render(): string {
    const out: string[] = [];
    out.push('# HELP signet_http_requests_total HTTP requests by method, route and status.');
    out.push('# TYPE signet_http_requests_total counter');
    for (const [k, v] of this.#requests) out.push(`signet_http_requests_total{${k}} ${v}`);
    out.push('# HELP signet_http_request_duration_seconds HTTP request latency by route.');
    out.push('# TYPE signet_http_request_duration_seconds histogram');
    for (const [k, h] of this.#durations) h.render('signet_http_request_duration_seconds', k, out);
    out.push('# HELP signet_log_append_duration_seconds Time for an entry to become durable under a signed checkpoint.');
    out.push('# TYPE signet_log_append_duration_seconds histogram');
    this.#append.render('signet_log_append_duration_seconds', '', out);
    for (const g of this.#gauges) {
      out.push(`# HELP ${g.name} ${g.help}`);
      out.push(`# TYPE ${g.name} ${g.type}`);
      out.push(`${g.name} ${g.value()}`);
    }
    return out.join('\n') + '\n';
  }
}
