/**
 * Go's encoding/json output conventions, so that the payloads we write are byte-identical to cosign's:
 * compact, map keys sorted, and `<`, `>`, `&`, U+2028, U+2029 escaped. Byte identity matters because
 * cosign de-duplicates signatures by payload digest.
 */
export function goEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** A JSON value with object keys sorted, as Go marshals a map[string]any. */
export function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = sortedKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}
