/**
 * Bounds how many lines one kind of event may write per second. Under an outage or an attack the
 * same failure repeats for every request; the log must stay readable (and cheap) while still
 * saying how much was left out.
 */
export class LogThrottle {
  private readonly windows = new Map<string, { start: number; lines: number; suppressed: number }>();

  constructor(
    private readonly perSecond = 10,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Whether a line for `key` may be written now; when it may, `suppressed` counts the lines left
   * out in the previous window (say so in the line).
   */
  take(key: string): { ok: boolean; suppressed: number } {
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || now - window.start >= 1000) {
      const suppressed = window?.suppressed ?? 0;
      window = { start: now, lines: 0, suppressed: 0 };
      this.windows.set(key, window);
      if (this.windows.size > 1000) this.windows.clear();
      window.lines = 1;
      return { ok: true, suppressed };
    }
    if (window.lines < this.perSecond) {
      window.lines += 1;
      return { ok: true, suppressed: 0 };
    }
    window.suppressed += 1;
    return { ok: false, suppressed: 0 };
  }
}
