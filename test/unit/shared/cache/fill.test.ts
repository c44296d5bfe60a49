// Fill: each consumer takes the body at its own pace; while storing, the fill reads on and keeps
// everything; while passing through, it waits for the slowest consumer and keeps only what a
// consumer still needs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fill, type FillConsumer } from '../../../../shared/cache/fill.js';
import { StrataError } from '../../../../shared/errors.js';

/** A consumer that takes `capacity` bytes, then asks for backpressure until drain() is called. */
class Consumer implements FillConsumer {
  readonly chunks: Buffer[] = [];
  ended = false;
  failed: StrataError | undefined;
  private queued = 0;
  private onDrain: (() => void) | undefined;

  constructor(private readonly capacity = Infinity) {}

  write(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.queued += chunk.length;
    return this.queued < this.capacity;
  }
  end(): void {
    this.ended = true;
  }
  fail(err: StrataError): void {
    this.failed = err;
  }
  drained(): Promise<void> {
    return new Promise((resolve) => (this.onDrain = resolve));
  }
  /** The client took what was queued. */
  drain(): void {
    this.queued = 0;
    const resolve = this.onDrain;
    this.onDrain = undefined;
    resolve?.();
  }
  get body(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('while storing, a slow consumer is skipped until it drains, then catches up in order', async () => {
  const fill = new Fill('k');
  const fast = new Consumer();
  const slow = new Consumer(2);
  fill.subscribe(fast, true);
  fill.subscribe(slow);
  for (const part of ['ab', 'cd', 'ef']) assert.equal(fill.push(Buffer.from(part)), true);
  assert.equal(fast.body, 'abcdef');
  assert.equal(slow.body, 'ab', 'nothing more is written to a consumer that asked for backpressure');
  const stored = fill.finish(1024);
  assert.equal(stored?.buffer?.toString(), 'abcdef');
  assert.ok(fast.ended);
  assert.ok(!slow.ended);
  for (let i = 0; i < 3; i++) {
    slow.drain();
    await tick();
  }
  assert.equal(slow.body, 'abcdef');
  assert.ok(slow.ended);
});

test('a consumer joining late gets what arrived so far at its own pace, then follows live', async () => {
  const fill = new Fill('k');
  fill.subscribe(new Consumer(), true);
  // While storing, push never waits.
  assert.equal(fill.push(Buffer.from('12')), true);
  assert.equal(fill.push(Buffer.from('34')), true);
  const late = new Consumer(2);
  fill.subscribe(late);
  assert.equal(late.body, '12');
  late.drain();
  await tick();
  assert.equal(late.body, '1234');
  late.drain();
  await tick();
  assert.equal(fill.push(Buffer.from('56')), true);
  assert.equal(late.body, '123456');
});

test('while passing through, push waits for the slowest consumer and keeps only what it still needs', async () => {
  const fill = new Fill('k');
  const fast = new Consumer();
  const slow = new Consumer(2);
  fill.subscribe(fast, true);
  fill.subscribe(slow);
  fill.pass();
  assert.equal(fill.push(Buffer.from('ab')), true, 'both took it: nothing to wait for');
  const waiting = fill.push(Buffer.from('cd'));
  assert.ok(waiting instanceof Promise, 'the slow consumer has not taken it yet');
  let settled = false;
  void waiting.then(() => (settled = true));
  await tick();
  assert.equal(settled, false);
  slow.drain();
  await tick();
  assert.equal(settled, true);
  assert.equal(slow.body, 'abcd');
  assert.equal(fill.finish(1024), undefined, 'nothing is stored');
  assert.ok(fast.ended);
  // The slow one asked for backpressure again on its last chunk: it ends once it drains.
  slow.drain();
  await tick();
  assert.ok(slow.ended);
});

/** A pass-through whose only consumer took 'a', asked for backpressure, and holds up 'b'. */
function heldUpPassThrough(): { fill: Fill; slow: Consumer; waiting: Promise<void> } {
  const fill = new Fill('k');
  const slow = new Consumer(1);
  fill.subscribe(slow, true);
  fill.pass();
  assert.equal(fill.push(Buffer.from('a')), true, 'taken, though it asked for backpressure');
  const waiting = fill.push(Buffer.from('b'));
  assert.ok(waiting instanceof Promise);
  return { fill, slow, waiting };
}

test('a slow consumer that leaves no longer holds up a pass-through', async () => {
  const { fill, slow, waiting } = heldUpPassThrough();
  fill.unsubscribe(slow);
  await waiting;
});

test('a failed fill fails every consumer, waiting ones included, and releases push', async () => {
  const { fill, slow, waiting } = heldUpPassThrough();
  const err = new StrataError('UPSTREAM_RESET');
  fill.fail(err);
  await waiting;
  assert.equal(slow.failed, err);
  slow.drain();
  await tick();
  assert.equal(slow.body, 'a', 'nothing is written after the failure');
});
