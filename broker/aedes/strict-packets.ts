/**
 * Strict MQTT 3.1.1 packets at the edge of Aedes (issue 13). Aedes 1.2 and
 * mqtt-packet 9 accept, where the spec and Mosquitto 2 refuse:
 * - ill-formed UTF-8 and U+0000 in any string (mqtt-packet decodes with
 *   replacement characters) [MQTT-1.5.3-1], [MQTT-1.5.3-2];
 * - a protocol name that does not go with its level [MQTT-3.1.2-2];
 * - an empty clientId with CleanSession 0 (Aedes makes up `aedes_<uuid>`
 *   before any hook runs, and keeps a session under it) [MQTT-3.1.3-8];
 * - a password without a user name [MQTT-3.1.2-22];
 * - filters like `a+` in SUBSCRIBE and UNSUBSCRIBE [MQTT-4.7.1-2], [MQTT-4.7.1-3];
 * - a will topic with wildcards [MQTT-4.7.1-1].
 *
 * The checks sit on each client's mqtt-packet parser, where the raw bytes and
 * the packet as sent are still there: every string as it is decoded, every
 * CONNECT, SUBSCRIBE and UNSUBSCRIBE before Aedes handles it. A PUBLISH pays
 * two indexOf on its topic and one function call. It relies on parser
 * internals (`_parseString`, `_emitError`, the 'packet' listener Aedes' Client
 * adds); `install` fails at start-up if they are not there, and
 * test/integration/conformance.test.ts sends the raw bytes of every case.
 */
import type { Aedes, Client } from 'aedes'
import { VigilError } from '../errors.js'
import { connectVerdict, type RawConnect } from './connect-rules.js'
import { STRING_PROBLEM_TEXT, stringProblem } from './mqtt-strings.js'
import { filterProblem } from './topic-syntax.js'
import { DISCONNECT_RECEIVE_MAXIMUM, endForProtocolError, noteConnect, noteDisconnect } from './mqtt5.js'
import { cleanIncomingOfCleanSessions, fixBrokerRegressions, fixClientRegressions, INBOUND_QOS2_WINDOW, shieldProtoFilters } from './regressions.js'
import { shieldSharedFilters, type SharedSubscribeLike } from './shared-subscriptions.js'
import mqttPacket from 'mqtt-packet'

interface ParserInternals {
  _pos: number
  _list: { slice(start: number, end: number): Buffer }
  packet: { cmd?: string }
  _parseString(maybeBuffer?: unknown): string | null
  _emitError(err: Error): void
  listeners(event: 'packet'): Array<(this: ParserInternals, packet: unknown) => void>
  removeAllListeners(event: 'packet'): unknown
  on(event: 'packet', listener: (this: ParserInternals, packet: unknown) => void): unknown
}

interface ClientInternals {
  _parser?: ParserInternals
  conn: { write(data: Buffer, cb: () => void): unknown, destroy(): unknown, remoteAddress?: string }
  req?: { socket?: { remoteAddress?: string } } | null
}

/** What a CONNECT said, kept for the logs (Aedes keeps neither username nor keepalive). */
export interface ConnectInfo {
  clientId: string
  username: string | null
  keepalive: number
  clean: boolean
  protocolVersion: number
  /** The peer, read while the socket is open (a destroyed socket has no address). */
  address: string | null
}

export interface ConnectRefusal {
  info: ConnectInfo
  returnCode: 1 | 2
  reason: string
}

export interface StrictHooks {
  /** A CONNECT this layer refused with a CONNACK (Aedes never saw it, so emits no event for it). */
  refused(refusal: ConnectRefusal): void
}

const connectInfos = new WeakMap<object, ConnectInfo>()

/** The CONNECT of `client` as sent, once it has arrived. */
export function connectInfo (client: Client): ConnectInfo | undefined {
  return connectInfos.get(client)
}

const addresses = new WeakMap<object, string | null>()

/**
 * The peer's address: the socket's for TCP/TLS, the upgrade request's for
 * WebSocket, read when the connection was accepted (Aedes destroys the socket
 * before it reports a protocol error, and a destroyed socket has no address).
 */
export function remoteAddress (client: Client): string | null {
  const known = addresses.get(client)
  if (known !== undefined) return known
  const c = client as unknown as ClientInternals
  return c.conn?.remoteAddress ?? c.req?.socket?.remoteAddress ?? null
}

const protocolError = (message: string): VigilError => new VigilError('VIGIL_E_PROTOCOL', message)

/** Wrap `broker.handle` once so every new client's parser gets the checks. */
export function installStrictPackets (broker: Aedes, hooks: StrictHooks): void {
  fixBrokerRegressions(broker)
  // Clean Start / CleanSession as sent (Aedes 2 turns `clean` into "ends with the connection" for MQTT 5).
  cleanIncomingOfCleanSessions(broker, (client) => connectInfo(client)?.clean ?? client.clean, (err) => broker.emit('error', err))
  const handle = broker.handle.bind(broker)
  broker.handle = ((conn: unknown, req: unknown) => {
    const client = (handle as (c: unknown, r: unknown) => Client)(conn, req)
    fixClientRegressions(broker, client)
    addresses.set(client, remoteAddress(client))
    applyStrictChecks(client, hooks)
    return client
  }) as Aedes['handle']
}

/** [MQTT-3.2.2-6] 3.1.1 return codes as MQTT 5 reason codes: 0x84 unsupported protocol version, 0x85 client identifier not valid. */
const V5_REFUSALS = { 1: 0x84, 2: 0x85 } as const

/** The CONNACK refusing a CONNECT: 3.1.1 return code, or for MQTT 5 a reason code and a Reason String [MQTT-3.2.2.3.9]. */
function refusalConnack (protocolVersion: number, returnCode: 1 | 2, reason: string, reasonCode?: number, maximumPacketSize?: number): Buffer {
  if (protocolVersion !== 5) return Buffer.from([0x20, 0x02, 0x00, returnCode])
  const packet = {
    cmd: 'connack', sessionPresent: false, reasonCode: reasonCode ?? V5_REFUSALS[returnCode], properties: { reasonString: reason }
  } as mqttPacket.IConnackPacket
  const bytes = mqttPacket.generate(packet, { protocolVersion: 5 })
  // Not over the client's Maximum Packet Size: then without the Reason String [MQTT-3.2.2-19].
  if (maximumPacketSize === undefined || bytes.length <= maximumPacketSize) return bytes
  delete packet.properties
  return mqttPacket.generate(packet, { protocolVersion: 5 })
}

/** The checks on one client (exported for bench/strict-packets.ts, which measures them on a bare parser). */
export function applyStrictChecks (client: Client, hooks: StrictHooks): void {
  const c = client as unknown as ClientInternals
  const parser = c._parser
  if (parser === undefined || typeof parser._parseString !== 'function' || typeof parser._emitError !== 'function') {
    throw new Error('aedes client has no mqtt-packet parser to check; strict packet checks cannot be installed')
  }
  const downstream = parser.listeners('packet')
  if (downstream.length !== 1) throw new Error(`aedes client parser has ${downstream.length} packet listeners, expected 1`)
  const enqueue = downstream[0]!

  // A string's problem is found while the parser is inside a packet; its caller
  // then reports "Cannot parse ..." through _emitError, which reports ours instead.
  let pending: VigilError | null = null
  const parseString = parser._parseString
  parser._parseString = function checkedString (this: ParserInternals, maybeBuffer?: unknown): string | null {
    const start = this._pos + 2
    const value = parseString.call(this, maybeBuffer)
    if (value === null) return null
    const problem = stringProblem(value, this._list, start, this._pos)
    if (problem === null) return value
    pending = protocolError(`${this.packet.cmd ?? 'packet'}: ${STRING_PROBLEM_TEXT[problem]}`)
    return null
  }
  let refused = false
  const emitError = parser._emitError
  parser._emitError = function reportedError (this: ParserInternals, err: Error): void {
    const error = pending ?? err
    pending = null
    // MQTT 5: a DISCONNECT with the reason first; the parser stops as on any error, later packets are dropped.
    if (endForProtocolError(client, error)) {
      (this as unknown as { error: Error }).error = error
      refused = true
      return
    }
    emitError.call(this, error)
  }

  /** Packet Identifiers of inbound QoS 2 PUBLISH awaiting PUBREL (regressions.ts 4). */
  let awaitingRelease: Set<number> | null = null
  parser.removeAllListeners('packet')
  parser.on('packet', function checkedPacket (this: ParserInternals, packet: unknown): void {
    if (refused) return
    const p = packet as { cmd: string }
    switch (p.cmd) {
      case 'publish': {
        if ((packet as { qos: number }).qos !== 2) break
        const id = (packet as { messageId: number }).messageId
        awaitingRelease ??= new Set()
        // A retransmission (DUP) of one awaiting release takes no second place.
        if (!awaitingRelease.has(id) && awaitingRelease.size >= INBOUND_QOS2_WINDOW) {
          return this._emitError(Object.assign(protocolError(`PUBLISH: ${INBOUND_QOS2_WINDOW} QoS 2 messages already await PUBREL`),
            { reasonCode: DISCONNECT_RECEIVE_MAXIMUM }))
        }
        awaitingRelease.add(id)
        break
      }
      case 'pubrel':
        awaitingRelease?.delete((packet as { messageId: number }).messageId)
        break
      case 'connect': {
        // A second CONNECT is Aedes' to refuse: it closes the connection [MQTT-3.1.0-2].
        if (connectInfos.has(client)) break
        const connect = packet as RawConnect & { keepalive: number }
        const info: ConnectInfo = {
          clientId: connect.clientId,
          username: connect.username ?? null,
          keepalive: connect.keepalive,
          clean: connect.clean,
          protocolVersion: connect.protocolVersion,
          address: remoteAddress(client)
        }
        connectInfos.set(client, info)
        const verdict = connectVerdict(connect)
        if (verdict === null) {
          noteConnect(client, connect)
          break
        }
        if (verdict.action === 'close') return this._emitError(protocolError(`CONNECT: ${verdict.reason}`))
        // Aedes never sees this CONNECT: the CONNACK is written here [MQTT-3.2.2-5], then the
        // connection closes. Whatever the client sent after it is dropped.
        refused = true
        hooks.refused({ info, returnCode: verdict.returnCode, reason: verdict.reason })
        c.conn.write(refusalConnack(connect.protocolVersion, verdict.returnCode, verdict.reason, verdict.reasonCode, connect.properties?.maximumPacketSize), () => c.conn.destroy())
        return
      }
      case 'disconnect':
        noteDisconnect(client, packet as { reasonCode?: number })
        break
      case 'subscribe': {
        // `$share/` filters first (shared-subscriptions.ts): a refused one never reaches the checks below.
        const shared = shieldSharedFilters(client, packet as SharedSubscribeLike, connectInfos.get(client)?.protocolVersion ?? 4)
        if (shared !== null) return this._emitError(Object.assign(protocolError(`SUBSCRIBE: ${shared.reason}`), { reasonCode: shared.reasonCode }))
        for (const sub of (packet as { subscriptions: Array<{ topic: string }> }).subscriptions) {
          const problem = filterProblem(sub.topic)
          if (problem !== null) return this._emitError(protocolError(`SUBSCRIBE: ${problem}`))
        }
        shieldProtoFilters((packet as { subscriptions: Array<{ topic: string }> }).subscriptions)
        break
      }
      case 'unsubscribe':
        for (const filter of (packet as { unsubscriptions: string[] }).unsubscriptions) {
          const problem = filterProblem(filter)
          if (problem !== null) return this._emitError(protocolError(`UNSUBSCRIBE: ${problem}`))
        }
        break
    }
    enqueue.call(this, packet)
  })
}
