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
}

export interface Logging {
  log: Logger;
  writer: LineWriter;
}

export function createLogging(options: LogOptions): Logging {
  const writer = new LineWriter(options.fd ?? 1);
  const log = pino(
    {
      level: options.level,
      base: { node: options.node },
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
