// Building stored objects from upstream responses, and refreshing them from a 304.

import type { IncomingHttpHeaders } from 'node:http';
import {
  cacheDirectives,
  freshness,
  noStoreReason,
  varyFields,
  type NoCacheReason,
  type PolicyOptions,
} from './policy.js';
import { connectionTokens, firstValue, hopByHop, type HeaderMap } from '../http/headers.js';
import { admittedCodings, variantKey, varyValue } from './vary.js';
import type { CachedObject, ObjectMeta, StoredBody } from './store.js';

/** Fields not stored with an object: hop-by-hop, and per-response ones recomputed on delivery. */
const notStored: ReadonlySet<string> = new Set([...hopByHop, 'age', 'cache-status']);

/** RFC 9111 §3.2: fields a 304 must not update, since the stored body does not change. */
const keptOnUpdate: ReadonlySet<string> = new Set([
  // cache-tests 304-etag-update-response-ETag: the stored ETag identifies the stored body.
  'etag',
  'content-length',
  'content-encoding',
  'content-range',
  'transfer-encoding',
  'content-md5',
]);

export interface UpstreamFacts {
  key: string;
  requestHeaders: IncomingHttpHeaders;
  requestNoStore: boolean;
  status: number;
  headers: HeaderMap;
  requestTimeMs: number;
  responseTimeMs: number;
}

/** Builds the metadata for a storable response, or says why it must not be stored. */
export function describeResponse(
  facts: UpstreamFacts,
  policy: PolicyOptions,
  maxObjectBytes: number,
): { meta: ObjectMeta; reason?: undefined } | { meta?: undefined; reason: NoCacheReason } {
  const { directives, targeted } = cacheDirectives(facts.headers);
  const policyFacts = {
    method: 'GET',
    status: facts.status,
    requestHeaders: facts.requestHeaders,
    responseHeaders: facts.headers,
    requestTimeMs: facts.requestTimeMs,
    responseTimeMs: facts.responseTimeMs,
  };
  const reason = noStoreReason(policyFacts, directives, targeted, facts.requestNoStore);
  if (reason) return { reason };
  const length = Number(firstValue(facts.headers['content-length']));
  if (length > maxObjectBytes) return { reason: 'too-large' };
  const fresh = freshness(policyFacts, directives, targeted, policy);
  const etag = firstValue(facts.headers.etag);
  const lastModified = firstValue(facts.headers['last-modified']);
  // Never store what could never be reused: no freshness and no validator.
  if (fresh.lifetimeSec <= 0 && etag === undefined && lastModified === undefined)
    return { reason: 'no-freshness' };
  const vary = varyFields(facts.headers.vary) as string[];
  const variant = variantKey(facts.requestHeaders, vary);
  // A variant keyed on Accept-Encoding holds only a coding every request with that key accepts.
  if (vary.includes('accept-encoding')) {
    const coding = (firstValue(facts.headers['content-encoding']) ?? 'identity').trim().toLowerCase();
    if (
      coding !== 'identity' &&
      !admittedCodings(varyValue(facts.requestHeaders, 'accept-encoding')).includes(coding)
    )
      return { reason: 'content-encoding' };
  }
  return {
    meta: {
      v: 1,
      key: facts.key,
      variant,
      vary,
      status: facts.status,
      headers: storedHeaders(facts.headers),
      requestTimeMs: facts.requestTimeMs,
      responseTimeMs: facts.responseTimeMs,
      ...fresh,
      invalidated: false,
      etag,
      lastModified,
      tags: surrogateKeys(facts.headers),
      size: 0,
    },
  };
}

/** The fields kept with an object, in order (hop-by-hop and per-response fields removed). */
export function storedHeaders(headers: HeaderMap): [string, string | string[]][] {
  const connection = connectionTokens(headers.connection);
  const out: [string, string | string[]][] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !notStored.has(name) && !connection?.has(name)) out.push([name, value]);
  }
  return out;
}

/** Surrogate-Key (space-separated) and Cache-Tag (comma-separated) values. */
export function surrogateKeys(headers: HeaderMap): string[] {
  const tags = new Set<string>();
  const add = (value: string | string[] | undefined, sep: RegExp) => {
    if (value === undefined) return;
    for (const v of Array.isArray(value) ? value : [value]) for (const t of v.split(sep)) if (t) tags.add(t);
  };
  add(headers['surrogate-key'], /\s+/);
  add(headers['cache-tag'], /\s*,\s*/);
  return [...tags];
}

/** Fixes Content-Length to the stored body's size once the body is complete. */
export function completeObject(meta: ObjectMeta, body: StoredBody): CachedObject {
  const headers = meta.headers.filter(([name]) => name !== 'content-length');
  if (meta.status !== 204) headers.push(['content-length', String(body.size)]);
  return { meta: { ...meta, headers, size: body.size }, body };
}

/**
 * RFC 9111 §4.3.4: on a 304, update the stored response's fields with those of the 304
 * (except those describing the body), and recompute its freshness from the merged fields.
 */
export function refreshObject(
  stored: CachedObject,
  notModified: {
    headers: HeaderMap;
    requestHeaders: IncomingHttpHeaders;
    requestTimeMs: number;
    responseTimeMs: number;
  },
  policy: PolicyOptions,
): CachedObject {
  const update = storedHeaders(notModified.headers).filter(([name]) => !keptOnUpdate.has(name));
  const names = new Set(update.map(([name]) => name));
  const headers = stored.meta.headers.filter(([name]) => !names.has(name)).concat(update);
  const merged: HeaderMap = Object.fromEntries(headers);
  merged.age = notModified.headers.age;
  const { directives, targeted } = cacheDirectives(merged);
  const fresh = freshness(
    {
      method: 'GET',
      status: stored.meta.status,
      requestHeaders: notModified.requestHeaders,
      responseHeaders: merged,
      requestTimeMs: notModified.requestTimeMs,
      responseTimeMs: notModified.responseTimeMs,
    },
    directives,
    targeted,
    policy,
  );
  return {
    meta: {
      ...stored.meta,
      headers,
      requestTimeMs: notModified.requestTimeMs,
      responseTimeMs: notModified.responseTimeMs,
      ...fresh,
      invalidated: false,
      etag: firstValue(merged.etag),
      lastModified: firstValue(merged['last-modified']),
      tags: surrogateKeys(merged),
    },
    body: stored.body,
  };
}
