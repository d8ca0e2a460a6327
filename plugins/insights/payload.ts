/**
 * The few fields insights read from a device's birth and heartbeat
 * (docs/device-protocol.md). The adapter calls these only for a PUBLISH on the
 * client's own birth or heartbeat topic, and a payload is parsed only when it
 * contains one of the keys: other traffic costs a string compare, and a
 * heartbeat without `ts` or `uptime` one byte search. Pure.
 */

const FW = Buffer.from('"fw"')
const BOOT = Buffer.from('"boot"')
const TS = Buffer.from('"ts"')
const UPTIME = Buffer.from('"uptime"')

/** Larger payloads are not a birth or a heartbeat: not parsed at all. */
const MAX_BYTES = 16_384

export interface Birth { fw: string | null, boot: number | null }
export interface Heartbeat { ts: number | null, uptime: number | null }

function objectOf (bytes: Buffer): Record<string, unknown> | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(bytes.toString('utf8'))
  } catch {
    return null
  }
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed as Record<string, unknown> : null
}

const finite = (value: unknown): number | null => typeof value === 'number' && Number.isFinite(value) ? value : null
const asBuffer = (payload: Buffer | string): Buffer => typeof payload === 'string' ? Buffer.from(payload) : payload

/** `fw` (a non-empty string, at most 64 characters) and `boot` (a number) of a birth, or null. */
export function parseBirth (payload: Buffer | string): Birth | null {
  const bytes = asBuffer(payload)
  if (bytes.length > MAX_BYTES || (bytes.indexOf(FW) === -1 && bytes.indexOf(BOOT) === -1)) return null
  const value = objectOf(bytes)
  if (value === null) return null
  const fw = typeof value.fw === 'string' && value.fw.length > 0 && value.fw.length <= 64 ? value.fw : null
  const boot = finite(value.boot)
  return fw === null && boot === null ? null : { fw, boot }
}

/** `ts` and `uptime` (>= 0) of a heartbeat, or null when it carries neither key. */
export function parseHeartbeat (payload: Buffer | string): Heartbeat | null {
  const bytes = asBuffer(payload)
  if (bytes.length > MAX_BYTES || (bytes.indexOf(TS) === -1 && bytes.indexOf(UPTIME) === -1)) return null
  const value = objectOf(bytes)
  if (value === null) return null
  const uptime = finite(value.uptime)
  return { ts: finite(value.ts), uptime: uptime !== null && uptime >= 0 ? uptime : null }
}
