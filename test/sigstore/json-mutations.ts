/** JSON-walking helpers shared by the differential tests: enumerate values, rebuild with one changed. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Standard padded base64, as protojson writes bytes. */
export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Every path to a value below the root (objects and arrays included, so they can be dropped whole). */
export function leaves(v: Json, path: (string | number)[] = []): Array<{ path: (string | number)[]; value: Json }> {
  if (v === null || typeof v !== 'object') return [{ path, value: v }];
  const out: Array<{ path: (string | number)[]; value: Json }> = [];
  if (path.length > 0) out.push({ path, value: v });
  for (const [k, x] of Object.entries(v)) out.push(...leaves(x, [...path, Array.isArray(v) ? Number(k) : k]));
  return out;
}

/** A copy of `doc` with the value at `path` replaced, or removed when `value` is undefined. */
export function withValue(doc: Json, path: (string | number)[], value: Json | undefined): Buffer {
  const copy = JSON.parse(JSON.stringify(doc)) as Json;
  let cur = copy as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(cur)) cur.splice(last as number, 1);
    else delete cur[last];
  } else cur[last] = value;
  return Buffer.from(JSON.stringify(copy));
}

/** A named variant of a bundle. */
export type Mutation = { name: string; bundle: Buffer };

/** A byte flipped in the decoded bytes of every base64 field, at the start, middle and end. */
export function byteFlips(doc: Json): Mutation[] {
  const out: Mutation[] = [];
  for (const { path, value } of leaves(doc)) {
    if (typeof value !== 'string' || value.length < 8 || !BASE64.test(value) || path[path.length - 1] === 'mediaType') continue;
    const bytes = Buffer.from(value, 'base64');
    for (const pos of new Set([0, bytes.length >> 1, bytes.length - 1])) {
      const m = Buffer.from(bytes);
      m[pos]! ^= 0x01;
      out.push({ name: `flip byte ${pos} of ${path.join('.')}`, bundle: withValue(doc, path, m.toString('base64')) });
    }
  }
  return out;
}

/** Every field (and every object and array) dropped in turn. */
export function drops(doc: Json): Mutation[] {
  return leaves(doc).map(({ path }) => ({ name: `drop ${path.join('.')}`, bundle: withValue(doc, path, undefined) }));
}
