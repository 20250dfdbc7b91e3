/**
 * An ID token from the development OIDC issuer of `signet serve --dev-oidc` (POST /oidc/token), for the
 * tests that sign keyless. `extra` adds claims the issuer accepts (see server/oidc/dev-issuer.ts).
 */
import assert from 'node:assert/strict';

export async function devToken(serverUrl: string, email: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await fetch(serverUrl + '/oidc/token', { method: 'POST', body: JSON.stringify({ email, ...extra }) });
  assert.equal(r.status, 200, `the development issuer answered ${r.status}: ${await r.clone().text()}`);
  return ((await r.json()) as { id_token: string }).id_token;
}
