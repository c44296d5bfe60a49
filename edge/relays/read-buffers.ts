// ReadBuffers: the memory TCP relay connections read their backend's bytes into (net.connect's
// onread), so that bytes moving through a busy connection are not read into a new buffer each
// time (an allocation outside the heap per read, and the collections that churn brings). Idle
// connections read into one small buffer the whole process shares, whose bytes are copied
// before they are written on (another socket reads into it next). A read that fills it makes
// the connection busy: it then reads into a large buffer of its own, lent from a free list,
// until a read fills less than a quarter of that, when the buffer goes back (unless a write of
// its bytes is still pending). So only connections that move bytes hold memory.

/** What the shared buffer holds: a read this large makes a connection busy. */
export const sharedReadBytes = 16 * 1024;
/** A busy connection's buffer: one read of up to this much per system call. */
export const busyReadBytes = 256 * 1024;
/** Buffers kept for the next busy connections; more returned are left to the collector. */
const maxFree = 16;

export class ReadBuffers {
  /** Read into by every idle connection; its bytes are copied before they are written on. */
  readonly shared = Buffer.allocUnsafe(sharedReadBytes);
  private readonly free: Buffer[] = [];

  /** A buffer for a connection that became busy. */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(busyReadBytes);
  }

  /** A busy buffer back from a connection that no longer needs it (no write of it pending). */
  give(buffer: Buffer): void {
    if (this.free.length < maxFree) this.free.push(buffer);
  }
}

/** The process's buffers: JavaScript runs one read callback at a time, so one set serves all relays. */
export const readBuffers = new ReadBuffers();
