/**
 * Resuming a session as the spec says, where aedes 2.0.0-beta.1 does not
 * (issue 20, found by test/conformance5/ beside Mosquitto 2):
 *
 * 1. An MQTT 5 client that connects with Clean Start 0 and no (or a zero)
 *    Session Expiry Interval resumes its session [MQTT-3.1.2-5]: the expiry
 *    only says the session ends with this new connection [MQTT-3.1.2-23].
 *    The beta turns a zero expiry into `client.clean` at CONNECT, and its
 *    emptyQueue then clears every queued QoS 1/2 message instead of sending
 *    it (`if (client.clean || ...) outgoingClearMessageId`). A client that
 *    never sets the property (paho-mqtt's and many devices' default) lost its
 *    whole offline queue. For such a CONNECT, `clean` reads false until the
 *    connection is up (the queue has gone out then), and is a plain field
 *    again afterwards: the hot path reads a field as before.
 * 2. A PUBLISH sent again from the session carries DUP 1 [MQTT-3.3.1-1]: the
 *    beta resends stored packets with the DUP they were first sent with (0).
 *    A stored packet that has a Packet Identifier was handed to the client
 *    before; one queued while it was offline has none and goes out DUP 0.
 * 3. That resend keeps to the client's Receive Maximum [MQTT-3.3.4-7]
 *    (receive-maximum.ts): each QoS 1/2 packet waits for room in the window.
 */
import { Readable } from 'node:stream'
import type { Aedes, Client } from 'aedes'
import { whenWindowOpens } from './receive-maximum.js'

interface ParserEvents {
  prependListener(event: 'packet', fn: (packet: { cmd: string, protocolVersion?: number, clean?: boolean }) => void): unknown
  removeListener(event: 'packet', fn: (packet: never) => void): unknown
}

/** `client.clean` reads false while the connection is being set up; a plain field once it is up. */
function holdCleanUntilConnected (client: Client): void {
  const c = client as unknown as { clean: boolean, connected: boolean }
  let value = c.clean
  Object.defineProperty(client, 'clean', {
    configurable: true,
    enumerable: true,
    get (this: { connected: boolean }) { return this.connected ? value : false },
    set (v: boolean) { value = v }
  })
  client.once('connected', () => {
    Object.defineProperty(client, 'clean', { configurable: true, enumerable: true, writable: true, value })
  })
}

/** Wrap `broker.handle` once so a v5 CONNECT with Clean Start 0 gets its queue (1). */
export function resumeQueuedSessions (broker: Aedes): void {
  const handle = broker.handle.bind(broker)
  broker.handle = ((conn: unknown, req: unknown) => {
    const client = (handle as (c: unknown, r: unknown) => Client)(conn, req)
    const parser = (client as unknown as { _parser?: ParserEvents })._parser
    if (parser === undefined || typeof parser.prependListener !== 'function') {
      throw new Error('aedes client has no mqtt-packet parser; session resumption cannot be fixed')
    }
    // Before Aedes (and strict-packets.ts) see the first packet: only the CONNECT matters.
    const first = (packet: { cmd: string, protocolVersion?: number, clean?: boolean }): void => {
      parser.removeListener('packet', first)
      if (packet.cmd === 'connect' && packet.protocolVersion === 5 && packet.clean === false) holdCleanUntilConnected(client)
    }
    parser.prependListener('packet', first)
    return client
  }) as Aedes['handle']
}

interface Stored { cmd?: string, qos?: number, messageId?: number | null, dup?: boolean, brokerId?: string, brokerCounter?: number }
type Session = { id: string, connected?: boolean }
interface OutgoingStore {
  outgoingStream(client: Session): AsyncIterable<Stored>
  outgoingUpdate(client: Session, packet: Stored): Promise<unknown>
}

/** Per client being set up: the stored QoS 1/2 PUBLISH (broker id and counter) Aedes is resending. */
const resending = new WeakMap<object, Set<string>>()
const keyOf = (packet: Stored): string => `${packet.brokerId ?? ''}:${String(packet.brokerCounter)}`

async function * marked (source: AsyncIterable<Stored>, client: Session): AsyncGenerator<Stored> {
  for await (const packet of source) {
    const publish = packet.cmd !== 'pubrel' && (packet.qos ?? 0) > 0
    if (publish && packet.messageId != null) packet.dup = true
    // While the connection is being set up this is Aedes resending the session (3); once it is
    // up, a replay, which delivers through receive-maximum.ts's gate.
    if (publish && client.connected !== true) {
      let keys = resending.get(client)
      if (keys === undefined) resending.set(client, keys = new Set())
      keys.add(keyOf(packet))
    }
    yield packet
  }
}

/** Wrap the persistence's outgoingStream and outgoingUpdate once, before the broker listens (2, 3). */
export function markRedeliveries (persistence: object): void {
  const store = persistence as OutgoingStore
  const stream = store.outgoingStream.bind(store)
  store.outgoingStream = (client) => Readable.from(marked(stream(client), client), { objectMode: true })
  // Aedes updates each resent packet right before writing it, and takes the next one only after the
  // write: waiting here holds the resend at the client's window. Live deliveries never wait here.
  const update = store.outgoingUpdate.bind(store)
  store.outgoingUpdate = async (client, packet) => {
    const keys = resending.get(client)
    if (keys !== undefined && keys.delete(keyOf(packet))) await whenWindowOpens(client)
    return await update(client, packet)
  }
}
