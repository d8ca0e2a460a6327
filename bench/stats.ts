/**
 * The harness's statistics: percentiles of one run, spread across repetitions,
 * same-run ratios, histogram and CDF points for the report. Pure: numbers in,
 * numbers out.
 */

/** Linear-interpolated percentile (p in 0..100) of unsorted samples; NaN when empty. */
export function percentile (samples: ArrayLike<number>, p: number): number {
  if (samples.length === 0) return NaN
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort()
  return percentileSorted(sorted, p)
}

export function percentileSorted (sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length
  if (n === 0) return NaN
  if (n === 1) return sorted[0]!
  const rank = Math.min(Math.max(p, 0), 100) / 100 * (n - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo)
}

export interface LatencySummary { count: number, p50: number, p99: number, min: number, max: number, mean: number }

export function summarizeLatencies (samples: ArrayLike<number>): LatencySummary {
  const n = samples.length
  if (n === 0) return { count: 0, p50: NaN, p99: NaN, min: NaN, max: NaN, mean: NaN }
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort()
  let sum = 0
  for (let i = 0; i < n; i++) sum += sorted[i]!
  return {
    count: n,
    p50: percentileSorted(sorted, 50),
    p99: percentileSorted(sorted, 99),
    min: sorted[0]!,
    max: sorted[n - 1]!,
    mean: sum / n
  }
}

/** Spread of one metric across repetitions: what every figure in the report carries. */
export interface Spread { median: number, min: number, max: number, n: number }

export function spread (values: readonly number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v))
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 }
  const sorted = [...finite].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length }
}

/** Ratio of medians measured in the same run; NaN when the baseline is missing or zero. */
export function ratio (value: number, baseline: number): number {
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) return NaN
  return value / baseline
}

export interface Bin { lo: number, hi: number, count: number }

/**
 * Log-spaced histogram (latencies span decades); `bins` buckets between the
 * smallest positive sample and the largest. Zero and negative samples go to the first bucket.
 */
export function logHistogram (samples: ArrayLike<number>, bins = 30): Bin[] {
  const n = samples.length
  if (n === 0) return []
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < n; i++) {
    const v = samples[i]!
    if (v > 0 && v < min) min = v
    if (v > max) max = v
  }
  if (!Number.isFinite(min)) min = 0.001
  if (max <= min) max = min * 1.0001 + 1e-9
  const lmin = Math.log10(min)
  const step = (Math.log10(max) - lmin) / bins
  const out: Bin[] = []
  for (let b = 0; b < bins; b++) out.push({ lo: 10 ** (lmin + b * step), hi: 10 ** (lmin + (b + 1) * step), count: 0 })
  for (let i = 0; i < n; i++) {
    const v = samples[i]!
    const idx = v <= min ? 0 : Math.min(bins - 1, Math.floor((Math.log10(v) - lmin) / step))
    out[idx]!.count++
  }
  return out
}

/** Empirical CDF reduced to at most `points` (x, fraction <= x) pairs. */
export function cdf (samples: ArrayLike<number>, points = 100): Array<[number, number]> {
  const n = samples.length
  if (n === 0) return []
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort()
  const out: Array<[number, number]> = []
  const stepSize = Math.max(1, Math.floor(n / points))
  for (let i = 0; i < n; i += stepSize) out.push([sorted[i]!, (i + 1) / n])
  if (out[out.length - 1]![0] !== sorted[n - 1]) out.push([sorted[n - 1]!, 1])
  else out[out.length - 1]![1] = 1
  return out
}

/** Messages per second over an interval in ms. */
export function rate (count: number, ms: number): number {
  return ms > 0 ? count / (ms / 1000) : NaN
}
