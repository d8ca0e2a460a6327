/**
 * Durations in config: a number means seconds; a string is a number with a unit
 * (ms, s, m, h, d). Everything inside Vigil holds milliseconds.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/

export const DURATION_HELP = 'a duration: seconds as a number, or a string like 250ms, 90s, 5m, 2h, 7d'

/** Parse a config duration into milliseconds; returns null when it is not one. */
export function parseDuration (value: unknown): number | null {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : null
  }
  if (typeof value !== 'string') return null
  const text = value.trim()
  if (/^\d+(?:\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000)
  const match = DURATION_RE.exec(text)
  if (match === null) return null
  return Math.round(Number(match[1]) * UNIT_MS[match[2]!]!)
}

/** The shortest exact text for a duration, so printed configs can be read back. */
export function formatDuration (ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
