// A bounded byte ring: the last `capacity` bytes of a stream, addressed by absolute offsets (the
// count of bytes ever appended), so that a reader can ask for "everything since offset N" and
// learn how much of it was overwritten meanwhile. Pure: no I/O.

/** The last `capacity` bytes appended, and how many were appended in all. */
export class ByteRing {
  private readonly buf: Buffer;
  /** Bytes ever appended: the absolute offset just past the newest byte. */
  total = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, not ${capacity}`);
    this.buf = Buffer.alloc(capacity);
  }

  /** The oldest absolute offset still held. */
  get start(): number {
    return Math.max(0, this.total - this.capacity);
  }

  /** Append `chunk`, which comes after `skipped` bytes that were not kept (`chunk` must then
   *  fill the ring); only its last `capacity` bytes can be kept. */
  append(chunk: Uint8Array, skipped = 0): void {
    if (skipped > 0 && chunk.length < this.capacity) throw new RangeError("bytes skipped before a chunk that does not fill the ring");
    this.total += skipped;
    const n = chunk.length;
    if (n === 0) return;
    const cap = this.capacity;
    const src = n > cap ? chunk.subarray(n - cap) : chunk;
    const at = (this.total + (n - src.length)) % cap;
    const first = Math.min(src.length, cap - at);
    this.buf.set(src.subarray(0, first), at);
    if (first < src.length) this.buf.set(src.subarray(first), 0);
    this.total += n;
  }

  /** Append `n` bytes (at most `capacity`) that `fill` reads straight into the ring, one
   *  contiguous piece at a time (it returns how many it put there, or <= 0 to stop): a chunk
   *  read from a pipe needs no buffer of its own. Returns how many were appended. */
  appendFrom(n: number, fill: (dst: Buffer) => number): number {
    const cap = this.capacity;
    let done = 0;
    while (done < Math.min(n, cap)) {
      const at = this.total % cap;
      const r = fill(this.buf.subarray(at, Math.min(cap, at + Math.min(n, cap) - done)));
      if (r <= 0) break;
      this.total += r;
      done += r;
    }
    return done;
  }

  /** Count `n` bytes that passed without being kept (a ring-full follows them). */
  skip(n: number): void {
    this.total += n;
  }

  /** The newest byte, or -1 when empty. */
  last(): number {
    return this.total === 0 ? -1 : (this.buf[(this.total - 1) % this.capacity] as number);
  }

  /** A copy of the bytes from absolute offset `from` (clamped to what is held) to the newest. */
  since(from: number): Buffer {
    const begin = Math.min(Math.max(from, this.start), this.total);
    const len = this.total - begin;
    const out = Buffer.allocUnsafe(len);
    const at = begin % this.capacity;
    const first = Math.min(len, this.capacity - at);
    this.buf.copy(out, 0, at, at + first);
    if (first < len) this.buf.copy(out, first, 0, len - first);
    return out;
  }

  /** The absolute offset where the last `lines` lines held begin (a final unterminated line
   *  counts as one); `start` when fewer are held. */
  lineOffset(lines: number): number {
    if (lines <= 0) return this.total;
    const held = this.since(this.start);
    let end = held.length;
    if (end > 0 && held[end - 1] === 0x0a) end--;
    let found = 0;
    for (let i = end - 1; i >= 0; i--) {
      if (held[i] === 0x0a && ++found === lines) return this.start + i + 1;
    }
    return this.start;
  }
}
