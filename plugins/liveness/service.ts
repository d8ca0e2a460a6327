/**
 * The liveness service: the contract between the liveness plugin and its
 * readers (wills, retained, HTTP API, metrics, commands). Types only; the
 * plugin in this folder provides it as `ctx.provide('liveness', ...)`.
 * See docs/topics-and-payloads.md.
 */
import type { Client } from 'aedes'

export type LivenessState = 'online' | 'silent' | 'offline'
export const LIVENESS_STATES: readonly LivenessState[] = ['online', 'silent', 'offline']

export const OFFLINE_REASONS = ['graceful', 'keepalive_timeout', 'connection_lost', 'protocol_error', 'takeover',
  'server_shutdown', 'kicked', 'silent_timeout', 'node_lost', 'rate_limited',
  'graceful_with_will'] as const
export type OfflineReason = typeof OFFLINE_REASONS[number]

/**
 * A client is a `device` unless it connected without a will, has published
 * nothing on a heartbeat topic and no `liveness.rules` entry names it: then it
 * is an `observer` (a dashboard, a logger, mosquitto_sub). Observers never go
 * silent, are not counted as devices and leave no retained status behind.
 */
export type ClientKind = 'device' | 'observer'
export const CLIENT_KINDS: readonly ClientKind[] = ['device', 'observer']

/**
 * Facts about a device that other plugins (plugins/insights) add to its status
 * through `LivenessService.extendStatus`; each is present only where known.
 */
export interface StatusInsights {
  /** Firmware version from the device's birth message. */
  fw?: string
  /** Reboots seen (boot counter changed, or heartbeat uptime went backwards). */
  restarts?: number
  /** When the last reboot seen happened (ms), or null. */
  lastRestart?: number | null
  /** Median of device `ts` minus broker receive time over the last heartbeats (ms), or null. */
  clockSkewMs?: number | null
  /** More than 5 connects within 5 minutes. */
  flapping?: boolean
  /** Remote address of the connection. */
  address?: string
}

/** The status payload published retained on liveness.statusTopic (docs/topics-and-payloads.md). */
export interface ClientStatus extends StatusInsights {
  clientId: string
  state: LivenessState
  /** When this state began (ms since epoch, broker clock). */
  since: number
  connectedAt: number
  lastHeartbeat: number | null
  lastPacket: number | null
  reason: OfflineReason | null
  /** +1 on every accepted CONNECT of this clientId, cluster-wide. */
  epoch: number
  node: string
  kind: ClientKind
}

/** Why and when one connection ended, as the wills plugin needs it to stamp a will. */
export interface ConnectionEnd {
  clientId: string
  /** The epoch of the connection that ended (older than the current one after a takeover). */
  epoch: number
  reason: OfflineReason
  /** Time of death (ms): now, or the last packet for keepalive_timeout (docs/topics-and-payloads.md#wills). */
  at: number
  lastHeartbeat: number | null
  lastPacket: number | null
}

/** `local`: this node published the status (a connection here, or a node_lost it declared). */
export type TransitionListener = (status: ClientStatus, previous: ClientStatus | undefined, local: boolean) => void

/** Adds fields to a status this node is about to publish for one of its connections (`client`). */
export type StatusExtension = (status: ClientStatus, client: Client) => void

export interface LivenessService {
  /** Current status of a client known to the fleet (any node), or undefined. */
  get(clientId: string): ClientStatus | undefined
  /** Every known client of `kind` (default devices), optionally filtered by state; kind 'all' for both. */
  list(state?: LivenessState, kind?: ClientKind | 'all'): ClientStatus[]
  /** How many known devices (observers excluded) are in each state. */
  counts(): Record<LivenessState, number>
  /** How many observers are connected. */
  observers(): number
  /** Called for each status this node builds, before it is published; returns an unsubscribe. */
  extendStatus(extension: StatusExtension): () => void
  /**
   * Publish again the status of a connection on this node, if it has not ended,
   * because a field an extension adds changed. False when there is none here.
   */
  refresh(clientId: string): boolean
  /** Called for every status accepted into the fleet view (older epochs never are). Returns an unsubscribe. */
  onTransition(listener: TransitionListener): () => void
  /**
   * Why and when this connection is ending. Aedes passes a client's will through
   * authorizePublish *before* it emits clientDisconnect, so this must answer from
   * the client object as soon as Aedes starts closing it.
   */
  endOf(client: Client): ConnectionEnd
  /** The epoch of this connection (assigned at CONNECT), or undefined if not tracked. */
  epochOf(client: Client): number | undefined
  /** The newest epoch seen for this clientId on any node, or 0. */
  currentEpoch(clientId: string): number
  /** Disconnect a client connected to this node with the given reason; false if it is not here. */
  kick(clientId: string, reason: 'kicked' | 'silent_timeout' | 'rate_limited'): Promise<boolean>
  /** Clear the retained status and drop the client from the fleet view (cluster-wide). */
  forget(clientId: string): Promise<void>
}

declare module '../../broker/services.js' {
  interface Services { liveness: LivenessService }
}
