// AccessLog: one JSON line per request, built from a template instead of through pino, since
// it runs for every request (the hit path). Field names and shape match the other log lines.

import type { LineWriter } from './line-writer.js';
import type { RequestContext } from './http/context.js';

/** Characters JSON strings must escape (control characters are exactly what this looks for). */
// eslint-disable-next-line no-control-regex
const needsEscape = /["\\\u0000-\u001f\u2028\u2029]/;

function jsonString(value: string): string {
  return needsEscape.test(value) ? JSON.stringify(value) : `"${value}"`;
}

export class AccessLog {
  private readonly prefix: string;
  private lastMs = 0;
  private lastTime = '';

  constructor(
    private readonly writer: LineWriter,
    node: string,
  ) {
    this.prefix = `{"level":"info","node":${JSON.stringify(node)},"time":"`;
  }

  /** Runs once per finished request, with its final status and cache outcome label. */
  record(ctx: RequestContext, status: number, cache: string): void {
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      this.lastTime = new Date(now).toISOString();
    }
    const ms = Math.round((performance.now() - ctx.startMs) * 10) / 10;
    // method and reqId are tokens (checked by the HTTP parser / made here): no escaping needed.
    let line = `${this.prefix}${this.lastTime}","reqId":"${ctx.id}","method":"${ctx.method}","host":${jsonString(ctx.host)},"path":${jsonString(ctx.target)},"status":${status},"cache":"${cache}","bytes":${ctx.bytes},"ms":${ms}`;
    if (ctx.upstreamMs !== undefined) line += `,"upstreamMs":${Math.round(ctx.upstreamMs * 10) / 10}`;
    if (ctx.res.destroyed && !ctx.res.writableFinished) line += ',"aborted":true';
    this.writer.write(line + ',"msg":"request"}\n');
  }
}
