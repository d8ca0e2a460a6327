/**
 * Shared load of the Redis fault tests (issue 11): persistent-session QoS 1
 * subscribers on one node, a publisher on another sending numbered QoS 1
 * messages at a steady rate, and a fault injected part-way. Every message the
 * publisher got a PUBACK for must reach every subscriber; duplicates are
 * allowed (QoS 1 is at least once) and reported.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { sleep, waitFor } from '../helpers/clients.js'

import type { Teardown } from '../support/teardown.js'
type LoadTest = Teardown & { comment(...args: unknown[]): void }

export interface LoadOptions {
  publisherUrl: string
  subscriberUrl: string
  subscribers: number
  messages: number
  /** Messages per second. */
  rate: number
  /** Called once, when message `faultAt` is handed to the publisher. */
  faultAt: number
  fault(): Promise<void>
  /**
   * Wait until every subscriber has everything acknowledged so far before the fault, so no
   * delivery is in flight when it strikes and the subscribers stay connected through it.
   */
  quietBeforeFault?: boolean
  /** How long to wait for acknowledgements and deliveries after the last send. */
  settleMs?: number
}

/** The load both whole-cluster fault tests put on the nodes: 20 subscribers, 400 messages at 200/s, the fault at 150. */
export const FAULT_LOAD = { subscribers: 20, messages: 400, rate: 200, faultAt: 150 } as const

export interface LoadResult {
  acked: number
  /** How many times subscribers reconnected (0: the fault never cost them their connection). */
  reconnects: number
  /** Acknowledged messages some subscriber never received, summed over subscribers. */
  lost: number
  /** Deliveries beyond the first, summed over subscribers. */
  duplicates: number
  /** The first few (subscriber, message) pairs lost, for the failure message. */
  sample: string[]
}

const TOPIC = 'faults/load'

function reconnecting (t: LoadTest, url: string, clientId: string, clean: boolean): MqttClient {
  const client = mqtt.connect(url, { clientId, clean, reconnectPeriod: 250, connectTimeout: 2000, protocolVersion: 4, reconnectOnConnackError: true })
  client.on('error', () => {})
  t.teardown(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())))
  return client
}

export async function runLoad (t: LoadTest, o: LoadOptions): Promise<LoadResult> {
  const received: Array<Map<number, number>> = []
  const subs: MqttClient[] = []
  let reconnects = 0
  for (let i = 0; i < o.subscribers; i++) {
    const counts = new Map<number, number>()
    received.push(counts)
    const sub = reconnecting(t, o.subscriberUrl, `fault-sub-${i}`, false)
    if (process.env.FAULT_DEBUG === '1') {
      sub.on('connect', (p) => console.error(`sub ${i} connect at ${Date.now() % 100000}, session ${String(p.sessionPresent)}, has ${counts.size}`))
      sub.on('close', () => console.error(`sub ${i} close at ${Date.now() % 100000}, has ${counts.size}`))
    }
    sub.on('message', (_topic, payload) => {
      const n = Number(payload.toString())
      counts.set(n, (counts.get(n) ?? 0) + 1)
    })
    await new Promise<void>((resolve) => sub.once('connect', () => resolve()))
    sub.on('connect', () => { reconnects++ })
    // The session keeps the subscription through reconnects: subscribe once.
    await sub.subscribeAsync(TOPIC, { qos: 1 })
    subs.push(sub)
  }
  const pub = reconnecting(t, o.publisherUrl, 'fault-pub', false)
  await new Promise<void>((resolve) => pub.once('connect', () => resolve()))
  const acked = new Set<number>()
  const interval = 1000 / o.rate
  const started = Date.now()
  let fault: Promise<void> | null = null
  for (let i = 0; i < o.messages; i++) {
    if (i === o.faultAt) {
      if (o.quietBeforeFault === true) {
        await waitFor(() => acked.size === i && received.every((m) => m.size === i), 20_000, 'every subscriber up to date before the fault')
        // Their PUBACKs clear the messages from the queues in Redis (Aedes closes a client whose PUBACK it cannot record).
        await sleep(1000) // not an event this helper can see: time for those PUBACKs to reach Redis
      }
      fault = o.fault()
    }
    pub.publish(TOPIC, String(i), { qos: 1 }, (err) => { if (err === undefined || err === null) acked.add(i) })
    const due = started + (i + 1) * interval
    const wait = due - Date.now()
    if (wait > 0) await sleep(wait) // pacing: o.rate messages a second
  }
  await fault
  const progress = setInterval(() => { if (process.env.FAULT_DEBUG === '1') console.error(`acked ${acked.size}, sub0 ${received[0]!.size}, pub connected ${String(pub.connected)}, sub0 connected ${String(subs[0]!.connected)}`) }, 1000)
  t.teardown(() => clearInterval(progress))
  const settle = o.settleMs ?? 20_000
  await waitFor(() => acked.size === o.messages, settle, 'every message acknowledged').catch(() => {})
  const missing = (): string[] => {
    const out: string[] = []
    for (let s = 0; s < received.length; s++) {
      for (const n of acked) if (!received[s]!.has(n)) out.push(`${s}:${n}`)
    }
    return out
  }
  await waitFor(() => missing().length === 0, settle, 'every acknowledged message at every subscriber').catch(() => {})
  // Barrier: sent after everything, on the same path; once each subscriber has it, nothing more is in flight.
  await pub.publishAsync(TOPIC, '-1', { qos: 1 })
  await waitFor(() => received.every((m) => m.has(-1)), 10_000, 'the barrier at every subscriber').catch(() => {})
  const lost = missing()
  if (process.env.FAULT_DEBUG === '1') {
    const bySub = new Map<string, number>()
    for (const l of lost) { const s = l.split(':')[0]!; bySub.set(s, (bySub.get(s) ?? 0) + 1) }
    for (const [s, n] of bySub) console.error(`sub ${s}: ${n} missing (${lost.filter((l) => l.startsWith(s + ':')).map((l) => l.split(':')[1]).join(',')}), connected ${String(subs[Number(s)]!.connected)}, barrier ${String(received[Number(s)]!.has(-1))}`)
  }
  let duplicates = 0
  for (const m of received) for (const [n, c] of m) if (n >= 0) duplicates += c - 1
  return { acked: acked.size, reconnects, lost: lost.length, duplicates, sample: lost.slice(0, 10) }
}
