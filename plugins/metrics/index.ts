/**
 * Message and byte counters (docs/metrics.md) fed from the packet path
 * without per-packet allocation: message counts are plain array increments that
 * prom-client reads at scrape time (qosCounter), and byte totals are read from
 * the sockets at scrape time so a packet costs nothing for them.
 *
 * Register this plugin LAST: a delivery is counted in authorizeForward, and the
 * host stops the forward chain at the first plugin that withholds a message, so
 * only a metrics hook that runs after every other one sees real deliveries.
 */
import type { Client, PublishPacket } from 'aedes'
import { Counter, type Registry } from 'prom-client'
import { transportOf, upgradeRequestOf } from '../../broker/aedes/index.js'
import { definePlugin } from '../../broker/plugin-types.js'
import { ByteTally, type CountedSocket } from './byte-tally.js'

export const QOS_LABELS = ['0', '1', '2'] as const

/**
 * The socket whose counters measure this client's traffic: the TCP/TLS socket
 * itself, or, for MQTT over WebSocket, the HTTP request's socket under the
 * WebSocket stream (which has no byte counters of its own).
 */
export function wireSocket (client: Client): CountedSocket | null {
  const req = upgradeRequestOf(client)
  if (req !== null && req.socket !== undefined) return req.socket
  const conn = transportOf(client) as Partial<CountedSocket> | undefined
  if (conn !== undefined && conn !== null && typeof conn.bytesRead === 'number') return conn as CountedSocket
  return null
}

/**
 * A counter by QoS whose hot path is an array increment. prom-client's labelled
 * `inc()` hashes and validates the labels on every call (an allocation per message,
 * measured in the fan-in profile), so the counts are plain numbers here and the
 * prom-client counter catches up with them when it is scraped.
 */
export function qosCounter (registry: Registry, name: string, help: string): number[] {
  const counts = [0, 0, 0]
  const reported = [0, 0, 0]
  const counter = new Counter({
    name,
    help,
    labelNames: ['qos'],
    registers: [registry],
    collect () {
      for (let qos = 0; qos < counts.length; qos++) {
        const delta = counts[qos]! - reported[qos]!
        if (delta > 0) this.inc({ qos: QOS_LABELS[qos]! }, delta)
        reported[qos] = counts[qos]!
      }
    }
  })
  for (const qos of QOS_LABELS) counter.inc({ qos }, 0)
  return counts
}

/** A counter of a running total read at scrape time: prom-client catches up by the difference. */
function totalCounter (registry: Registry, name: string, help: string, read: () => number): void {
  let reported = 0
  new Counter({
    name,
    help,
    registers: [registry],
    collect () {
      const total = read()
      if (total > reported) {
        this.inc(total - reported)
        reported = total
      }
    }
  })
}

export const metricsPlugin = definePlugin({
  name: 'metrics',
  async setup (ctx) {
    const receivedByQos = qosCounter(ctx.metrics, 'vigil_messages_received_total',
      'PUBLISH packets received from clients (wills excluded), by QoS')
    const deliveredByQos = qosCounter(ctx.metrics, 'vigil_messages_delivered_total',
      'Messages forwarded to subscribers, one per subscriber, by the QoS they were published with')

    const tally = new ByteTally()
    // One walk over the live sockets per scrape, shared by both byte counters: prom-client
    // runs every collect() of a scrape synchronously, and the snapshot is dropped after it.
    let snapshot: { read: number, written: number } | null = null
    const totals = (): { read: number, written: number } => {
      if (snapshot === null) {
        snapshot = tally.totals()
        setImmediate(() => { snapshot = null })
      }
      return snapshot
    }
    totalCounter(ctx.metrics, 'vigil_bytes_received_total',
      'Bytes read from MQTT client connections (TCP, TLS and WebSocket framing included)', () => totals().read)
    totalCounter(ctx.metrics, 'vigil_bytes_sent_total',
      'Bytes written to MQTT client connections (TCP, TLS and WebSocket framing included)', () => totals().written)

    return {
      // The first hook that sees a new connection; once per connection, not per packet.
      preConnect (client: Client) {
        const socket = wireSocket(client)
        if (socket !== null) tally.track(socket)
      },
      authorizePublish (client: Client | null, packet: PublishPacket) {
        // A will has no `cmd` (it comes from the CONNECT packet), a parsed PUBLISH does.
        if (client !== null && packet.cmd === 'publish') receivedByQos[packet.qos]++
      },
      authorizeForward (_client, packet) {
        deliveredByQos[packet.qos]++
        return packet
      }
    }
  }
})

export default metricsPlugin
