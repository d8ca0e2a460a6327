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
  client.disconnect({ reasonCode: typeof code === 'number' ? code : NOT_AUTHORIZED, properties: { reasonString: err.message } })
}
