/**
 * A Reason String on the SUBACK that refuses an MQTT 5 client's filter (0x87,
 * the ACL) [MQTT-3.9.2.1.2]. aedes 2.0.0-beta.1 writes its SUBACK with the
 * reason codes only (lib/handlers/subscribe.js `SubAck`), and the SUBACK
 * object is built inside the handler where no hook reaches it.
 *
 * So the refusal is noted when authorizeSubscribe refuses, and the SUBACK is
 * given its Reason String as mqtt-packet serialises it: `writeToStream`,
 * which Aedes' write looks up on the module at every write, is replaced only
 * while some connection has a refusal pending and put back after that
 * connection's SUBACK (or its close). Every other write, the hot path, runs
 * the original function with no wrapper.
 *
 * No Reason String for a client that set Request Problem Information to 0
 * [MQTT-3.1.2-29], nor where it would take the SUBACK over the client's
 * Maximum Packet Size [MQTT-3.9.2-1].
 */
import type { Aedes } from 'aedes'
import mqttPacket from 'mqtt-packet'

type WriteToStream = (packet: unknown, stream: unknown, opts?: unknown) => boolean

interface Mutable { writeToStream: WriteToStream }
const codec = mqttPacket as unknown as Mutable
/** What writes when no refusal is pending: taken at install (publish-encoding.ts may have replaced mqtt-packet's). */
let original: WriteToStream = codec.writeToStream

interface SubscribingClient {
  version: number
  connected: boolean
  _requestProblemInformation?: boolean
  maximumPacketSize?: number
  conn: { once(event: 'close', fn: () => void): unknown }
}

interface SubAckLike { cmd?: string, granted?: number[], properties?: Record<string, unknown> }

/** Reason Strings owed, by connection (the stream Aedes writes the SUBACK to). */
const pending = new Map<unknown, { client: SubscribingClient, reasons: string[] }>()

function explainedWrite (packet: unknown, stream: unknown, opts?: unknown): boolean {
  const p = packet as SubAckLike
  const owed = p.cmd === 'suback' ? pending.get(stream) : undefined
  if (owed !== undefined) {
    settle(stream)
    const granted = p.granted ?? []
    const reason = owed.reasons.join('; ')
    if (granted.some((code) => code >= 0x80) && fits(owed.client, reason, granted.length)) p.properties = { ...p.properties, reasonString: reason }
  }
  return original(packet, stream, opts)
}

function settle (stream: unknown): void {
  pending.delete(stream)
  if (pending.size === 0) codec.writeToStream = original
}

/** Whether the SUBACK with this Reason String stays within the client's Maximum Packet Size. */
function fits (client: SubscribingClient, reason: string, grantedCount: number): boolean {
  // Fixed header (<= 5) + Packet Identifier + properties (length <= 4, id, string length) + reason codes.
  const size = 5 + 2 + 4 + 3 + Buffer.byteLength(reason) + grantedCount
  return client.maximumPacketSize === undefined || size <= client.maximumPacketSize
}

function owe (client: SubscribingClient, reason: string): void {
  const owed = pending.get(client.conn)
  if (owed !== undefined) {
    owed.reasons.push(reason)
    return
  }
  pending.set(client.conn, { client, reasons: [reason] })
  client.conn.once('close', () => { if (pending.has(client.conn)) settle(client.conn) })
  codec.writeToStream = explainedWrite
}

/** Wrap the broker's (composed) authorizeSubscribe once: a refusal of an MQTT 5 client's filter is explained in its SUBACK. */
export function explainSubscribeRefusals (broker: Aedes): void {
  if (pending.size === 0) original = codec.writeToStream
  const authorize = broker.authorizeSubscribe.bind(broker)
  broker.authorizeSubscribe = (client, subscription, callback) => {
    authorize(client, subscription, (err, sub) => {
      const c = client as unknown as SubscribingClient | null
      // Not while a session is restored at CONNECT: no SUBACK answers those.
      if ((err != null || sub == null) && c !== null && c.version === 5 && c.connected && c._requestProblemInformation !== false) {
        owe(c, `not authorized to subscribe to ${subscription.topic}`)
      }
      callback(err, sub)
    })
  }
}
