// Secondary cache keys (RFC 9111 §4.1): the request's values of the fields named in Vary,
// normalized so that equivalent requests share a variant.

import type { IncomingHttpHeaders } from 'node:http';
import type { CachedObject } from './store.js';

/** The value standing for a field the request does not have. */
const absentValue = '\u0000';

/** The normalized value of one request field for variant matching. */
export function varyValue(headers: IncomingHttpHeaders, name: string): string {
  const v = headers[name];
  if (v === undefined) return absentValue;
  const text = Array.isArray(v) ? v.join(',') : v;
  if (name === 'accept-encoding') return acceptEncoding(text);
  if (name === 'accept-language') return acceptLanguage(text);
  // RFC 9111 §4.1: values may be normalized, e.g. by removing whitespace and combining lines.
  return text
    .replace(/\s*,\s*/g, ',')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The variant key for a Vary list: one normalized value per field, in order. */
export function variantKey(headers: IncomingHttpHeaders, vary: readonly string[]): string {
  if (vary.length === 0) return '';
  if (vary.length === 1) return varyValue(headers, vary[0]);
  let key = varyValue(headers, vary[0]);
  for (let i = 1; i < vary.length; i++) key += '\n' + varyValue(headers, vary[i]);
  return key;
}

/**
 * Accept-Encoding collapses to the codings Strata caches that the client accepts: "br,gzip",
 * "br", "gzip" or "identity", so the many spellings browsers send do not split the cache.
 * Fills ask the origin for exactly that list (see fill-flow.ts), and a stored variant holds
 * one of its codings or none (see object.ts).
 */
function acceptEncoding(text: string): string {
  let br = false;
  let gzip = false;
  for (const part of text.toLowerCase().split(',')) {
    const [coding, ...params] = part.trim().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) === 0) continue;
    if (coding === 'br' || coding === '*') br = true;
    if (coding === 'gzip' || coding === 'x-gzip' || coding === '*') gzip = true;
  }
  return br ? (gzip ? 'br,gzip' : 'br') : gzip ? 'gzip' : 'identity';
}

/** The codings a normalized Accept-Encoding value admits (identity is always admitted). */
export function admittedCodings(normalized: string): string[] {
  return normalized === absentValue ? ['identity'] : normalized.split(',');
}

/** Language ranges are case-insensitive (RFC 4647 §2) and their order carries no meaning beyond q. */
function acceptLanguage(text: string): string {
  return text
    .toLowerCase()
    .split(',')
    .map((part) => part.replace(/\s+/g, ''))
    .filter((part) => part !== '')
    .sort()
    .join(',');
}

/** The stored variant matching a request (most recent first), or undefined. */
export function selectVariant(
  variants: readonly CachedObject[],
  headers: IncomingHttpHeaders,
): CachedObject | undefined {
  let lastVary: readonly string[] | undefined;
  let lastKey = '';
  for (const object of variants) {
    const vary = object.meta.vary;
    if (vary.length === 0) return object;
    if (vary !== lastVary) {
      lastKey = variantKey(headers, vary);
      lastVary = vary;
    }
    if (object.meta.variant === lastKey) return object;
  }
  return undefined;
}
