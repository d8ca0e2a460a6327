/**
 * What Vigil learns about one device beyond its liveness (issue 18): firmware,
 * reboots, clock skew and flapping. Pure: no Aedes, no Redis, no clock; every
 * call takes `now` (broker ms) and returns what changed. One `DeviceInsight`
 * per device, a few numbers and two small rings, nothing that grows.
 *
 * - Reboots: the birth `boot` counter changed, or the heartbeat `uptime` went
 *   backwards. The birth and the first heartbeat of a rebooted device both
 *   show the same reboot, so within one connection epoch the reboots counted
 *   are the larger of the two signals' counts, not their sum.
 * - Skew: device `ts` minus broker receive time, the median over the last
 *   SKEW_SAMPLES heartbeats that carried a usable `ts` (seconds or ms; see
 *   deviceTimeMs). Null when none of them did.
 * - Flapping: more than FLAP_CONNECTS connects within FLAP_WINDOW_MS.
 */

export const SKEW_SAMPLES = 5
export const FLAP_CONNECTS = 5
export const FLAP_WINDOW_MS = 5 * 60_000
/** A skew that moved less than this since the last status is not worth a new status. */
export const SKEW_REPUBLISH_MS = 1000

/** Bits of what a birth or heartbeat changed. */
export const CHANGED = 1
export const RESTARTED = 2

/** Before this (2001-09-09) a device clock is not set: its `ts` is unusable. */
const MIN_SECONDS = 1e9
const MAX_SECONDS = 1e11
const MIN_MS = 1e12
const MAX_MS = 1e14

/**
 * A device timestamp in ms, or NaN when it is not a usable one. Seconds and
 * milliseconds since 1970 cannot be confused for dates after 2001: seconds are
 * below 1e11 until the year 5138, milliseconds above 1e12 since 2001. Anything
 * else (0, -1, an uptime in place of a date, a year-1973 ms value) is a clock
 * that is not set.
 */
export function deviceTimeMs (ts: number): number {
  if (!Number.isFinite(ts)) return Number.NaN
  if (ts >= MIN_SECONDS && ts < MAX_SECONDS) return ts * 1000
  if (ts >= MIN_MS && ts < MAX_MS) return ts
  return Number.NaN
}

export class DeviceInsight {
  fw: string | null = null
  restarts = 0
  lastRestart: number | null = null
  /** The last birth `boot` seen, the last heartbeat `uptime` (s) seen. */
  lastBoot: number | null = null
  lastUptime: number | null = null
  /** The epoch the signal counts below belong to. */
  restartEpoch = -1
  #bootSignals = 0
  #uptimeSignals = 0
  /** The newest epoch whose connect is recorded. */
  connectEpoch = 0
  address: string | null = null
  /** What the last status said, so that only a real change asks for a new one. */
  publishedSkew: number | null = null
  /** The last skew sample (ms), NaN when the last heartbeat had no usable ts. */
  lastSample = Number.NaN

  // Plain arrays of doubles, not Float64Arrays: a typed array costs its object, an ArrayBuffer
  // and a backing store, about 430 bytes per device for these two (issue 15, heap snapshot).
  readonly #samples: number[] = new Array<number>(SKEW_SAMPLES).fill(Number.NaN)
  #sampleNext = 0
  readonly #connects: number[] = new Array<number>(FLAP_CONNECTS + 1).fill(0)
  #connectNext = 0
  #connectCount = 0

  constructor (readonly clientId: string) {}

  /** A birth message: `fw` and `boot` where present and well-typed. */
  birth (fw: string | null, boot: number | null, epoch: number, now: number): number {
    let result = 0
    if (fw !== null && fw !== this.fw) {
      this.fw = fw
      result |= CHANGED
    }
    if (boot !== null) {
      if (this.lastBoot !== null && boot !== this.lastBoot) result |= this.#restart(epoch, now, 'boot')
      this.lastBoot = boot
    }
    return result
  }

  /** A heartbeat: `ts` (device clock, s or ms) and `uptime` (s) where present. */
  heartbeat (ts: number | null, uptime: number | null, epoch: number, now: number): number {
    let result = 0
    if (uptime !== null) {
      if (this.lastUptime !== null && uptime < this.lastUptime) result |= this.#restart(epoch, now - uptime * 1000, 'uptime')
      this.lastUptime = uptime
    }
    const device = ts === null ? Number.NaN : deviceTimeMs(ts)
    this.lastSample = device - now
    this.#samples[this.#sampleNext] = this.lastSample
    this.#sampleNext = (this.#sampleNext + 1) % SKEW_SAMPLES
    const skew = this.skew()
    const published = this.publishedSkew
    if ((skew === null) !== (published === null) || (skew !== null && published !== null && Math.abs(skew - published) >= SKEW_REPUBLISH_MS)) {
      result |= CHANGED
    }
    return result
  }

  #restart (epoch: number, at: number, signal: 'boot' | 'uptime'): number {
    if (epoch !== this.restartEpoch) {
      this.restartEpoch = epoch
      this.#bootSignals = 0
      this.#uptimeSignals = 0
    }
    const before = Math.max(this.#bootSignals, this.#uptimeSignals)
    if (signal === 'boot') this.#bootSignals++
    else this.#uptimeSignals++
    // The other signal already told of this reboot (the birth and the first heartbeat after it).
    if (Math.max(this.#bootSignals, this.#uptimeSignals) === before) return 0
    this.restarts++
    this.lastRestart = Math.round(at)
    return CHANGED | RESTARTED
  }

  /** Median skew (ms, rounded) over the last heartbeats with a usable ts, or null. */
  skew (): number | null {
    const scratch = SCRATCH
    let n = 0
    for (let i = 0; i < SKEW_SAMPLES; i++) {
      const v = this.#samples[i]!
      if (Number.isNaN(v)) continue
      // Insertion sort into the scratch: at most SKEW_SAMPLES values, no allocation.
      let j = n++
      while (j > 0 && scratch[j - 1]! > v) { scratch[j] = scratch[j - 1]!; j-- }
      scratch[j] = v
    }
    if (n === 0) return null
    const mid = n >> 1
    return Math.round(n % 2 === 1 ? scratch[mid]! : (scratch[mid - 1]! + scratch[mid]!) / 2)
  }

  /** A connect of epoch `epoch` at `at`; older or repeated epochs are ignored. Returns whether recorded. */
  connect (epoch: number, at: number): boolean {
    if (epoch <= this.connectEpoch) return false
    this.connectEpoch = epoch
    this.#connects[this.#connectNext] = at
    this.#connectNext = (this.#connectNext + 1) % this.#connects.length
    if (this.#connectCount < this.#connects.length) this.#connectCount++
    return true
  }

  /** More than FLAP_CONNECTS connects within the FLAP_WINDOW_MS before `now`. */
  flapping (now: number): boolean {
    if (this.#connectCount <= FLAP_CONNECTS) return false
    // The ring holds the last FLAP_CONNECTS + 1 connects; the next slot is the oldest.
    return now - this.#connects[this.#connectNext]! < FLAP_WINDOW_MS
  }

  /** When flapping(now) stops being true if no other connect comes (ms), or null when it is not flapping. */
  flappingUntil (now: number): number | null {
    if (!this.flapping(now)) return null
    return this.#connects[this.#connectNext]! + FLAP_WINDOW_MS
  }
}

const SCRATCH = new Float64Array(SKEW_SAMPLES)
