// Config value types used by more than one section: addresses, host patterns, URLs, names.

import { isIP } from 'node:net';
import { bool, obj, refine, str, stringOr, withDefault, type Infer, type Problem } from './schema.js';

export const hostPort = str({
  pattern: /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/,
  hint: 'host:port, e.g. 127.0.0.1:8080 or [::1]:8080',
  valid: (v) => (Number(v.slice(v.lastIndexOf(':') + 1)) > 65535 ? 'the port must be 0 to 65535' : undefined),
});
export const cidr = str({
  pattern: /^[0-9A-Fa-f:.]+(\/\d{1,3})?$/,
  hint: 'an IP address or CIDR block such as 10.0.0.0/8 or ::1',
  valid: cidrProblem,
});

/** What is wrong with an address or CIDR block of the right shape, or undefined. */
function cidrProblem(value: string): string | undefined {
  const [address, bits] = value.split('/');
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  if (bits !== undefined && Number(bits) > (family === 4 ? 32 : 128))
    return `a /${bits} prefix is too long for IPv${family}`;
  return undefined;
}

export const hostPattern = str({
  pattern: /^(\*|(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?)$/,
  hint: 'a host name, *.domain wildcard, or * alone',
});
export const originUrl = str({
  pattern: /^https?:\/\/[^/?#\s]+\/?$/,
  hint: 'an origin URL such as http://10.0.0.5:8080 (scheme, host and port only)',
  valid: originProblem,
});

/** What is wrong with an origin URL that has the right shape, or undefined. */
function originProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'not a URL (is the port 0 to 65535?)';
  }
  if (url.hostname === '') return 'the origin needs a host';
  if (url.username || url.password) return 'credentials in an origin URL are not supported';
  return undefined;
}

/** One IP address, v4 or v6 (no prefix, no port). */
export const ipAddress = str({
  pattern: /^[0-9A-Fa-f:.]+$/,
  hint: 'an IPv4 or IPv6 address',
  valid: (v) => (isIP(v) === 0 ? 'not an IP address' : undefined),
});

/** A node id or region name. */
export const name = str({ pattern: /^[A-Za-z0-9._-]+$/, hint: 'letters, digits, . _ -' });

/** A path to GET for an active health probe, e.g. /healthz. */
export const probePath = str({ pattern: /^\/[^\s#]*$/, hint: 'a path such as /healthz' });

/**
 * TLS towards one upstream (an https origin or shield). Verification is on by default: the
 * peer's certificate must chain to a trusted CA (upstream.caFile, else Node's bundled CAs) and
 * name the URL's host. `insecure: true` turns that off for this peer only, with a warning at start.
 */
export const upstreamTls = obj({
  insecure: withDefault(bool(), false),
});

/** An origin: its URL, or `{ url, tls }` for one that needs its own TLS options. */
export const originEntry = refine(
  stringOr(originUrl, obj({ url: originUrl, tls: upstreamTls })),
  (entry, path, problems) => {
    if (typeof entry === 'object') tlsNeedsHttps(entry, path, problems);
    return entry;
  },
);

export type OriginEntry = Infer<typeof originEntry>;

/** The URL and TLS options of an origin entry, whichever form it was written in. */
export function originOf(entry: OriginEntry): { url: string; insecure: boolean } {
  return typeof entry === 'string'
    ? { url: entry, insecure: false }
    : { url: entry.url, insecure: entry.tls.insecure };
}

/** TLS options on an http:// upstream would mean nothing: say so rather than ignore them. */
export function tlsNeedsHttps(
  upstream: { url?: string; tls?: { insecure?: boolean } },
  path: string,
  problems: Problem[],
): void {
  if (upstream.tls?.insecure && typeof upstream.url === 'string' && !upstream.url.startsWith('https:'))
    problems.push({
      path: `${path}.tls.insecure`,
      message: `only applies to https:// upstreams (${upstream.url})`,
    });
}
