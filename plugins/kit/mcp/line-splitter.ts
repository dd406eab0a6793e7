/**
 * Newline-delimited framing of a child's stdout, bounded: a line longer than the limit is an
 * error rather than a buffer that grows until the gateway runs out of memory (the SDK's own
 * ReadBuffer has no cap). Lines are decoded only once complete, so a multi-byte character split
 * across two reads arrives intact.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partBytes = 0;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: () => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    let newline = chunk.indexOf(10);
    while (newline >= 0) {
      const length = this.partBytes + newline - start;
      if (length > this.maxLineBytes) return this.overflow();
      let line: string;
      if (this.partBytes === 0) {
        line = chunk.toString('utf8', start, newline);
      } else {
        this.parts.push(chunk.subarray(start, newline));
        line = Buffer.concat(this.parts, length).toString('utf8');
        this.parts = [];
        this.partBytes = 0;
      }
      this.onLine(line);
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    if (start < chunk.length) {
      this.partBytes += chunk.length - start;
      if (this.partBytes > this.maxLineBytes) return this.overflow();
      this.parts.push(start === 0 ? chunk : chunk.subarray(start));
    }
  }

  private overflow(): void {
    this.parts = [];
    this.partBytes = 0;
    this.onOverflow();
  }
}
