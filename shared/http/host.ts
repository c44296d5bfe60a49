// Host normalisation, the one function the router, the cache key, the config and purges use:
// a host is compared lowercased, without a trailing dot and without its scheme's default port,
// so that `Example.test.`, `example.test:80` and `example.test` are one host everywhere.

/**
 * The canonical form of a Host value for `scheme` (default http): lowercased, the trailing dot
 * of a fully qualified name removed, and the default port (80 for http, 443 for https) removed.
 * Other ports are kept. IPv6 literals keep their brackets. `scheme: 'any'` removes both default
 * ports (a purge names a host without saying which scheme its objects were fetched with).
 */
export function normalizeHost(host: string, scheme: string = 'http'): string {
  const { name, port } = splitHost(host);
  if (port === undefined) return name;
  const defaultPort =
    port === '' ||
    (port === '80' && scheme !== 'https') ||
    (port === '443' && (scheme === 'https' || scheme === 'any'));
  return defaultPort ? name : `${name}:${port}`;
}

/** The canonical host name alone, without any port (what sites are routed by). */
export function hostName(host: string): string {
  return splitHost(host).name;
}

/** Splits `host[:port]` (or `[v6]:port`); the name lowercased without its trailing dot. */
function splitHost(host: string): { name: string; port: string | undefined } {
  let name = host;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end !== -1) {
      name = host.slice(0, end + 1);
      if (host.charCodeAt(end + 1) === 58 /* ':' */) port = host.slice(end + 2);
    }
  } else {
    const colon = host.lastIndexOf(':');
    if (colon !== -1) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
  }
  name = name.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  return { name, port };
}
