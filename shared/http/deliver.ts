// Delivery: writes a stored object (hit, revalidated, stale) or a streaming fill to the client,
// answering conditional (304), range (206/416) and HEAD requests from what is stored.

import type { ServerResponse } from 'node:http';
import type { CachedObject, ObjectMeta, StoredBody } from '../cache/store.js';
import { CacheStatusFormatter, type Outcome } from '../cache/outcome.js';
import { notModified, rangeOf } from './conditional.js';
import type { RequestContext } from './context.js';
import type { FillConsumer } from '../cache/fill.js';
import { StrataError } from '../errors.js';
import {
  fieldList,
  fieldValue,
  hopByHop,
  notDownstream,
  withoutFields,
  type FieldList,
  type HeaderMap,
} from './headers.js';

/** Fields never sent with a 304 (RFC 9110 §15.4.5: it has no content). */
const notModifiedOmits: ReadonlySet<string> = new Set([
  'content-length',
  'content-range',
  'transfer-encoding',
]);

/** The fields of an upstream response a node may pass on: all but hop-by-hop ones (see Deliverer.stream). */
export function upstreamFields(headers: HeaderMap): FieldList {
  return fieldList(headers, hopByHop);
}

/** How a response is written for one kind of recipient: a client, or a sibling worker over the hop. */
interface Audience {
  /** Fields never sent to it. */
  dropped: ReadonlySet<string>;
  /** This node's Via entry, or undefined over the hop (the node is one hop, whichever worker). */
  via: string | undefined;
  /** Flat header lists per stored meta, with Age and Cache-Status slots filled per response. */
  wires: WeakMap<ObjectMeta, string[]>;
}

export class Deliverer {
  private readonly cacheStatus: CacheStatusFormatter;
  private readonly clients: Audience;
  /**
   * A sibling worker stores what it gets like this worker does, so it gets every field (the
   * surrogate ones and the hidden ones are dropped when it answers its client).
   */
  private readonly siblings: Audience = { dropped: new Set(), via: undefined, wires: new WeakMap() };

  /**
   * `hidden`: lowercase names of fields this node keeps from clients beyond the usual ones;
   * `surrogate`: whether Surrogate-Key, Cache-Tag and Surrogate-Control go downstream (a shield's
   * 'pass') or not (an edge's 'remove', the default).
   */
  constructor(
    nodeId: string,
    via: string,
    hidden: readonly string[] = [],
    surrogate: 'pass' | 'remove' = 'remove',
  ) {
    this.cacheStatus = new CacheStatusFormatter(nodeId);
    this.clients = { dropped: notDownstream(hidden, surrogate), via, wires: new WeakMap() };
  }

  /**
   * Builds once per stored object: [name, value, ...stored fields, 'via', v, 'age', _, 'cache-status', _].
   * Reused by every hit on the object: only the two last values change.
   */
  private wire(meta: ObjectMeta, to: Audience): string[] {
    let wire = to.wires.get(meta);
    if (wire) return wire;
    const fields = meta.headers;
    wire = [];
    let via: string | undefined;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i];
      if (to.dropped.has(name)) continue;
      if (name === 'via') via = combine(via, fields[i + 1]);
      else wire.push(name, fields[i + 1]);
    }
    via = to.via === undefined ? via : combine(via, to.via);
    if (via !== undefined) wire.push('via', via);
    wire.push('age', '0', 'cache-status', '');
    to.wires.set(meta, wire);
    return wire;
  }

  /**
   * Sends a stored object; `ageSec` is its current age. When a body read from a slower tier
   * turns out damaged before anything was sent, `unreadable` is called instead, so the request
   * can become a miss rather than a broken response.
   */
  object(
    ctx: RequestContext,
    object: CachedObject,
    ageSec: number,
    unreadable?: (ctx: RequestContext, err: StrataError) => void,
  ): void {
    const { res, req } = ctx;
    const meta = object.meta;
    ctx.outcome.ttlSec = meta.lifetimeSec - ageSec;
    const wire = this.wire(meta, ctx.listener.hop ? this.siblings : this.clients);
    const n = wire.length;
    wire[n - 3] = String(Math.floor(ageSec));
    wire[n - 1] = this.cacheStatus.format(ctx.outcome);
    // Fields the request adds (HSTS): a copy, as the shared array serves every other hit.
    const fields = ctx.addFields ? wire.concat(ctx.addFields) : wire;
    const conditional =
      req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined;
    if (conditional && meta.status === 200 && notModified(req.headers, meta.etag, modifiedOf(meta))) {
      res.writeHead(304, withoutFields(fields, notModifiedOmits));
      res.end();
      return;
    }
    const body = object.body;
    const size = body.size;
    if (req.headers.range !== undefined && meta.status === 200) {
      const range = rangeOf(req.headers, size, meta.etag, meta.lastModified);
      if (range.kind === 'unsatisfiable') {
        const headers = withoutFields(fields, notModifiedOmits);
        headers.push('content-range', `bytes */${size}`, 'content-length', '0');
        res.writeHead(416, headers);
        res.end();
        return;
      }
      if (range.kind === 'partial') {
        const headers = withoutFields(fields, notModifiedOmits);
        headers.push('content-range', `bytes ${range.start}-${range.end}/${size}`);
        headers.push('content-length', String(range.end - range.start + 1));
        this.send(ctx, 206, headers, body, range.start, range.end, unreadable);
        return;
      }
    }
    this.send(ctx, meta.status, fields, body, 0, size - 1, unreadable);
  }

  /**
   * Sends the head and body bytes start..end: one write from memory, or from a slower tier a
   * stream with backpressure whose first chunk is read (and checked) before the head is sent.
   */
  private send(
    ctx: RequestContext,
    status: number,
    headers: string[],
    body: StoredBody,
    start: number,
    end: number,
    unreadable: ((ctx: RequestContext, err: StrataError) => void) | undefined,
  ): void {
    const res = ctx.res;
    if (ctx.method === 'HEAD' || end < start) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    if (body.buffer) {
      const part =
        start === 0 && end === body.buffer.length - 1 ? body.buffer : body.buffer.subarray(start, end + 1);
      ctx.bytes = part.length;
      res.writeHead(status, headers);
      res.end(part);
      return;
    }
    // The head waits for the first chunk, and the shared wire array changes with every hit.
    const head = headers.slice();
    void (async () => {
      const chunks = body.read(start, end)[Symbol.asyncIterator]();
      let first: IteratorResult<Buffer>;
      try {
        first = await chunks.next();
      } catch (e) {
        const err = StrataError.from(e);
        if (unreadable && !res.headersSent) return unreadable(ctx, err);
        return res.destroy();
      }
      if (res.destroyed) return void chunks.return?.();
      res.writeHead(status, head);
      const consumer = clientConsumer(ctx);
      try {
        for (let r = first; !r.done; r = await chunks.next()) {
          if (res.destroyed) return void chunks.return?.();
          if (!consumer.write(r.value)) await consumer.drained();
        }
        consumer.end();
      } catch (err) {
        // Damage found mid-body: the status line is gone, so the connection is cut.
        consumer.fail(StrataError.from(err));
      }
    })();
  }

  /**
   * Starts a streamed response from upstream (a miss or pass); `headers` are upstreamFields().
   * Returns the consumer that receives the body, or undefined when the client is answered
   * without one (304, HEAD).
   */
  stream(
    ctx: RequestContext,
    status: number,
    headers: FieldList,
    outcome: Outcome,
    validators?: { etag?: string; lastModified?: string },
    siblingStatus?: string,
  ): FillConsumer | undefined {
    const { res, req } = ctx;
    // The client left while the origin was answering: nobody to send to.
    if (res.destroyed) return undefined;
    const to = ctx.listener.hop ? this.siblings : this.clients;
    const wire: string[] = [];
    let via: string | undefined;
    let upstreamStatus: string | undefined;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      const value = headers[i + 1];
      if (to.dropped.has(name)) continue;
      if (name === 'via') via = combine(via, value);
      else if (name === 'cache-status') upstreamStatus = combine(upstreamStatus, value);
      else wire.push(name, value);
    }
    // The answer came from the worker of this node that owns the key: its member is the
    // node's (one member per cache), and what it did is what the node did.
    if (siblingStatus !== undefined) outcome.fromSibling(siblingStatus);
    const own = siblingStatus ?? this.cacheStatus.format(outcome);
    via = to.via === undefined ? via : combine(via, to.via);
    if (via !== undefined) wire.push('via', via);
    wire.push('cache-status', upstreamStatus === undefined ? own : combine(upstreamStatus, own));
    if (ctx.addFields) wire.push(...ctx.addFields);
    if (
      validators &&
      status === 200 &&
      (req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined) &&
      notModified(req.headers, validators.etag, validators.lastModified)
    ) {
      res.writeHead(304, withoutFields(wire, notModifiedOmits));
      res.end();
      return undefined;
    }
    res.writeHead(status, wire);
    if (ctx.method === 'HEAD' || status === 204 || status === 304) {
      res.end();
      return undefined;
    }
    return clientConsumer(ctx);
  }
}

/** RFC 9110 §5.3: field lines of one list-based field combine as one value, comma-separated. */
function combine(prior: string | undefined, value: string): string {
  return prior === undefined ? value : `${prior}, ${value}`;
}

/**
 * RFC 9111 §4.3.2: If-Modified-Since is evaluated against Last-Modified, or else the stored
 * response's Date, or else the time it was received.
 */
function modifiedOf(meta: ObjectMeta): string {
  if (meta.lastModified !== undefined) return meta.lastModified;
  return fieldValue(meta.headers, 'date') ?? new Date(meta.responseTimeMs).toUTCString();
}

/** A client response as a fill consumer. A failed body cuts the connection (never a short 200). */
export function clientConsumer(ctx: RequestContext): FillConsumer {
  const res: ServerResponse = ctx.res;
  return {
    write(chunk) {
      if (res.destroyed) return true;
      ctx.bytes += chunk.length;
      return res.write(chunk);
    },
    end() {
      res.end();
    },
    fail(_err: StrataError) {
      // The status line is gone already; cutting the connection is the only honest signal.
      res.destroy();
    },
    drained() {
      if (res.destroyed || !res.writableNeedDrain) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    },
  };
}
