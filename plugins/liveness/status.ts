/**
 * The status payload (docs/topics-and-payloads.md): built from a connection, and
 * read back, defensively, from a message on the status topic. Pure.
 */
import type { Client } from 'aedes'
import type { Conn } from './core.js'
import { LIVENESS_STATES, OFFLINE_REASONS, type ClientStatus, type LivenessState, type OfflineReason, type StatusExtension, type StatusInsights } from './service.js'

export function statusOf (conn: Conn, node: string): ClientStatus {
  return {
    clientId: conn.clientId,
    state: conn.state,
    since: conn.since,
    connectedAt: conn.connectedAt,
    lastHeartbeat: conn.lastHeartbeat,
    lastPacket: conn.lastPacket,
    reason: conn.state === 'offline' ? conn.reason : null,
    epoch: conn.epoch,
    node,
    kind: conn.observer ? 'observer' : 'device'
  }
}

/** What other plugins add to the statuses this node builds (plugins/insights); one that throws is reported and skipped. */
export class StatusExtensions {
  readonly #extensions = new Set<StatusExtension>()

  add (extension: StatusExtension): () => void {
    this.#extensions.add(extension)
    return () => { this.#extensions.delete(extension) }
  }

  apply (status: ClientStatus, client: Client, onError: (err: unknown, what: string) => void): ClientStatus {
    for (const extend of this.#extensions) {
      try { extend(status, client) } catch (err) { onError(err, 'status extension failed') }
    }
    return status
  }
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)
const timeOrNull = (value: unknown): number | null => isTime(value) ? value : null

/** A status message's payload, or null when it is not one. */
export function parseStatus (payload: Buffer | string): ClientStatus | null {
  let raw: unknown
  try {
    raw = JSON.parse(payload.toString())
  } catch {
    return null
  }
  if (raw === null || typeof raw !== 'object') return null
  const value = raw as Record<string, unknown>
  const state = value.state as LivenessState
  const reason = value.reason as OfflineReason | null | undefined
  if (typeof value.clientId !== 'string' || !LIVENESS_STATES.includes(state) || !isTime(value.since) ||
    !isTime(value.epoch) || typeof value.node !== 'string') return null
  if (reason !== null && reason !== undefined && !OFFLINE_REASONS.includes(reason)) return null
  return {
    clientId: value.clientId,
    state,
    since: value.since,
    connectedAt: isTime(value.connectedAt) ? value.connectedAt : value.since,
    lastHeartbeat: timeOrNull(value.lastHeartbeat),
    lastPacket: timeOrNull(value.lastPacket),
    reason: state === 'offline' ? (reason ?? 'connection_lost') : null,
    epoch: value.epoch,
    node: value.node,
    kind: value.kind === 'observer' ? 'observer' : 'device',
    ...insightsOf(value)
  }
}

/** The insight fields of a status message that have the right type; others are dropped. */
function insightsOf (value: Record<string, unknown>): StatusInsights {
  const out: StatusInsights = {}
  if (typeof value.fw === 'string') out.fw = value.fw
  if (isTime(value.restarts)) out.restarts = value.restarts
  if (value.lastRestart === null || isTime(value.lastRestart)) out.lastRestart = value.lastRestart
  if (value.clockSkewMs === null || isTime(value.clockSkewMs)) out.clockSkewMs = value.clockSkewMs
  if (typeof value.flapping === 'boolean') out.flapping = value.flapping
  if (typeof value.address === 'string') out.address = value.address
  return out
}
