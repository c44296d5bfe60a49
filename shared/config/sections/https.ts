// HTTPS: the TLS listener (listen.https, its certificates) and each site's https options
// (redirect from HTTP, HSTS).

import { bool, duration, int, list, obj, oneOf, optional, refine, str, withDefault } from '../schema.js';
import { hostPort } from '../fields.js';

/** A certificate and its key, as PEM files; `chain` adds intermediates sent after the certificate. */
export const certificateFiles = obj({
  cert: str({ hint: 'a path to a PEM certificate file' }),
  key: str({ hint: 'a path to a PEM private key file' }),
  chain: optional(str({ hint: 'a path to a PEM file of intermediate certificates' })),
});

/** The TLS listener; absent: no HTTPS. */
export const httpsListener = obj({
  address: hostPort,
  /**
   * Certificates picked by the client's SNI name, matched against the names each certificate
   * holds (subjectAltName DNS names, exact or *.wildcard; the common name when it has none).
   */
  certificates: list(certificateFiles, { min: 1, what: 'certificates, each with cert and key' }),
  /** For clients without SNI, or whose name no certificate holds; default: the first certificate. */
  defaultCertificate: optional(certificateFiles),
  /** Lowest TLS version accepted; TLS 1.0 and 1.1 are never accepted. */
  minVersion: withDefault(oneOf('TLSv1.2', 'TLSv1.3'), 'TLSv1.2'),
  /** Offer HTTP/2 by ALPN (h2, then http/1.1); false: HTTP/1.1 only. */
  http2: withDefault(bool(), true),
  /** How often the certificate files are checked for changes (they also reload on SIGHUP). */
  reloadCheck: withDefault(duration(100), 10_000),
  /** Session ticket keys are replaced this often; tickets issued before a change stop resuming. */
  ticketRotation: withDefault(duration(60_000), 3_600_000),
  /** The TLS handshake must finish within this. */
  handshakeTimeout: withDefault(duration(100), 10_000),
});

/** RFC 6797 Strict-Transport-Security, sent on HTTPS responses only. */
const hsts = refine(
  obj({
    /** max-age; 0 tells browsers to forget the policy. */
    maxAge: duration(),
    includeSubDomains: withDefault(bool(), false),
    preload: withDefault(bool(), false),
  }),
  (h, path, problems) => {
    // hstspreload.org's requirements: the preload list refuses anything less.
    if (h.preload && (!h.includeSubDomains || (h.maxAge !== undefined && h.maxAge < 31_536_000_000)))
      problems.push({
        path: `${path}.preload`,
        message:
          'needs includeSubDomains: true and a maxAge of at least 365d (the preload list requires both)',
      });
    return h;
  },
);

/** A site's https options. */
export const siteHttps = obj({
  /** Answer HTTP requests with a 308 to the same URL on https:// (not ACME http-01 challenges). */
  redirect: withDefault(bool(), false),
  /** The port of the redirect's https:// URL (443 is left out of it). */
  port: withDefault(int(1, 65535), 443),
  /** Strict-Transport-Security on this site's HTTPS responses; absent: none. */
  hsts: optional(hsts),
});
