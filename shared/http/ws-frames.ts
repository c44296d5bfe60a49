// WebSocket frame boundaries (RFC 6455 §5.2) in a byte stream that is otherwise only passed
// through: the proxy never decodes payloads, but it must know where a frame ends to put a Close
// frame of its own between two frames when it shuts down, and see the peer's Close.

import { randomBytes } from 'node:crypto';

/** RFC 6455 §7.4.1: 1001 "going away", such as a server going down. */
export const goingAway = 1001;

const opcodeClose = 0x8;

/** Tracks where frames start and end in one direction of a tunnel; O(1) per frame, not per byte. */
export class FrameScanner {
  /** Header bytes gathered so far (a header is 2 to 14 bytes and may span chunks). */
  private readonly header = Buffer.alloc(14);
  private have = 0;
  /** Payload bytes of the current frame still to pass; -1 while reading a header. */
  private remaining = -1;
  private opcode = 0;
  /** Whether a complete Close frame went by. */
  sawClose = false;
  /** A frame length past 2^53 bytes (or a malformed header): the stream is not WebSocket. */
  broken = false;

  /** Whether the bytes scanned so far end exactly at a frame boundary. */
  get atBoundary(): boolean {
    return this.remaining === -1 && this.have === 0;
  }

  /**
   * Scans `chunk` from `start`; with `stopAtBoundary`, stops at the first frame boundary reached
   * (start itself, when already at one). Returns the offset where scanning stopped.
   */
  scan(chunk: Buffer, start = 0, stopAtBoundary = false): number {
    let i = start;
    while (i < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return i;
      if (this.remaining >= 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.endFrame();
        continue;
      }
      this.header[this.have++] = chunk[i++];
      const needed = this.headerLength();
      if (needed !== undefined && this.have === needed) this.startPayload();
    }
    return stopAtBoundary && this.atBoundary ? chunk.length : i;
  }

  /** The full header length once the first two bytes are in, else undefined. */
  private headerLength(): number | undefined {
    if (this.have < 2) return undefined;
    const len7 = this.header[1] & 0x7f;
    const masked = (this.header[1] & 0x80) !== 0;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
  }

  private startPayload(): void {
    const len7 = this.header[1] & 0x7f;
    let length = len7;
    if (len7 === 126) length = this.header.readUInt16BE(2);
    else if (len7 === 127) {
      const big = this.header.readBigUInt64BE(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) this.broken = true;
      length = Number(big);
    }
    this.opcode = this.header[0] & 0x0f;
    this.have = 0;
    this.remaining = length;
    if (length === 0) this.endFrame();
  }

  private endFrame(): void {
    this.remaining = -1;
    if (this.opcode === opcodeClose) this.sawClose = true;
  }
}

/**
 * A Close frame with a status code (RFC 6455 §5.5.1). Frames towards a server are masked
 * (§5.3: a client MUST mask every frame it sends); frames towards a client are not.
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  const head = Buffer.from([0x80 | opcodeClose, (masked ? 0x80 : 0) | payload.length]);
  if (!masked) return Buffer.concat([head, payload]);
  // §5.3: the masking key MUST come from a strong source of entropy.
  const mask = randomBytes(4);
  for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
  return Buffer.concat([head, mask, payload]);
}
