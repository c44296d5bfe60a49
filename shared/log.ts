// Structured JSON logs (pino) with fixed field names: reqId, code, peer, key, ms. Every line of a
// node, pino's and the access log's, goes through one LineWriter, so they stay whole and in order.

import { pino, type Logger } from 'pino';
import { LineWriter } from './line-writer.js';

export type { Logger };

export interface LogOptions {
  level: string;
  /** Node id, added to every line. */
  node: string;
  /** File descriptor the lines go to (default 1, stdout). */
  fd?: number;
  /** The worker process's index, added to every line (absent: the node runs in one process). */
  worker?: number;
}

export interface Logging {
  log: Logger;
  writer: LineWriter;
}

export function createLogging(options: LogOptions): Logging {
  // Workers share stdout: their writes must not interleave mid-line.
  const writer = new LineWriter(options.fd ?? 1, { atomicWrites: options.worker !== undefined });
  const log = pino(
    {
      level: options.level,
      base:
        options.worker === undefined
          ? { node: options.node }
          : { node: options.node, worker: options.worker },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // pino calls write() per line and flushSync() from logger.flush().
    {
      write: (line: string) => writer.write(line),
      flush: (cb?: () => void) => {
        writer.flush();
        cb?.();
      },
    } as pino.DestinationStream,
  );
  return { log, writer };
}
