/**
 * A device's transition history and what is computed from it (issue 18):
 * the entry format, the caps (the last 7 days or 1,000 transitions, whichever
 * is fewer) and availability, the share of time online since the device was
 * first seen. Pure: time is a parameter.
 */
import type { LivenessState, OfflineReason } from '../liveness/service.js'

export const HISTORY_MAX_TRANSITIONS = 1000
export const HISTORY_MAX_AGE_MS = 7 * 86_400_000

export interface HistoryEntry {
  state: LivenessState
  reason: OfflineReason | null
  /** When the state began (ms, broker clock). */
  at: number
  epoch: number
  node: string
}

export const AVAILABILITY_WINDOWS = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 } as const
export type Availability = Record<keyof typeof AVAILABILITY_WINDOWS, number | null>

/**
 * Share of [max(now - windowMs, first seen), now] spent online; silent and
 * offline are down. `entries` in any order; null when the device has no
 * history yet or the window is empty. The state before the first entry is
 * unknown, so the window starts at the first entry (the device was first seen then).
 */
export function availability (entries: readonly HistoryEntry[], now: number, windowMs: number): number | null {
  if (entries.length === 0) return null
  const sorted = [...entries].sort((a, b) => a.at - b.at)
  const start = Math.max(now - windowMs, sorted[0]!.at)
  if (start >= now) {
    let state: LivenessState | null = null
    for (const e of sorted) if (e.at <= now) state = e.state
    return state === 'online' ? 1 : 0
  }
  let online = 0
  for (let i = 0; i < sorted.length; i++) {
    const entry = sorted[i]!
    if (entry.state !== 'online') continue
    const from = Math.max(entry.at, start)
    const to = Math.min(i + 1 < sorted.length ? sorted[i + 1]!.at : now, now)
    if (to > from) online += to - from
  }
  return Math.min(1, online / (now - start))
}

export function availabilities (entries: readonly HistoryEntry[], now: number): Availability {
  return {
    '1h': round(availability(entries, now, AVAILABILITY_WINDOWS['1h'])),
    '24h': round(availability(entries, now, AVAILABILITY_WINDOWS['24h'])),
    '7d': round(availability(entries, now, AVAILABILITY_WINDOWS['7d']))
  }
}

/** Six decimals: enough for a second in a week, short in JSON. */
const round = (value: number | null): number | null => value === null ? null : Math.round(value * 1e6) / 1e6

/** Entries at or after `since` and within the age cap, oldest first, at most the count cap. */
export function window (entries: readonly HistoryEntry[], since: number, now: number): HistoryEntry[] {
  const from = Math.max(since, now - HISTORY_MAX_AGE_MS)
  const out = entries.filter((e) => e.at >= from)
  out.sort((a, b) => a.at - b.at)
  return out.length > HISTORY_MAX_TRANSITIONS ? out.slice(out.length - HISTORY_MAX_TRANSITIONS) : out
}

/** One entry from stored JSON, or null when it is not one (a foreign or corrupt list element). */
export function parseEntry (text: string): HistoryEntry | null {
  let raw: unknown
  try { raw = JSON.parse(text) } catch { return null }
  if (raw === null || typeof raw !== 'object') return null
  const v = raw as Record<string, unknown>
  if (v.state !== 'online' && v.state !== 'silent' && v.state !== 'offline') return null
  if (typeof v.at !== 'number' || typeof v.epoch !== 'number' || typeof v.node !== 'string') return null
  return { state: v.state, reason: typeof v.reason === 'string' ? v.reason as OfflineReason : null, at: v.at, epoch: v.epoch, node: v.node }
}
