// The bytes every bench object is made of: printable, deterministic, not all one value.

const pattern = Buffer.from('strata bench body 0123456789 abcdefghijklmnopqrstuvwxyz\n');

/** A body of exactly `size` bytes. */
export function benchBody(size: number): Buffer {
  return Buffer.alloc(size, pattern);
}
