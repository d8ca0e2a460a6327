/**
 * What a fresh subscriber receives as retained, proved complete by a barrier
 * instead of a pause: before subscribing, the broker itself stores a retained
 * barrier message (a broker publish: no client becomes a device for it); the
 * fresh client subscribes to the filters, then in a second SUBSCRIBE to the
 * barrier. Aedes starts a SUBSCRIBE's retained lookup before it reads the next
 * packet, so once the barrier is in, the filters' retained messages are too.
 * The barrier is cleared again afterwards.
 */
import type { Aedes } from 'aedes'
import type { MqttClient } from 'mqtt'
import { publishFromBroker } from '../helpers/broker.js'
import { collect, connectClient, subscribe, type Received } from '../helpers/clients.js'
import type { Teardown } from './teardown.js'
import { waitFor } from './wait.js'

let barriers = 0

/** A broker started in this process: its MQTT url and its Aedes instance. */
export interface LocalBroker { readonly url: string, readonly broker: Aedes }

/**
 * For a client that has just subscribed (SUBACK in): resolves once the retained
 * messages of that SUBSCRIBE have all arrived in `received`. A retained barrier
 * stored by the broker, then a second SUBSCRIBE to it; the barrier is cleared
 * again and never left in `received`. Its topic starts with '$', so no
 * wildcard subscription of the test sees it live [MQTT-4.7.2-1].
 */
export async function retainedBarrier (broker: LocalBroker, client: MqttClient, received: Received[]): Promise<void> {
  const barrier = `$vigil-test/retained-barrier/${process.pid}-${++barriers}`
  await publishFromBroker(broker, barrier, 'barrier', { retain: true })
  try {
    await subscribe(client, barrier, 1)
    await waitFor(() => received.some((m) => m.topic === barrier && m.retain), 10_000, 'the retained barrier')
    await client.unsubscribeAsync(barrier)
  } finally {
    await publishFromBroker(broker, barrier, Buffer.alloc(0), { retain: true })
  }
  for (let i = received.length - 1; i >= 0; i--) if (received[i]!.topic === barrier) received.splice(i, 1)
}

/** Every retained message a fresh subscriber to `filters` receives, in arrival order. */
export async function retainedMessages (t: Teardown, broker: LocalBroker, filters: string | string[]): Promise<Received[]> {
  const fresh = await connectClient(t, broker.url, { clientId: `fresh-${process.pid}-${++barriers}` })
  const received = collect(fresh)
  try {
    await subscribe(fresh, filters, 1)
    await retainedBarrier(broker, fresh, received)
  } finally {
    await fresh.endAsync()
  }
  return received.filter((m) => m.retain)
}

/** Retained messages a fresh subscriber to `filters` receives (topic -> payload). */
export async function retainedSeenBy (t: Teardown, broker: LocalBroker, filters: string | string[]): Promise<Map<string, string>> {
  return new Map((await retainedMessages(t, broker, filters)).map((m) => [m.topic, m.payload.toString()]))
}

/**
 * The retained message a fresh subscriber gets for `topic`, or null when there
 * is none. With `until`, looks again (a fresh subscriber each time) until the
 * answer satisfies it or `timeoutMs` passes, and returns the last answer: for
 * a message stored through another node, which this node's index learns a
 * moment later.
 */
export async function retainedOn (t: Teardown, broker: LocalBroker, topic: string,
  o: { until?: (payload: Buffer | null) => boolean, timeoutMs?: number } = {}): Promise<Buffer | null> {
  const look = async (): Promise<Buffer | null> => (await retainedMessages(t, broker, topic)).find((m) => m.topic === topic)?.payload ?? null
  const until = o.until
  if (until === undefined) return await look()
  let last: Buffer | null = null
  await waitFor(async () => { last = await look(); return until(last) }, o.timeoutMs ?? 10_000, `the retained message on ${topic}`, 100).catch(() => {})
  return last
}

/**
 * In Redis mode each node's retained index learns other nodes' changes through
 * Redis, in order. A retained barrier stored through `from`, once `to` serves
 * it, means `to` has seen every change `from` made before. Cleared afterwards.
 */
export async function retainedSync (t: Teardown, from: LocalBroker, to: LocalBroker): Promise<void> {
  const barrier = `$vigil-test/retained-sync/${process.pid}-${++barriers}`
  await publishFromBroker(from, barrier, 'barrier', { retain: true })
  try {
    const seen = await retainedOn(t, to, barrier, { until: (p) => p !== null })
    if (seen === null) throw new Error(`${barrier} stored through one node never reached the other's index`)
  } finally {
    await publishFromBroker(from, barrier, Buffer.alloc(0), { retain: true })
  }
}
