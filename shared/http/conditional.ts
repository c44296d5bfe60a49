// Conditional and range requests answered from a stored or streaming response
// (RFC 9110 §13 preconditions, §14 range requests).

import type { IncomingHttpHeaders } from 'node:http';
import { parseHttpDate } from './dates.js';

/** RFC 9110 §8.8.3.2 weak comparison: opaque tags equal, W/ ignored. */
function weakMatch(a: string, b: string): boolean {
  return stripWeak(a) === stripWeak(b);
}

function stripWeak(tag: string): string {
  const t = tag.trim();
  return t.startsWith('W/') ? t.slice(2) : t;
}

/**
 * RFC 9110 §13.2.2: for GET/HEAD, If-None-Match is evaluated first (weak comparison);
 * If-Modified-Since only when If-None-Match is absent. True means answer 304.
 */
export function notModified(
  req: IncomingHttpHeaders,
  etag: string | undefined,
  lastModified: string | undefined,
): boolean {
  const inm = req['if-none-match'];
  if (inm !== undefined) {
    if (inm.trim() === '*') return etag !== undefined;
    if (etag === undefined) return false;
    return inm.split(',').some((tag) => weakMatch(tag, etag));
  }
  const ims = req['if-modified-since'];
  if (ims === undefined || lastModified === undefined) return false;
  // RFC 9110 §13.1.3: "A recipient MUST ignore the If-Modified-Since header field if the
  // received field value is not a valid HTTP-date". The clock only places two-digit years.
  const nowMs = Date.now();
  const since = parseHttpDate(ims, nowMs);
  const modified = parseHttpDate(lastModified, nowMs);
  return since !== undefined && modified !== undefined && modified <= since;
}

export type RangeResult =
  { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * RFC 9110 §14.2: a single "bytes=" range is served as 206; several ranges, other units or
 * invalid syntax are ignored (200 with the full body), as the RFC allows. If-Range (§13.1.5)
 * must match the stored validator (strongly for an entity-tag) or the full body is sent.
 */
export function rangeOf(
  req: IncomingHttpHeaders,
  size: number,
  etag: string | undefined,
  lastModified: string | undefined,
): RangeResult {
  const header = req.range;
  if (header === undefined) return { kind: 'full' };
  const ifRange = req['if-range'] as string | undefined;
  if (ifRange !== undefined) {
    const v = ifRange.trim();
    const matches = v.startsWith('"')
      ? etag !== undefined && !etag.startsWith('W/') && v === etag
      : v === lastModified;
    if (!matches) return { kind: 'full' };
  }
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  let start: number;
  let end: number;
  if (m[1] === '') {
    // suffix range: the last N bytes
    const n = Number(m[2]);
    if (n === 0) return { kind: 'unsatisfiable' };
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return { kind: 'full' };
  }
  if (start >= size || size === 0) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}
