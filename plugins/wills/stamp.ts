/**
 * The will stamper (docs/topics-and-payloads.md#wills). Pure: no Aedes, no clock; the
 * adapter passes the time of death. A payload it does not rewrite comes back
 * as the very same Buffer, so callers can tell "unchanged" by identity.
 *
 * - JSON object: `ts` (in tsUnit) where absent, 0, -1 or null; `reason` and
 *   `last_seen` where absent. Everything else stays byte-for-byte (the value
 *   of `ts` is replaced in place, new members are appended before `}`).
 * - Text (valid UTF-8 containing `{`): `{ts}` `{ts_ms}` `{iso}` `{reason}`
 *   `{clientId}` replaced.
 * - Anything else (binary, text without placeholders, empty) passes unchanged.
 */
import { isUtf8 } from 'node:buffer'
import { userPropertiesWith } from '../../broker/aedes/user-property-order.js'
import { objectLayout } from './json-members.js'

export type TsUnit = 's' | 'ms'

export interface Death {
  clientId: string
  reason: string
  /** Time of death, ms since the epoch. */
  at: number
  /** Last application heartbeat, ms since the epoch; null if never seen. */
  lastSeen: number | null
}

const OPEN_BRACE = 0x7b
const PLACEHOLDERS = /\{(ts|ts_ms|iso|reason|clientId)\}/g

/** A time in the configured unit: whole seconds (Unix time) or milliseconds. */
export function inUnit (ms: number, unit: TsUnit): number {
  return unit === 's' ? Math.floor(ms / 1000) : Math.floor(ms)
}

const needsTs = (value: unknown): boolean => value === undefined || value === null || value === 0 || value === -1

/** First byte that is not JSON whitespace, or -1. */
function firstNonSpace (payload: Buffer): number {
  for (let i = 0; i < payload.length; i++) {
    const c = payload[i]!
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c
  }
  return -1
}

function parseObject (text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null
  } catch {
    return null
  }
}

function stampJson (text: string, obj: Record<string, unknown>, death: Death, unit: TsUnit): string | null {
  const setTs = needsTs(obj.ts)
  const addReason = !Object.hasOwn(obj, 'reason')
  const addLastSeen = !Object.hasOwn(obj, 'last_seen')
  if (!setTs && !addReason && !addLastSeen) return null
  const layout = objectLayout(text)
  const ts = String(inUnit(death.at, unit))
  let out = text
  let close = layout.close
  let appended = ''
  if (setTs) {
    // JSON.parse keeps the last duplicate key; so does this.
    let span
    for (const member of layout.members) if (member.key === 'ts') span = member
    if (span !== undefined) {
      out = out.slice(0, span.valueStart) + ts + out.slice(span.valueEnd)
      close += ts.length - (span.valueEnd - span.valueStart)
    } else {
      appended += `,"ts":${ts}`
    }
  }
  if (addReason) appended += `,"reason":${JSON.stringify(death.reason)}`
  if (addLastSeen) appended += `,"last_seen":${death.lastSeen === null ? 'null' : String(inUnit(death.lastSeen, unit))}`
  if (appended === '') return out
  if (layout.members.length === 0) appended = appended.slice(1)
  return out.slice(0, close) + appended + out.slice(close)
}

function fillText (text: string, death: Death, unit: TsUnit): string {
  return text.replace(PLACEHOLDERS, (_match, name: string) => {
    switch (name) {
      case 'ts': return String(inUnit(death.at, unit))
      case 'ts_ms': return String(Math.floor(death.at))
      case 'iso': return new Date(death.at).toISOString()
      case 'reason': return death.reason
      default: return death.clientId
    }
  })
}

/** The stamped payload, or `payload` itself (same Buffer) when nothing applies. */
export function stampPayload (payload: Buffer, death: Death, unit: TsUnit): Buffer {
  // Cheap checks first: most binary payloads are rejected on their first byte or by indexOf.
  // Invalid UTF-8 is binary: decoding it would replace bytes, so it is never rewritten.
  if (payload.length === 0 || payload.indexOf(OPEN_BRACE) === -1 || !isUtf8(payload)) return payload
  const text = payload.toString('utf8')
  if (firstNonSpace(payload) === OPEN_BRACE) {
    const obj = parseObject(text)
    if (obj !== null) {
      const stamped = stampJson(text, obj, death, unit)
      return stamped === null ? payload : Buffer.from(stamped, 'utf8')
    }
  }
  const filled = fillText(text, death, unit)
  return filled === text ? payload : Buffer.from(filled, 'utf8')
}

/** MQTT 5 publish properties as far as the stamp touches them. */
export interface StampedProperties {
  userProperties?: Record<string, string | string[]>
  [key: string]: unknown
}

/**
 * The will's MQTT 5 properties plus the user properties `vigil-reason` and
 * `vigil-ts` (time of death, ms), which MQTT 5 subscribers receive; 3.1.1
 * subscribers never see properties [MQTT-3.3.2.3.7]. The will's own user
 * properties stay, in their order, before Vigil's; a new object, the input is not changed.
 */
export function stampProperties (properties: StampedProperties | undefined, death: Pick<Death, 'reason' | 'at'>): StampedProperties {
  // In their wire order, a repeated name included [MQTT-3.3.2-18] (broker/aedes/user-property-order.ts).
  const userProperties = userPropertiesWith(properties?.userProperties, { 'vigil-reason': death.reason, 'vigil-ts': String(Math.floor(death.at)) })
  return { ...properties, userProperties }
}
