/**
 * Mounts framework-free service route tables (CA, TSA, dev OIDC issuer; src/server/routes.ts) on the
 * HTTP router: the request body, query and peer address go in, the service's status, headers and bytes
 * come back unchanged, so each service keeps its own error shape (Fulcio's grpc-gateway bodies, the
 * TSA's {"code","message"}).
 */
import type { ServiceRequest, ServiceRoute } from '../routes.js';
import type { Reply, Router } from './router.js';

export function mountServiceRoutes(router: Router, routes: readonly ServiceRoute[]): void {
  for (const route of routes) {
    router.add(route.method, route.path, route.path, async (ctx): Promise<Reply> => {
      const req: ServiceRequest = {
        headers: ctx.headers,
        // GET handlers ignore bodies; reading one would only let a client make us buffer data.
        body: route.method === 'POST' ? await ctx.body() : Buffer.alloc(0),
        query: ctx.url.searchParams,
        ...(ctx.remoteAddress !== undefined ? { remoteAddress: ctx.remoteAddress } : {}),
      };
      const res = await route.handle(req);
      return { status: res.status, headers: res.headers ?? {}, body: typeof res.body === 'string' ? Buffer.from(res.body, 'utf8') : res.body };
    });
  }
}
