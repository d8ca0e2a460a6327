/**
 * MQTT 5 facts of a connection that Aedes 2 does not keep where Vigil can read
 * them, taken from the packets as the parser handed them over (strict-packets.ts
 * calls in here before Aedes sees the packet):
 * - the DISCONNECT reason code (Aedes 2 only turns 0x04 into "keep the will");
 * - the Will Delay Interval, which Vigil applies itself through the wills
 *   plugin's hold (one delay store for `wills.delay` and the client's own).
 *   Aedes 2 would otherwise run its own timer and publish the will later
 *   through authorizePublish after it has cleared `client.will`, so the will
 *   could no longer be told apart from a recovered one, and it would forward
 *   the will-only property in the PUBLISH [MQTT-3.1.3-10].
 */
import type { Client } from 'aedes'
import { PublishDenied } from '../errors.js'

/** [MQTT-3.14.2.1] DISCONNECT reason codes Vigil tells apart. */
export const DISCONNECT_NORMAL = 0x00
export const DISCONNECT_WITH_WILL = 0x04

interface V5Facts {
  /** Will Delay Interval (s) from CONNECT, or undefined when the client set none. */
  willDelay: number | undefined
  /** Reason code of the client's DISCONNECT, or undefined when it sent none. */
  disconnectReason: number | undefined
}

const facts = new WeakMap<object, V5Facts>()

interface V5Connect {
  protocolVersion: number
  will?: { topic: string, properties?: { willDelayInterval?: number } } | null
}

/** CONNECT arrived (before Aedes handles it): keep the will delay and take it off the will. */
export function noteConnect (client: Client, packet: V5Connect): void {
  if (packet.protocolVersion !== 5) return
  const props = packet.will?.properties
  const willDelay = props?.willDelayInterval
  if (props !== undefined && willDelay !== undefined) delete props.willDelayInterval
  facts.set(client, { willDelay, disconnectReason: undefined })
}

/** DISCONNECT arrived (v5 carries a reason code; an absent one means 0x00 [MQTT-3.14.2.1]). */
export function noteDisconnect (client: Client, packet: { reasonCode?: number }): void {
  const f = facts.get(client)
  if (f !== undefined) f.disconnectReason = packet.reasonCode ?? DISCONNECT_NORMAL
}

/** The reason code of the DISCONNECT this v5 client sent, or undefined (none sent, or 3.1.1). */
export function disconnectReasonCode (client: Client): number | undefined {
  return facts.get(client)?.disconnectReason
}

/**
 * How long (ms) the will of `client` waits after the connection ends, as the
 * client asked: the Will Delay Interval, or the end of the session if that is
 * sooner [MQTT-3.1.3-9]; undefined when the client set none (3.1.1, or no
 * property): then `wills.delay` applies.
 */
export function willDelayOf (client: Client): number | undefined {
  const delay = facts.get(client)?.willDelay
  if (delay === undefined) return undefined
  return Math.min(delay, client.sessionExpiryInterval) * 1000
}

/**
 * A `clientError` that does not end the connection: Aedes 2 answers a refused
 * MQTT 5 PUBLISH with a 0x87 PUBACK/PUBREC (or drops a refused QoS 0 one),
 * reports the refusal and keeps the client. Vigil keeps it only for a quiet
 * denial (an ACL); every other refusal ends the connection (endForRefusedPublish).
 */
export function errorKeepsConnection (client: Client, err: Error): boolean {
  return err instanceof PublishDenied && (client as unknown as { errored?: boolean }).errored !== true
}

/** [MQTT-3.14.2.1] 0x87 not authorized, unless the refusal names its own (0x96 message rate too high). */
const NOT_AUTHORIZED = 0x87

/**
 * A PUBLISH an MQTT 5 client sent was refused with an error that ends a 3.1.1
 * connection (a status topic it does not own, a rate limit): Aedes 2 only
 * answers it 0x87 and keeps the client, so end it here, with a DISCONNECT
 * carrying the reason code and the refusal as Reason String. After the
 * refusal's PUBACK: nothing may follow a DISCONNECT [MQTT-3.14.4-1]. Wills
 * (the client is closing, or the packet came back from persistence with a
 * brokerId) are left alone.
 */
export function endForRefusedPublish (client: Client, packet: object, err: Error): void {
  if (client.version !== 5 || client.closed || (packet as { brokerId?: unknown }).brokerId !== undefined) return
  const code = (err as { reasonCode?: unknown }).reasonCode
  const reasonCode = typeof code === 'number' ? code : NOT_AUTHORIZED
  const properties = disconnectProperties(client as { maximumPacketSize?: number }, err.message)
  client.disconnect(properties === undefined ? { reasonCode } : { reasonCode, properties })
}

/** [MQTT-3.14.2.1] reason codes of a DISCONNECT ending a connection for what the client sent. */
export const DISCONNECT_MALFORMED = 0x81
export const DISCONNECT_RECEIVE_MAXIMUM = 0x93
export const DISCONNECT_PACKET_TOO_LARGE = 0x95

/** The reason code for a parser-level error: its own, else by Vigil's code, else Malformed Packet. */
function protocolReasonCode (err: Error): number {
  const own = (err as { reasonCode?: unknown }).reasonCode
  if (typeof own === 'number') return own
  return (err as { code?: unknown }).code === 'VIGIL_E_PACKET_TOO_LARGE' ? DISCONNECT_PACKET_TOO_LARGE : DISCONNECT_MALFORMED
}

interface EndingClient {
  version: number
  connected: boolean
  closed: boolean
  errored?: boolean
  maximumPacketSize?: number
  broker: { emit(event: 'clientError', client: unknown, err: Error): unknown }
  pause(): void
  disconnect(opts: { reasonCode: number, properties?: { reasonString: string } }): void
}

/** A Reason String for a server DISCONNECT, unless it would take the packet over the client's Maximum Packet Size [MQTT-3.14.2-2]. */
function disconnectProperties (client: { maximumPacketSize?: number }, reason: string): { reasonString: string } | undefined {
  // Fixed header (2) + reason code + properties length + property id + string length.
  const size = 2 + 1 + 1 + 1 + 2 + Buffer.byteLength(reason)
  return client.maximumPacketSize !== undefined && size > client.maximumPacketSize ? undefined : { reasonString: reason }
}

/**
 * A connected MQTT 5 client sent what ends its connection (Vigil's packet
 * checks, mqtt.maxPacketSize, the inbound QoS 2 window, or a packet
 * mqtt-packet cannot parse): tell it why with a DISCONNECT carrying the
 * reason code and the error as Reason String [MQTT-4.13.1-1] instead of only
 * closing, as a 3.1.1 connection is. Reading stops; the error is reported as
 * Aedes would (`clientError`, so the liveness reason stays protocol_error) and
 * the will, if any, goes out as after any server-side close. False when the
 * client is not a connected v5 one: the caller closes it the 3.1.1 way.
 * disconnect-flush.ts makes the DISCONNECT reach the client before the socket
 * closes, and stops anything after it being read or written.
 */
export function endForProtocolError (client: Client, err: Error): boolean {
  const c = client as unknown as EndingClient
  if (c.version !== 5 || !c.connected || c.closed || c.errored === true) return false
  c.pause()
  c.broker.emit('clientError', client, err)
  const properties = disconnectProperties(c, err.message)
  c.disconnect(properties === undefined ? { reasonCode: protocolReasonCode(err) } : { reasonCode: protocolReasonCode(err), properties })
  return true
}

/** [MQTT-3.14.2.1] why the server ends a connection it was asked to end (Vigil's offline reasons). */
const KICK_REASON: Record<string, { reasonCode: number, reasonString: string }> = {
  kicked: { reasonCode: 0x98, reasonString: 'disconnected by an operator' },
  silent_timeout: { reasonCode: 0x98, reasonString: 'silent longer than the liveness timeout' },
  rate_limited: { reasonCode: 0x96, reasonString: 'over limits.publishRate' }
}

/**
 * End a connection the broker decided to end (a kick, a rate limit): an MQTT 5
 * client first gets a DISCONNECT with the reason code and a Reason String
 * [MQTT-3.14.0-1]; a 3.1.1 client is closed, as before. `done` runs once closed.
 */
export function closeWithReason (client: Client, reason: string, done: () => void): void {
  const why = KICK_REASON[reason]
  if (client.version !== 5 || why === undefined) return client.close(done)
  const properties = disconnectProperties(client as { maximumPacketSize?: number }, why.reasonString)
  client.disconnect(properties === undefined ? { reasonCode: why.reasonCode } : { reasonCode: why.reasonCode, properties }, done)
}
