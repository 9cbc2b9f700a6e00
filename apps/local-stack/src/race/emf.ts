/**
 * CloudWatch Embedded Metric Format lines (what Powertools Metrics prints) read back from a function's output:
 * the local stand-in for CloudWatch, so `pnpm start` can show the Lambda's own counters.
 */

/** The metrics of one EMF line (a metric given several values is summed), or undefined for any other line. */
export function parseEmfLine(line: string): Record<string, number> | undefined {
  if (!line.startsWith('{') || !line.includes('"_aws"')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  const record = parsed as { _aws?: { CloudWatchMetrics?: Array<{ Metrics?: Array<{ Name?: unknown }> }> } };
  const directives = record._aws?.CloudWatchMetrics;
  if (!Array.isArray(directives)) return undefined;
  const metrics: Record<string, number> = {};
  for (const directive of directives) {
    for (const metric of directive.Metrics ?? []) {
      if (typeof metric.Name !== 'string') continue;
      const value = (parsed as Record<string, unknown>)[metric.Name];
      const values = Array.isArray(value) ? value : [value];
      const sum = values.reduce<number>((acc, v) => (typeof v === 'number' ? acc + v : acc), 0);
      metrics[metric.Name] = (metrics[metric.Name] ?? 0) + sum;
    }
  }
  return metrics;
}

/** Running totals (and the last value) of every metric seen. */
export class MetricTotals {
  readonly totals: Record<string, number> = {};
  readonly last: Record<string, number> = {};

  add(metrics: Record<string, number>): void {
    for (const [name, value] of Object.entries(metrics)) {
      this.totals[name] = (this.totals[name] ?? 0) + value;
      this.last[name] = value;
    }
  }

  get(name: string): number {
    return this.totals[name] ?? 0;
  }
}
