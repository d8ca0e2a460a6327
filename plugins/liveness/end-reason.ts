/**
 * Why a connection ended, from what Aedes shows on the client
 * (docs/topics-and-payloads.md). Pure: the adapter gathers the facts, this decides.
 */
import type { OfflineReason } from './service.js'

export interface EndFacts {
  /** A reason set by the broker itself: takeover, kicked, silent_timeout, server_shutdown. */
  marked: OfflineReason | null
  /** The client sent DISCONNECT [MQTT-3.14.4-3]. */
  disconnected: boolean
  /** An MQTT 5 client sent DISCONNECT with reason 0x04: end normally, but publish the will [MQTT-3.14.2.1]. */
  disconnectedWithWill: boolean
  /** Aedes' keep-alive timer fired: nothing for 1.5 x keepalive [MQTT-3.1.2-24]. */
  keepaliveExpired: boolean
  shuttingDown: boolean
  /** The first error Aedes reported for the client, if any. */
  error: unknown
}

export function endReason (facts: EndFacts): OfflineReason {
  if (facts.marked !== null) return facts.marked
  if (facts.disconnected) return 'graceful'
  if (facts.disconnectedWithWill) return 'graceful_with_will'
  if (facts.keepaliveExpired) return 'keepalive_timeout'
  if (facts.shuttingDown) return 'server_shutdown'
  if (facts.error !== null && facts.error !== undefined && isProtocolError(facts.error)) return 'protocol_error'
  return 'connection_lost'
}

/** Transport failures: the socket, TLS or WebSocket layer, a client too slow to drain. */
const TRANSPORT_MESSAGES = new Set(['drain timeout', 'connection closed', 'keep alive timeout', 'connect did not arrive in time'])
/** ioredis, when a command cannot be sent or its connection closed under it. */
const REDIS_MESSAGES = new Set(['Connection is closed.', 'Stream isn\'t writeable and enableOfflineQueue options is false'])

/**
 * Malformed or illegal packets: mqtt-packet parser errors and Aedes' protocol
 * checks carry no `code`; Vigil's own (an oversized packet, a refused PUBLISH)
 * carry a VIGIL_E_ code. Errors of the transport carry a system code
 * (ECONNRESET, EPIPE, ERR_..., WS_ERR_...).
 */
export function isProtocolError (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  // Redis failing under Aedes (a PUBACK or a delivery it could not record): ioredis' errors carry no code.
  if (err.name === 'MaxRetriesPerRequestError' || REDIS_MESSAGES.has(err.message)) return false
  const code = (err as { code?: unknown }).code
  // VIGIL_E_REDIS: the broker could not store a PUBLISH and closed the connection (broker/aedes/redis-gate.ts); not the client's fault.
  if (typeof code === 'string') return code.startsWith('VIGIL_E_') && code !== 'VIGIL_E_REDIS'
  return !TRANSPORT_MESSAGES.has(err.message)
}
