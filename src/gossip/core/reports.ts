/**
 * Rate-limited reports (hostile or misconfigured peers must not flood a log): at most one
 * line per code per `gapMs`, the next one saying how many were held back. Time is given.
 */
export class RateLimitedReports {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly gapMs = 10_000) {}

  /** The line to report now, or null when this code was reported too recently. */
  report(code: string, message: string, now: number): string | null {
    const last = this.last.get(code);
    if (last && now - last.at < this.gapMs) {
      last.suppressed++;
      return null;
    }
    const held = last && last.suppressed > 0 ? ` (${last.suppressed} more since the last report)` : '';
    this.last.set(code, { at: now, suppressed: 0 });
    return message + held;
  }
}
