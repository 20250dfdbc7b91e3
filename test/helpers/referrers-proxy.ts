/**
 * The OCI 1.1 referrers API in front of the real docker-registry (distribution 2.8 has none): every
 * request is passed through unchanged, except that a manifest PUT carrying a `subject` is remembered
 * (and answered with `OCI-Subject`, as registries with the API answer), and
 * `GET /v2/<name>/referrers/<digest>` lists the remembered manifests of that subject as an image index,
 * each entry's artifactType the manifest's, else its config media type (the distribution spec's rule).
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';

export interface ReferrersProxy {
  host: string;
  /** Referrer listings served so far. */
  listings: () => number;
  stop: () => Promise<void>;
}

export async function startReferrersProxy(upstream: string): Promise<ReferrersProxy> {
  const [upHost, upPort] = upstream.split(':') as [string, string];
  const byRepoSubject = new Map<string, Array<Record<string, unknown>>>();
  let listings = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url!, 'http://proxy');
      const listing = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
      if (req.method === 'GET' && listing) {
        listings++;
        const want = url.searchParams.get('artifactType');
        const manifests = (byRepoSubject.get(`${listing[1]}@${listing[2]}`) ?? []).filter((d) => !want || d.artifactType === want);
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' });
        res.end(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
        return;
      }
      const manifestPut = req.method === 'PUT' ? /^\/v2\/(.+)\/manifests\/[^/]+$/.exec(url.pathname) : null;
      const up = request({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        const headers = { ...upRes.headers };
        if (manifestPut && upRes.statusCode! < 300) {
          let doc: any;
          try {
            doc = JSON.parse(body.toString('utf8'));
          } catch {
            doc = undefined;
          }
          if (doc?.subject?.digest) {
            const entry: Record<string, unknown> = {
              mediaType: doc.mediaType ?? req.headers['content-type'],
              digest: 'sha256:' + createHash('sha256').update(body).digest('hex'),
              size: body.length,
            };
            const artifactType = doc.artifactType || doc.config?.mediaType;
            if (artifactType) entry.artifactType = artifactType;
            if (doc.annotations) entry.annotations = doc.annotations;
            const key = `${manifestPut[1]}@${doc.subject.digest}`;
            const list = byRepoSubject.get(key) ?? [];
            if (!list.some((d) => d.digest === entry.digest)) list.push(entry);
            byRepoSubject.set(key, list);
            headers['oci-subject'] = doc.subject.digest;
          }
        }
        res.writeHead(upRes.statusCode!, headers);
        upRes.pipe(res);
      });
      up.on('error', () => res.writeHead(502).end());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    listings: () => listings,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
