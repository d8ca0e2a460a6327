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
 *
 * The same window carries what shared-subscriptions.ts owes a connection:
 * the reason codes of the `$share/` filters it kept from Aedes (a SUBACK by
 * Packet Identifier) and Shared Subscription Available on its CONNACK.
 */
import type { Aedes } from 'aedes'
import mqttPacket from 'mqtt-packet'

type WriteToStream = (packet: unknown, stream: unknown, opts?: unknown) => boolean

interface Mutable { writeToStream: WriteToStream }
const codec = mqttPacket as unknown as Mutable
/** What writes when no refusal is pending: taken at install (publish-encoding.ts may have replaced mqtt-packet's). */
let original: WriteToStream = codec.writeToStream
/** Whether explainedWrite is in the write path (in place, or inside a wrapper installed after it). */
let inChain = false

interface SubscribingClient {
  version: number
  connected: boolean
  _requestProblemInformation?: boolean
  maximumPacketSize?: number
  conn: { once(event: 'close', fn: () => void): unknown }
}

interface SubAckLike { cmd?: string, messageId?: number, granted?: number[], properties?: Record<string, unknown> }

/** A reason code for the filter at `index` of a SUBSCRIBE, which Aedes never saw (it is not in Aedes' SUBACK). */
export interface OwedCode { index: number, code: number, reason: string }

interface Owed {
  client: SubscribingClient
  /** Reason Strings for the next SUBACK. */
  reasons: string[]
  /** Codes to put into the SUBACK with that Packet Identifier. */
  codes: Map<number, OwedCode[]> | null
  /** A fix for the CONNACK. */
  connack: ((packet: { properties?: Record<string, unknown> }) => void) | null
}

/** What is owed, by connection (the stream Aedes writes to). */
const pending = new Map<unknown, Owed>()

function explainedWrite (packet: unknown, stream: unknown, opts?: unknown): boolean {
  const p = packet as SubAckLike
  // Every other packet (PUBLISH above all) pays two compares while something is owed.
  if (p.cmd !== 'suback' && p.cmd !== 'connack') return original(packet, stream, opts)
  const owed = pending.get(stream)
  if (owed === undefined) return original(packet, stream, opts)
  if (p.cmd === 'connack') {
    owed.connack?.(p)
    owed.connack = null
  } else {
    const codes = p.messageId === undefined ? undefined : owed.codes?.get(p.messageId)
    const granted = p.granted ?? []
    const reasons = owed.reasons
    owed.reasons = []
    if (codes !== undefined) {
      owed.codes!.delete(p.messageId!)
      // In ascending index order, each at the place its filter had in the SUBSCRIBE.
      for (const { index, code, reason } of codes) {
        granted.splice(Math.min(index, granted.length), 0, code)
        reasons.push(reason)
      }
      p.granted = granted
    }
    const reason = reasons.join('; ')
    if (reason !== '' && explains(owed.client) && granted.some((code) => code >= 0x80) && fits(owed.client, reason, granted.length)) {
      p.properties = { ...p.properties, reasonString: reason }
    }
  }
  if (owed.reasons.length === 0 && owed.connack === null && (owed.codes === null || owed.codes.size === 0)) settle(stream)
  return original(packet, stream, opts)
}

/** A Reason String goes to a connected MQTT 5 client that did not turn them off [MQTT-3.1.2-29]. */
const explains = (client: SubscribingClient): boolean => client.version === 5 && client._requestProblemInformation !== false

function settle (stream: unknown): void {
  pending.delete(stream)
  // Put back only when nothing wrapped it since; inside another wrapper it stays, passing through.
  if (pending.size === 0 && codec.writeToStream === explainedWrite) {
    codec.writeToStream = original
    inChain = false
  }
}

/** Whether the SUBACK with this Reason String stays within the client's Maximum Packet Size. */
function fits (client: SubscribingClient, reason: string, grantedCount: number): boolean {
  // Fixed header (<= 5) + Packet Identifier + properties (length <= 4, id, string length) + reason codes.
  const size = 5 + 2 + 4 + 3 + Buffer.byteLength(reason) + grantedCount
  return client.maximumPacketSize === undefined || size <= client.maximumPacketSize
}

function owedTo (client: SubscribingClient): Owed {
  const owed = pending.get(client.conn)
  if (owed !== undefined) return owed
  const fresh: Owed = { client, reasons: [], codes: null, connack: null }
  if (!inChain) {
    // Whatever writes now (publish-encoding.ts, or a later wrapper) is what runs under this one.
    original = codec.writeToStream
    codec.writeToStream = explainedWrite
    inChain = true
  }
  pending.set(client.conn, fresh)
  client.conn.once('close', () => { if (pending.get(client.conn) === fresh) settle(client.conn) })
  return fresh
}

function owe (client: SubscribingClient, reason: string): void {
  owedTo(client).reasons.push(reason)
}

/** The SUBACK answering SUBSCRIBE `messageId` gets `codes` (ascending `index`) at their filters' places. */
export function oweSubackCodes (client: object, messageId: number, codes: OwedCode[]): void {
  const owed = owedTo(client as SubscribingClient)
  owed.codes ??= new Map()
  owed.codes.set(messageId, codes)
}

/** The CONNACK of this connection goes through `fix` before it is written. */
export function oweConnackFix (client: object, fix: (packet: { properties?: Record<string, unknown> }) => void): void {
  owedTo(client as SubscribingClient).connack = fix
}

/** Wrap the broker's (composed) authorizeSubscribe once: a refusal of an MQTT 5 client's filter is explained in its SUBACK. */
export function explainSubscribeRefusals (broker: Aedes): void {
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
