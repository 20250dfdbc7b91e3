/**
 * Image references, parsed the way Docker and go-containerregistry do: `[registry/]repo[:tag][@digest]`
 * with Docker Hub defaults. Pure: no I/O. Every malformed input becomes one SignetError REFERENCE.
 */
import { SignetError } from '../errors.js';

export interface Reference {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'index.docker.io';

// The grammar of github.com/distribution/reference, written out as separate checks so each failure
// can say which part is wrong.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[a-fA-F0-9:.]+\]$/;
const DIGEST = /^(sha256|sha384|sha512):([a-f0-9]+)$/;
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
const MAX_NAME_LENGTH = 255;

function fail(input: string, why: string): never {
  throw new SignetError('REFERENCE', `invalid image reference "${input}": ${why}`);
}

/** True when `s` is a well-formed `algorithm:hex` digest we support. */
export function isValidDigest(s: string): boolean {
  const m = DIGEST.exec(s);
  return !!m && m[2]!.length === DIGEST_HEX_LENGTH[m[1]!];
}

export function isValidTag(s: string): boolean {
  return TAG.test(s);
}

/** Validate a registry host (`name[:port]`, `1.2.3.4:5000`, `[::1]:5000`); returns the reason it is bad, or undefined. */
function registryProblem(host: string): string | undefined {
  let name = host;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return `unterminated IPv6 address in registry "${host}"`;
    name = host.slice(0, end + 1);
    const rest = host.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return `unexpected "${rest}" after IPv6 address in registry "${host}"`;
      port = rest.slice(1);
    }
    if (!IPV6_HOST.test(name)) return `bad IPv6 address in registry "${host}"`;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
    if (name === '') return `empty host name in registry "${host}"`;
    for (const label of name.split('.')) {
      if (!HOST_LABEL.test(label)) return `bad host name "${name}" in registry "${host}"`;
    }
  }
  if (port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `bad port "${port}" in registry "${host}"`;
  }
  return undefined;
}

/**
 * Parse an image reference. Defaults: no registry → Docker Hub (`index.docker.io`), `docker.io` is
 * rewritten to it, one-component Hub repositories get `library/`, and a reference without tag and
 * digest gets tag `latest`. `repo:tag@digest` keeps both (the digest is what gets pulled).
 */
export function parseReference(input: string): Reference {
  if (typeof input !== 'string' || input.length === 0) fail(String(input), 'empty reference');
  if (input !== input.trim() || /\s/.test(input)) fail(input, 'contains whitespace');
  // As in go-containerregistry, a URL is not a reference; say so rather than fail on "http:" as a host.
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(input);
  if (scheme) {
    const rest = input.slice(scheme[0].length);
    const hint = scheme[1]!.toLowerCase() === 'http' ? ' (for a registry that speaks plain HTTP, add --allow-http-registry)' : '';
    fail(input, `image references have no scheme: write "${rest}"${hint}`);
  }
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isValidDigest(digest)) {
      fail(input, `bad digest "${digest}" (expected sha256:<64 hex>, sha384:<96 hex> or sha512:<128 hex>)`);
    }
  }
  // The tag is after the last ':' that follows the last '/' (a ':' before a '/' is a registry port).
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0 && !rest.slice(lastSlash + 1).startsWith('[')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(input, `bad tag "${tag}" (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')`);
  }
  if (rest === '') fail(input, 'missing repository name');

  let registry: string;
  let repository: string;
  const firstSlash = rest.indexOf('/');
  const first = firstSlash >= 0 ? rest.slice(0, firstSlash) : '';
  if (firstSlash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = first;
    repository = rest.slice(firstSlash + 1);
    const problem = registryProblem(registry);
    if (problem) fail(input, problem);
  } else {
    registry = DOCKER_HUB;
    repository = rest;
  }
  if (registry === 'docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (repository === '') fail(input, 'missing repository name');
  for (const component of repository.split('/')) {
    if (component === '') fail(input, `empty path component in repository "${repository}"`);
    if (!PATH_COMPONENT.test(component)) {
      fail(input, `bad repository component "${component}" (lower-case letters, digits and single separators '.', '_', '__' or '-')`);
    }
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (`${registry}/${repository}`.length > MAX_NAME_LENGTH) fail(input, `repository name longer than ${MAX_NAME_LENGTH} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref: Reference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `registry/repository`, without tag or digest. */
export function repositoryName(ref: { registry: string; repository: string }): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The canonical string of a reference: `registry/repository[:tag][@digest]`. */
export function referenceString(ref: Reference): string {
  return repositoryName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** The same repository pinned to a digest (the tag is dropped: a digest reference names one manifest). */
export function withDigest(ref: { registry: string; repository: string }, digest: string): Reference {
  if (!isValidDigest(digest)) throw new SignetError('REFERENCE', `invalid digest "${digest}" for ${repositoryName(ref)}`);
  return { registry: ref.registry, repository: ref.repository, digest };
}

export function withTag(ref: { registry: string; repository: string }, tag: string): Reference {
  if (!TAG.test(tag)) throw new SignetError('REFERENCE', `invalid tag "${tag}" for ${repositoryName(ref)}`);
  return { registry: ref.registry, repository: ref.repository, tag };
}

/** The host part of a registry (`[::1]:5000` → `::1`, `localhost:5000` → `localhost`). */
export function registryHostname(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon >= 0 ? registry.slice(0, colon) : registry;
}

/** localhost, 127.0.0.0/8 and ::1. */
export function isLoopbackRegistry(host: string): boolean {
  const name = registryHostname(host).toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (name === '::1' || name === '0:0:0:0:0:0:0:1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  return !!m && m.slice(1).every((o) => Number(o) <= 255);
}

/** An IPv4 address in 10/8, 172.16/12 or 192.168/16 (RFC 1918). */
function isPrivateIPv4(name: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  if (m.slice(1).some((o) => Number(o) > 255)) return false;
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

/**
 * Registries tried over plain HTTP when https fails at the TLS level, without any flag: go-containerregistry's
 * `Registry.Scheme()` rule (pkg/name/registry.go) — loopback names and addresses, `*.local` and
 * `*.localhost` names, and RFC 1918 IPv4 addresses. (ggcr matches "127.0.0.1" and "::1" anywhere in the
 * name, so `127.0.0.1.example.com` would qualify there; here the address itself must be loopback.)
 * Everything else needs --allow-http-registry or --allow-insecure-registry.
 */
export function defaultsToPlainHttp(registry: string): boolean {
  if (isLoopbackRegistry(registry)) return true;
  const name = registryHostname(registry).toLowerCase();
  if (name.endsWith('.local') || name.endsWith('.localhost')) return true;
  return isPrivateIPv4(name);
}
