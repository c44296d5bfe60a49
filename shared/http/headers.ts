// Header handling for a proxy: hop-by-hop removal (RFC 9110 §7.6.1), Via and the
// X-Forwarded-* / Forwarded family on the way up, and the fields Strata consumes on the way down.

export type HeaderValue = string | string[];
export type HeaderMap = Record<string, HeaderValue | undefined>;

/**
 * Response fields as a flat list, the shape node:http writes: [name, value, name, value, ...],
 * lowercase names in the order received, a name repeated for each of its field lines. Stored
 * objects keep their fields this way: one array per object, not one per field.
 */
export type FieldList = string[];

/** The fields of a map as a flat list, without `dropped` names and those named in Connection. */
export function fieldList(headers: HeaderMap, dropped: ReadonlySet<string>): FieldList {
  const connection = connectionTokens(headers.connection);
  const out: FieldList = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || dropped.has(name) || connection?.has(name)) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  return out;
}

/** A flat list as a map (a repeated name becomes an array), for code that reads fields by name. */
export function fieldMap(list: FieldList): HeaderMap {
  const map: HeaderMap = {};
  for (let i = 0; i < list.length; i += 2) {
    const prior = map[list[i]];
    map[list[i]] =
      prior === undefined
        ? list[i + 1]
        : Array.isArray(prior)
          ? [...prior, list[i + 1]]
          : [prior, list[i + 1]];
  }
  return map;
}

/** The first value of a field in a flat list. */
export function fieldValue(list: readonly string[], name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

/** The list without the fields whose names are in `names`. */
export function withoutFields(list: readonly string[], names: ReadonlySet<string>): FieldList {
  const out: FieldList = [];
  for (let i = 0; i < list.length; i += 2) if (!names.has(list[i])) out.push(list[i], list[i + 1]);
  return out;
}

/** RFC 9110 §7.6.1 hop-by-hop fields, plus legacy ones that must never cross a proxy. */
export const hopByHop: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Fields that are Strata's instructions from the origin and never reach clients (ESI 1.0).
 * CDN-Cache-Control is not one of them: RFC 9213 §3 targets every CDN cache on the path, and
 * another CDN, or an edge behind a shield, needs it as much as this node does.
 */
export const surrogateOnly: ReadonlySet<string> = new Set([
  'surrogate-control',
  'surrogate-key',
  'cache-tag',
]);

/**
 * Request fields about this hop that are answered here, never forwarded: the edge (Node's
 * server) sends its own 100 Continue, and the upstream client refuses to send Expect.
 */
const answeredHere: ReadonlySet<string> = new Set(['expect']);

/**
 * Request fields that make many origins (and frameworks in front of them) serve another URL or
 * act as another method, without being part of the URL the cache keys on: forwarded, a request
 * for /page with X-Original-URL: /admin gets /admin stored as /page for every later client
 * (docs/operations.md). Removed from requests unless the site allows one (sites[].allowOverrideField),
 * which then becomes part of the cache key through Vary (UpstreamClient).
 */
export const overrideFields: ReadonlySet<string> = new Set([
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

const forwardedFields: ReadonlySet<string> = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
]);

/** Lowercased field names listed in Connection, which are hop-by-hop for this message. */
export function connectionTokens(value: HeaderValue | undefined): Set<string> | undefined {
  // The usual values name no field beyond the hop-by-hop ones removed anyway ("close" is a
  // connection option, not a field: RFC 9110 §7.6.1): no set to build for nearly every message.
  if (value === undefined || value === 'keep-alive' || value === 'close') return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  const tokens = new Set<string>();
  for (const t of text.split(',')) {
    const name = t.trim().toLowerCase();
    if (name) tokens.add(name);
  }
  return tokens;
}

export function firstValue(value: HeaderValue | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Joins a field's values as one comma-separated line (RFC 9110 §5.3). */
export function joined(value: HeaderValue | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

export interface ForwardingInfo {
  clientIp: string;
  proto: 'http' | 'https';
  host: string;
  trustForwarded: boolean;
  via: string;
  /** This node's entry in CDN-Loop (RFC 8586), added to what the request carried. */
  cdnLoop: string;
  /** The one override field the site lets through (lowercase), if any; the others are removed. */
  allowedOverride?: string;
}

/**
 * Builds the upstream request headers from the client's raw headers: drops hop-by-hop
 * fields and those named in Connection, adds Via, CDN-Loop and the forwarding fields. Host
 * is the client's; the sender replaces it for a peer that wants another.
 */
export function upstreamRequestHeaders(raw: readonly string[], info: ForwardingInfo): Record<string, string> {
  const out: Record<string, string> = {};
  let connection: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection') {
      connection = connectionTokens(raw[i + 1]);
    }
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    // HTTP/2 pseudo-fields (":path", ":authority", ...) describe this hop's request, not fields.
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    if (hopByHop.has(name) || connection?.has(name) || answeredHere.has(name) || name === 'host') continue;
    if (!info.trustForwarded && forwardedFields.has(name)) continue;
    if (overrideFields.has(name) && name !== info.allowedOverride) continue;
    const prev = out[name];
    // RFC 9110 §5.3: repeated fields combine with commas; Cookie uses "; " (RFC 6265 §5.4).
    out[name] = prev === undefined ? raw[i + 1] : `${prev}${name === 'cookie' ? '; ' : ', '}${raw[i + 1]}`;
  }
  out.host = info.host;
  out.via = out.via ? `${out.via}, ${info.via}` : info.via;
  const clientIp = unmapped(info.clientIp);
  const xff = out['x-forwarded-for'];
  out['x-forwarded-for'] = xff ? `${xff}, ${clientIp}` : clientIp;
  out['x-forwarded-proto'] ??= info.proto;
  out['x-forwarded-host'] ??= info.host;
  // RFC 7239 §6: an IPv6 node is "[addr]" and, containing ':', must be a quoted-string.
  const node = clientIp.includes(':') ? `"[${clientIp}]"` : clientIp;
  const element = `for=${node};host=${quoteIfNeeded(info.host)};proto=${info.proto}`;
  out.forwarded = out.forwarded ? `${out.forwarded}, ${element}` : element;
  // RFC 8586 §2: an intermediary adds its own entry and keeps those already present.
  out['cdn-loop'] = out['cdn-loop'] ? `${out['cdn-loop']}, ${info.cdnLoop}` : info.cdnLoop;
  return out;
}

/**
 * The upstream request headers of a request a sibling worker sent over the hop (it added the
 * forwarding fields, Via and CDN-Loop already): its fields as they are, without hop-by-hop ones
 * and the hop's own `hopField`.
 */
export function hopRequestHeaders(
  raw: readonly string[],
  host: string,
  hopField: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (hopByHop.has(name) || name === 'host' || name === hopField) continue;
    const prev = out[name];
    out[name] = prev === undefined ? raw[i + 1] : `${prev}${name === 'cookie' ? '; ' : ', '}${raw[i + 1]}`;
  }
  out.host = host;
  return out;
}

/**
 * Adds `name` to a response's Vary (unless it varies on everything already), so that the value
 * of a request field the response depends on selects a stored variant (RFC 9110 §12.5.5).
 */
export function addVary(headers: HeaderMap, name: string): void {
  const vary = joined(headers.vary);
  if (vary === undefined || vary.trim() === '') headers.vary = name;
  else if (!vary.split(',').some((v) => ['*', name].includes(v.trim().toLowerCase())))
    headers.vary = `${vary}, ${name}`;
}

/** An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; origins expect a.b.c.d. */
function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

function quoteIfNeeded(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * Fields a client never sees from upstream: hop-by-hop ones, Strata's surrogate fields, and
 * Strata-Error, which is only ever a node's word about its own failure: one from upstream (a
 * shield's, or an origin's pretending to be one) must not make the next tier blame this node.
 */
const notForClients: ReadonlySet<string> = new Set([...hopByHop, ...surrogateOnly, 'strata-error']);

/**
 * The fields a node never sends downstream: notForClients and its own `hidden` ones. Runs once
 * per node. `surrogate: 'pass'` keeps Strata's surrogate fields (a shield's answers go to edges,
 * which index an object's tags for purges and obey Surrogate-Control as the shield does).
 */
export function notDownstream(
  hidden: readonly string[],
  surrogate: 'pass' | 'remove' = 'remove',
): ReadonlySet<string> {
  if (surrogate === 'remove')
    return hidden.length === 0 ? notForClients : new Set([...notForClients, ...hidden]);
  return new Set([...notForClients, ...hidden].filter((name) => !surrogateOnly.has(name)));
}

/**
 * The response fields a client may see: without hop-by-hop fields, those named in
 * Connection, Strata's surrogate fields and the node's own hidden ones (`dropped`, from
 * notDownstream). Names are lowercase, values as received.
 */
export function clientResponseHeaders(headers: HeaderMap, dropped = notForClients): FieldList {
  return fieldList(headers, dropped);
}
