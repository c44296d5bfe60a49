// Lifecycle of every long-lived part: services start in order and stop in reverse,
// and stop() is safe to call on a service whose start() failed or never ran.

export interface Service {
  readonly name: string;
  start(): Promise<void>;
  /** Stops accepting work and drains what is in flight until the deadline (ms since epoch). */
  stop(deadlineMs: number): Promise<void>;
}

export class ServiceGroup {
  private readonly started: Service[] = [];

  constructor(private readonly services: readonly Service[]) {}

  /** Starts each service in order; on failure stops the ones already started and rethrows. */
  async start(): Promise<void> {
    for (const service of this.services) {
      try {
        await service.start();
      } catch (err) {
        await this.stop(Date.now() + 1000);
        throw err;
      }
      this.started.push(service);
    }
  }

  /** Stops started services in reverse order; one failing does not keep the others running. */
  async stop(deadlineMs: number): Promise<void> {
    const errors: unknown[] = [];
    while (this.started.length > 0) {
      const service = this.started.pop()!;
      try {
        await service.stop(deadlineMs);
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'services failed to stop');
  }
}
