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
