/**
 * Apply a will decision (decide.ts) to a will on its way through
 * authorizePublish: suppress it (refused, counted), delay it (stamped, into
 * the delay store beside its offline status, refused now and published when
 * the delay runs out), or publish it (stamped in place, counted). Returning
 * lets the will through; throwing, or a rejected promise, refuses it.
 */
import { type WillPacket } from '../../broker/aedes/index.js'
import { VigilError } from '../../broker/errors.js'
import type { Logger } from '../../broker/logger.js'
import type { DelayedWill, LivenessService, WillProperties } from '../liveness/service.js'
import type { WillDecision } from './decide.js'
import type { WillMetrics } from './metrics.js'
import { stampPayload, stampProperties, type Death } from './stamp.js'

export const withheld = (what: string): VigilError => new VigilError('VIGIL_E_PUBLISH_REFUSED', what)

export interface WillOutcomeDeps {
  liveness: LivenessService
  metrics: WillMetrics
  log: Logger
  stamp: boolean
  tsUnit: 's' | 'ms'
  reportError(err: unknown, what: string): void
}

/**
 * What of a will's properties waits with it: all but the Will Delay Interval,
 * which is the broker's to apply and never goes out with the will
 * [MQTT-3.1.3-10] (broker/aedes/mqtt5.ts takes it off at CONNECT already).
 */
export function ownProperties (properties: WillPacket['properties'] | undefined): WillProperties | undefined {
  if (properties === undefined || properties === null) return undefined
  const own = { ...properties } as WillProperties
  delete own.willDelayInterval
  return Object.keys(own).length === 0 ? undefined : own
}

export class WillOutcome {
  readonly #deps: WillOutcomeDeps

  constructor (deps: WillOutcomeDeps) {
    this.#deps = deps
  }

  stamp (payload: Buffer, death: Death): Buffer {
    return this.#deps.stamp ? stampPayload(payload, death, this.#deps.tsUnit) : payload
  }

  apply (decision: WillDecision, packet: WillPacket, death: Death, epoch: number | undefined): void | Promise<void> {
    const { metrics, log, liveness } = this.#deps
    if (decision.action === 'suppress') {
      metrics.suppressed(decision.cause)
      log.debug({ clientId: death.clientId, cause: decision.cause }, 'will suppressed')
      throw withheld(`will suppressed (${decision.cause})`)
    }
    if (decision.action === 'delay') {
      const will: DelayedWill = {
        topic: packet.topic,
        payload: this.stamp(packet.payload as Buffer, death),
        qos: packet.qos,
        retain: packet.retain,
        reason: death.reason,
        at: death.at
      }
      const properties = ownProperties(packet.properties)
      if (properties !== undefined) will.properties = properties
      return liveness.delayWill({ clientId: death.clientId, epoch, due: decision.due }, will).then(() => {
        throw withheld('will delayed for wills.delay')
      }, (err: unknown) => {
        // Could not delay it (Redis down): publishing now beats losing it.
        this.#deps.reportError(err, 'could not delay a will; publishing it now')
        this.#stampWill(packet, will.payload, death)
        metrics.published(death.reason)
      })
    }
    this.#stampWill(packet, this.stamp(packet.payload as Buffer, death), death)
    metrics.published(death.reason)
  }

  /** The will goes out stamped: its payload, and for MQTT 5 subscribers its user properties. */
  #stampWill (packet: WillPacket, payload: Buffer, death: Death): void {
    packet.payload = payload
    if (this.#deps.stamp) packet.properties = stampProperties(packet.properties, death)
  }
}
