/**
 * Message and byte counters (CONTRACT.md section 7) fed from the packet path
 * without per-packet allocation: the labelled children are looked up once at
 * start-up, the hooks only call `.inc()` on them, and byte totals are read from
 * the sockets at scrape time so a packet costs nothing for them.
 *
 * Register this plugin LAST: a delivery is counted in authorizeForward, and the
 * host stops the forward chain at the first plugin that withholds a message, so
 * only a metrics hook that runs after every other one sees real deliveries.
 */
import type { Client, PublishPacket } from 'aedes'
import type { IncomingMessage } from 'node:http'
import { Counter } from 'prom-client'
import { definePlugin } from '../../broker/plugin-types.js'
import { ByteTally, type CountedSocket } from './byte-tally.js'

export const QOS_LABELS = ['0', '1', '2'] as const

interface ClientInternals { conn?: Partial<CountedSocket>, req?: IncomingMessage | null }

/**
 * The socket whose counters measure this client's traffic: the TCP/TLS socket
 * itself, or, for MQTT over WebSocket, the HTTP request's socket under the
 * WebSocket stream (which has no byte counters of its own).
 */
export function wireSocket (client: Client): CountedSocket | null {
  const internals = client as unknown as ClientInternals
  const req = internals.req
  if (req !== undefined && req !== null && req.socket !== undefined) return req.socket
  const conn = internals.conn
  if (conn !== undefined && typeof conn.bytesRead === 'number') return conn as CountedSocket
  return null
}

export const metricsPlugin = definePlugin({
  name: 'metrics',
  async setup (ctx) {
    const received = new Counter({
      name: 'vigil_messages_received_total',
      help: 'PUBLISH packets received from clients (wills excluded), by QoS',
      labelNames: ['qos'],
      registers: [ctx.metrics]
    })
    const delivered = new Counter({
      name: 'vigil_messages_delivered_total',
      help: 'Messages forwarded to subscribers, one per subscriber, by the QoS they were published with',
      labelNames: ['qos'],
      registers: [ctx.metrics]
    })
    // Children cached once: the hot path does an array index and an add.
    const receivedByQos = QOS_LABELS.map((qos) => received.labels(qos))
    const deliveredByQos = QOS_LABELS.map((qos) => delivered.labels(qos))
    for (const child of [...receivedByQos, ...deliveredByQos]) child.inc(0)

    const tally = new ByteTally()
    let reportedIn = 0
    let reportedOut = 0
    new Counter({
      name: 'vigil_bytes_received_total',
      help: 'Bytes read from MQTT client connections (TCP, TLS and WebSocket framing included)',
      registers: [ctx.metrics],
      collect () {
        const total = tally.totals().read
        if (total > reportedIn) this.inc(total - reportedIn)
        reportedIn = Math.max(reportedIn, total)
      }
    })
    new Counter({
      name: 'vigil_bytes_sent_total',
      help: 'Bytes written to MQTT client connections (TCP, TLS and WebSocket framing included)',
      registers: [ctx.metrics],
      collect () {
        const total = tally.totals().written
        if (total > reportedOut) this.inc(total - reportedOut)
        reportedOut = Math.max(reportedOut, total)
      }
    })

    return {
      // The first hook that sees a new connection; once per connection, not per packet.
      preConnect (client: Client) {
        const socket = wireSocket(client)
        if (socket !== null) tally.track(socket)
      },
      authorizePublish (client: Client | null, packet: PublishPacket) {
        // A will has no `cmd` (it comes from the CONNECT packet), a parsed PUBLISH does.
        if (client !== null && packet.cmd === 'publish') receivedByQos[packet.qos]?.inc()
      },
      authorizeForward (_client, packet) {
        deliveredByQos[packet.qos]?.inc()
        return packet
      }
    }
  }
})

export default metricsPlugin
