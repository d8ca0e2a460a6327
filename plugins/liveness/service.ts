/**
 * The liveness service: the contract between the liveness plugin and its
 * readers (wills, retained, HTTP API, metrics, commands). Types only; the
 * plugin in this folder provides it as `ctx.provide('liveness', ...)`.
 * See docs/topics-and-payloads.md.
 */
import type { Client } from 'aedes'
import type { WillPacket } from '../../broker/aedes/index.js'
import type { DelayedEnd, DelayedWill } from './delayed-end.js'

export type { DelayedEnd, DelayedStatus, DelayedWill, WillProperties } from './delayed-end.js'

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

/**
 * The end of one connection, decided once by liveness and announced once
 * (`onEnded`): why and when it died, who displaced it, where it was, and what
 * it leaves behind. Wills consume it (decide, stamp, publish or delay).
 */
export interface ConnectionEnded extends ConnectionEnd {
  /** The node that held the connection. */
  node: string
  /** True for a connection on this node; false for one of a lost node (node_lost). */
  local: boolean
  /** The Aedes client (local ends), null for a lost node's connection. */
  client: Client | null
  /**
   * A newer connection of the same clientId took this one over: on this node
   * (`client` is the new connection) or on another one (`client` null).
   * For a lost node's connection: the client is connected again elsewhere.
   */
  displacedBy: { local: boolean, client: Client | null } | null
  /** The will the connection leaves (null: none, or void after DISCONNECT [MQTT-3.14.4-3]). */
  will: WillPacket | null
  /**
   * wills.delay applies: the offline status waits in the delay store until
   * then, and the will may join it (`delayWill`); null: announced now.
   */
  delayedUntil: number | null
}

export type EndedListener = (end: ConnectionEnded) => void

/** Who publishes a delayed will once the delay runs out (the wills plugin). */
export interface DelayedWillHandler {
  /** The delay ran out: publish the will, unless the client came back. */
  due(end: DelayedEnd & { will: DelayedWill }): Promise<void>
  /**
   * The delayed end was cancelled: by a reconnect (the will never goes out)
   * or because the client was forgotten (decommission: the will goes out now).
   */
  cancelled(end: DelayedEnd & { will: DelayedWill }, why: 'reconnected' | 'forgotten'): void
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
  /** Called once for the end of every connection of this node (any reason, takeover included). Returns an unsubscribe. */
  onEnded(listener: EndedListener): () => void
  /**
   * The end of a connection of the lost node `node` (its will read back from
   * persistence): node_lost, at the node's last heartbeat (this node's own
   * previous run: the client's last packet), displaced if it is back elsewhere.
   */
  lostEnd(clientId: string, node: string, epoch: number | undefined): ConnectionEnded
  /** Put a connection's will (stamped) into the delay store, beside its delayed status. Rejects if it cannot be kept. */
  delayWill(end: { clientId: string, epoch: number | undefined, due: number }, will: DelayedWill): Promise<void>
  /** Register who publishes delayed wills when they fall due (one handler: the wills plugin). */
  handleDelayedWills(handler: DelayedWillHandler): void
  /** The epoch of this connection (assigned at CONNECT), or undefined if not tracked. */
  epochOf(client: Client): number | undefined
  /** The newest epoch seen for this clientId on any node, or 0. */
  currentEpoch(clientId: string): number
  /** Disconnect a client connected to this node with the given reason; false if it is not here. */
  kick(clientId: string, reason: 'kicked' | 'silent_timeout' | 'rate_limited'): Promise<boolean>
  /** Clear the retained status and drop the client from the fleet view (cluster-wide). */
  forget(clientId: string): Promise<void>
  /**
   * Forget every client offline longer than liveness.forgetAfter as of `now`
   * (the retained plugin's sweep drives it); resolves with how many.
   */
  forgetDue(now: number): Promise<number>
  /** Disconnect the client wherever it is connected (reason kicked); true if some node did. */
  kickEverywhere(clientId: string): Promise<boolean>
  /** Called on every node for each kickEverywhere, before the kick there (the retained plugin keeps the client's topics clear). */
  onKickRequested(listener: (clientId: string) => void): () => void
}

declare module '../../broker/services.js' {
  interface Services { liveness: LivenessService }
}
