// Building stored objects from upstream responses, and refreshing them from a 304.

import type { IncomingHttpHeaders } from 'node:http';
import {
  cacheDirectives,
  freshness,
  noStoreReason,
  unstoredFields,
  varyFields,
  type NoCacheReason,
  type PolicyOptions,
} from './policy.js';
import {
  fieldList,
  fieldMap,
  firstValue,
  withoutFields,
  hopByHop,
  type FieldList,
  type HeaderMap,
} from '../http/headers.js';
import type { Directives } from './directives.js';
import { admittedCodings, variantKey, varyValue } from './vary.js';
import type { CachedObject, ObjectMeta, StoredBody } from './store.js';

/** Fields not stored with an object: hop-by-hop, and per-response ones recomputed on delivery. */
const notStored: ReadonlySet<string> = new Set([...hopByHop, 'age', 'cache-status', 'strata-error']);

/** Most objects have no Vary and no tags: they share this empty list instead of two arrays each. */
const none: readonly string[] = Object.freeze([]);

const contentLength: ReadonlySet<string> = new Set(['content-length']);

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
  const { directives, targeted } = cacheDirectives(facts.headers, policy.targetedField);
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
  const fields = varyFields(facts.headers.vary) as string[];
  const vary = fields.length === 0 ? none : fields;
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
      v: 2,
      key: facts.key,
      variant,
      vary,
      status: facts.status,
      headers: keptFields(storedHeaders(facts.headers), directives),
      requestTimeMs: facts.requestTimeMs,
      responseTimeMs: facts.responseTimeMs,
      // Named one by one, not spread: a literal keeps every field in the object itself (a
      // spread adds a separate property store to each of the many metas a cache holds).
      initialAgeSec: fresh.initialAgeSec,
      lifetimeSec: fresh.lifetimeSec,
      staleWhileRevalidateSec: fresh.staleWhileRevalidateSec,
      staleIfErrorSec: fresh.staleIfErrorSec,
      mustRevalidate: fresh.mustRevalidate,
      invalidated: false,
      etag,
      lastModified,
      tags: surrogateKeys(facts.headers),
      size: 0,
    },
  };
}

/** The fields kept with an object, in order (hop-by-hop and per-response fields removed). */
export function storedHeaders(headers: HeaderMap): FieldList {
  return fieldList(headers, notStored);
}

/** The stored fields without those a qualified private or no-cache keeps out of the store. */
function keptFields(headers: FieldList, directives: Directives): FieldList {
  const unstored = unstoredFields(directives);
  return unstored ? withoutFields(headers, unstored) : headers;
}

/** Surrogate-Key (space-separated) and Cache-Tag (comma-separated) values. */
export function surrogateKeys(headers: HeaderMap): readonly string[] {
  const tags = new Set<string>();
  const add = (value: string | string[] | undefined, sep: RegExp) => {
    if (value === undefined) return;
    for (const v of Array.isArray(value) ? value : [value]) for (const t of v.split(sep)) if (t) tags.add(t);
  };
  add(headers['surrogate-key'], /\s+/);
  add(headers['cache-tag'], /\s*,\s*/);
  return tags.size === 0 ? none : [...tags];
}

/** Fixes Content-Length to the stored body's size once the body is complete. */
export function completeObject(meta: ObjectMeta, body: StoredBody): CachedObject {
  const headers = withoutFields(meta.headers, contentLength);
  if (meta.status !== 204) headers.push('content-length', String(body.size));
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
  const update = withoutFields(storedHeaders(notModified.headers), keptOnUpdate);
  const names = new Set(update.filter((_, i) => i % 2 === 0));
  const headers = withoutFields(stored.meta.headers, names).concat(update);
  const merged = fieldMap(headers);
  merged.age = notModified.headers.age;
  const { directives, targeted } = cacheDirectives(merged, policy.targetedField);
  const kept = keptFields(headers, directives);
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
      headers: kept,
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
