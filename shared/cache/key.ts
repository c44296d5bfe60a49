// Cache keys: scheme + normalised host (http/host.ts) + path + query,
// with the site's query options applied so URLs that differ only in ignored ways share one object.

import { normalizeHost } from '../http/host.js';

export interface KeyOptions {
  query: 'keep' | 'sort' | 'ignore';
  dropParams: readonly string[];
  /**
   * keep: http:// and https:// requests are separate objects; ignore: they share one, kept
   * under the http:// key (the site says its origin answers both schemes alike). Default keep.
   */
  scheme?: 'keep' | 'ignore';
}

/** Builds key functions once per site, so the per-request work is string handling only. */
export function keyBuilder(options: KeyOptions): (scheme: string, host: string, target: string) => string {
  const drop = new Set(options.dropParams);
  const transform = queryTransform(options.query, drop);
  const shared = options.scheme === 'ignore';
  return (scheme, host, target) => {
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    const query = q === -1 ? '' : transform(target.slice(q + 1));
    // The default port is the request's scheme's, whichever scheme the key names.
    return `${shared ? 'http' : scheme}://${normalizeHost(host, scheme)}${path}${query ? '?' + query : ''}`;
  };
}

function queryTransform(mode: KeyOptions['query'], drop: ReadonlySet<string>): (query: string) => string {
  if (mode === 'ignore') return () => '';
  if (mode === 'keep' && drop.size === 0) return (query) => query;
  return (query) => {
    let params = query.split('&').filter((p) => p !== '' && !drop.has(paramName(p)));
    if (mode === 'sort') params = params.sort();
    return params.join('&');
  };
}

function paramName(param: string): string {
  const eq = param.indexOf('=');
  const raw = eq === -1 ? param : param.slice(0, eq);
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    // A malformed escape cannot name a configured parameter; compare it as written.
    return raw;
  }
}

/** The host part of a primary key, for purges by host. */
export function hostOfKey(key: string): string {
  const start = key.indexOf('://') + 3;
  const end = key.indexOf('/', start);
  return key.slice(start, end === -1 ? undefined : end);
}
