/**
 * The insights service (issue 18) for the HTTP API: history, availability and
 * the fleet summary. Types only; plugins/insights provides it as
 * `ctx.provide('insights', ...)`.
 */
import type { LivenessState } from '../liveness/service.js'
import type { Availability, HistoryEntry } from './availability.js'

export interface FleetSummary {
  /** Devices known to the fleet view (observers are not devices). */
  devices: number
  states: Record<LivenessState, number>
  /** Observers connected now. */
  observers: number
  /** Devices per firmware version; "unknown" for those that sent no birth with fw. */
  firmware: Record<string, number>
  /** Devices with more than 5 connects within the last 5 minutes. */
  flapping: number
  /** Devices whose clock is more than 60 s off the broker's. */
  skewed: number
}

export interface InsightsService {
  /** Transitions of `clientId` at or after `since` (ms), oldest first, at most 7 days and 1,000. */
  history(clientId: string, since: number): Promise<HistoryEntry[]>
  /** Share of time online over 1 h, 24 h and 7 d since first seen; null values when there is no history. */
  availability(clientId: string): Promise<Availability>
  /** Whether the device is flapping now, or undefined when this node knows nothing of it. */
  flapping(clientId: string): boolean | undefined
  fleet(): FleetSummary
}

declare module '../../broker/services.js' {
  interface Services { insights: InsightsService }
}
