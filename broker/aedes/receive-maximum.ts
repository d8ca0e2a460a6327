/**
 * An MQTT 5 client's Receive Maximum on live deliveries [MQTT-3.3.4-7]:
 * the broker sends no more unacknowledged QoS 1 and QoS 2 PUBLISH than the
 * client said it can take (issue 20, found by test/conformance5/ beside
 * Mosquitto 2). aedes 2.0.0-beta.1 stores the value and sends regardless.
 *
 * Only a v5 client whose CONNECT sets a Receive Maximum below 65535 gets the
 * gate; every other client's delivery pays one null check. For a gated one:
 * - in flight = QoS 1/2 PUBLISH written to its socket (seen by their first
 *   byte: mqtt-packet writes each PUBLISH's fixed header as one of its shared
 *   one-byte buffers) and not yet PUBACKed, PUBCOMPed or refused in a PUBREC
 *   [MQTT-3.3.4-8], plus deliveries started and not finished (Aedes
 *   writes a turn later, or filters the message out);
 * - a delivery that would pass the maximum waits in a per-client queue, and
 *   so does every delivery after it (QoS 0 too: order is kept), and goes out
 *   as acknowledgements come in. Its emitter callback is
 *   called at once: a slow client never holds up the broker's routing. The
 *   queue is bounded (HELD_MAX); past it a message is not held and is counted
 *   in vigil_mqtt5_receive_maximum_dropped_total. A held message of a
 *   persistent session is also in the session's store (Aedes queued it
 *   before delivering) and is resent on the next connection.
 *
 * Installed around delivery-dedupe.ts's wrapper: a held message passes the
 * duplicate filter when it goes out, not when it was held (else a later
 * message that went first would make it look like a duplicate).
 *
 * The stored messages Aedes resends when a session resumes are written by
 * its CONNECT handling itself, one after the other, each right after its
 * outgoingUpdate: session-resume.ts makes that update wait on
 * whenWindowOpens(), so they keep to the window too.
 */
import { createRequire } from 'node:module'
import type { Aedes, AedesPublishPacket, Client } from 'aedes'
import { Counter, type Registry } from 'prom-client'

/** Deliveries one client may have waiting for its window (then they are dropped, counted). */
export const HELD_MAX = 1000

const NO_LIMIT = 65535

const protocol = createRequire(import.meta.url)('mqtt-packet/constants.js') as { PUBLISH_HEADER: Buffer[][][] }
/** The fixed-header buffers mqtt-packet writes first for every QoS 1 and QoS 2 PUBLISH. */
const QOS_HEADERS = new Set<unknown>([1, 2].flatMap((qos) => protocol.PUBLISH_HEADER[qos]!.flat()))

type Done = () => void
type Deliver = (packet: AedesPublishPacket, done: Done) => void

interface Gate {
  max: number
  inFlight: number
  starting: number
  held: Array<[AedesPublishPacket, Done]>
  /** The session's resend, waiting for room (one at a time: Aedes resends in sequence). */
  waiters: Array<() => void>
}

const gates = new WeakMap<object, Gate>()

/**
 * Null when `client` may be sent one more QoS 1/2 PUBLISH now (no gate, or
 * room in its window); else a promise that resolves when there is room, or
 * when the connection closes.
 */
export function whenWindowOpens (client: object): Promise<void> | null {
  const g = gates.get(client)
  if (g === undefined || g.inFlight + g.starting < g.max) return null
  return new Promise<void>((resolve) => { g.waiters.push(resolve) })
}

interface Internals {
  deliverQoS: Deliver
  closed: boolean
  conn: { write(chunk: unknown, ...rest: unknown[]): boolean }
  _parser: { prependListener(event: 'packet', fn: (packet: AckLike) => void): unknown }
}

interface AckLike { cmd: string, protocolVersion?: number, reasonCode?: number, properties?: { receiveMaximum?: number } }

export function applyReceiveMaximum (broker: Aedes, registry: Registry): void {
  const dropped = new Counter({
    name: 'vigil_mqtt5_receive_maximum_dropped_total',
    help: 'QoS 1/2 deliveries not held for an MQTT 5 client whose Receive Maximum window and hold queue were full',
    registers: [registry]
  })
  const handle = broker.handle.bind(broker)
  broker.handle = ((conn: unknown, req: unknown) => {
    const client = (handle as (c: unknown, r: unknown) => Client)(conn, req)
    gateClient(client as unknown as Internals, () => dropped.inc())
    return client
  }) as Aedes['handle']
}

function gateClient (c: Internals, onDrop: () => void): void {
  let gate: Gate | null = null
  const deliver = c.deliverQoS

  const start = (g: Gate, packet: AedesPublishPacket, done: Done): void => {
    g.starting++
    deliver(packet, () => {
      g.starting--
      done()
      pump(g)
    })
  }
  const pump = (g: Gate): void => {
    while (g.held.length > 0 && !c.closed) {
      const [packet, done] = g.held[0]!
      if (packet.qos === 0) deliver(packet, done)
      else if (g.inFlight + g.starting < g.max) start(g, packet, done)
      else break
      g.held.shift()
    }
    if (c.closed) g.held.length = 0
    while (g.waiters.length > 0 && (c.closed || g.inFlight + g.starting < g.max)) g.waiters.shift()!()
  }

  // Subscriptions take `client.deliverQoS` when they are made (after this), so every one goes through here.
  c.deliverQoS = function gatedDeliverQoS (packet, done) {
    const g = gate
    if (g === null) return deliver(packet, done)
    if (g.held.length === 0 && (packet.qos === 0 || g.inFlight + g.starting < g.max)) {
      return packet.qos === 0 ? deliver(packet, done) : start(g, packet, done)
    }
    // Behind a held message even a QoS 0 one waits: order is kept [MQTT-4.6.0-6], and Aedes'
    // duplicate filter (by broker counter) would drop a held message that a later one overtook.
    if (g.held.length >= HELD_MAX) onDrop()
    else g.held.push([packet, noop])
    done()
  }

  c._parser.prependListener('packet', (packet) => {
    switch (packet.cmd) {
      case 'connect': {
        const max = packet.properties?.receiveMaximum
        if (packet.protocolVersion !== 5 || max === undefined || max >= NO_LIMIT || gate !== null) return
        const g: Gate = { max, inFlight: 0, starting: 0, held: [], waiters: [] }
        gate = g
        gates.set(c, g)
        // A resend waiting for room must not wait for ever on a closed connection.
        ;(c.conn as unknown as { once(event: 'close', fn: () => void): unknown }).once('close', () => pump(g))
        const write = c.conn.write
        c.conn.write = function countedWrite (this: unknown, chunk: unknown, ...rest: unknown[]): boolean {
          if (QOS_HEADERS.has(chunk)) g.inFlight++
          return write.call(this, chunk, ...rest)
        }
        return
      }
      case 'puback':
      case 'pubcomp':
        release()
        return
      case 'pubrec':
        // A PUBREC with a failure code ends the QoS 2 exchange [MQTT-4.3.3-4]; a good one keeps the slot until PUBCOMP.
        if ((packet.reasonCode ?? 0) >= 0x80) release()
    }
  })

  function release (): void {
    const g = gate
    if (g === null) return
    if (g.inFlight > 0) g.inFlight--
    pump(g)
  }
}

function noop (): void {}
