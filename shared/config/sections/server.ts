// The client-facing listener's timeouts and limits.

import { bool, duration, int, obj, refine, size, withDefault } from '../schema.js';

export const serverSection = refine(
  obj({
    headersTimeout: withDefault(duration(100), 10_000),
    requestTimeout: withDefault(duration(100), 60_000),
    keepAliveTimeout: withDefault(duration(100), 5_000),
    /** A client must take some response bytes at least this often while a response is sent. */
    sendTimeout: withDefault(duration(100), 60_000),
    maxHeaderBytes: withDefault(size(1024), 16 * 1024),
    maxHeaders: withDefault(int(8, 1000), 100),
    maxBodyBytes: withDefault(size(0), 64 * 1024 ** 2),
    maxConnections: withDefault(int(1, 1_000_000), 10_000),
    /**
     * Check each connection's request framing byte by byte before Node's parser (framing.ts):
     * chunk sizes and extensions. Costs CPU per request; false leaves them to llhttp alone.
     */
    checkFraming: withDefault(bool(), true),
    /** HTTP/2 on the HTTPS listener (listen.https.http2). */
    http2: obj({
      /** SETTINGS_MAX_CONCURRENT_STREAMS: requests one connection may have open at once. */
      maxConcurrentStreams: withDefault(int(1, 10_000), 100),
      /**
       * Streams the client may reset (RST_STREAM) per connection within resetWindow; one more
       * closes the connection with GOAWAY ENHANCE_YOUR_CALM (HTTP/2 rapid reset, CVE-2023-44487).
       */
      maxResets: withDefault(int(1, 100_000), 200),
      resetWindow: withDefault(duration(100), 10_000),
      /** A connection with no frames either way for this long is closed (GOAWAY). */
      idleTimeout: withDefault(duration(100), 120_000),
    }),
  }),
  (server, path, problems) => {
    if (server.headersTimeout !== undefined && server.requestTimeout < server.headersTimeout)
      problems.push({
        path: `${path}.headersTimeout`,
        message: `must not exceed server.requestTimeout (${server.headersTimeout}ms > ${server.requestTimeout}ms)`,
      });
    return server;
  },
);
