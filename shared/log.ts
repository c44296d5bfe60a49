// Structured JSON logs (pino) with fixed field names: reqId, code, peer, key, ms.

import { pino, type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  level: string;
  /** Node id, added to every line. */
  node: string;
  /** Where lines go: a file descriptor (default 1, stdout) or a path. */
  destination?: number | string;
}

export function createLogger(options: LogOptions): Logger {
  const destination = pino.destination({
    dest: options.destination ?? 1,
    sync: false,
  });
  return pino(
    {
      level: options.level,
      base: { node: options.node },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
