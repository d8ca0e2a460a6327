/**
 * What a fresh subscriber receives as retained, proved complete by a barrier
 * instead of a pause: before subscribing, the broker itself stores a retained
 * barrier message (a broker publish: no client becomes a device for it); the
 * fresh client subscribes to the filters, then in a second SUBSCRIBE to the
 * barrier. Aedes starts a SUBSCRIBE's retained lookup before it reads the next
 * packet, so once the barrier is in, the filters' retained messages are too.
 * The barrier is cleared again afterwards.
 */
import type { Aedes, PublishPacket } from 'aedes'
import { collect, connectClient, subscribe, type Received } from '../helpers/clients.js'
import type { Teardown } from './teardown.js'
import { waitFor } from './wait.js'

let barriers = 0

/** A broker started in this process: its MQTT url and its Aedes instance. */
export interface LocalBroker { readonly url: string, readonly broker: Aedes }

function publishRetained (broker: LocalBroker, topic: string, payload: Buffer): Promise<void> {
  const packet = { cmd: 'publish', topic, payload, qos: 1, retain: true, dup: false } as PublishPacket
  return new Promise((resolve, reject) => broker.broker.publish(packet, (err?: Error) => { if (err != null) reject(err); else resolve() }))
}

/** Every retained message a fresh subscriber to `filters` receives, in arrival order. */
export async function retainedMessages (t: Teardown, broker: LocalBroker, filters: string | string[]): Promise<Received[]> {
  const id = `${process.pid}-${++barriers}`
  const barrier = `vigil-test/retained-barrier/${id}`
  await publishRetained(broker, barrier, Buffer.from('barrier'))
  const fresh = await connectClient(t, broker.url, { clientId: `fresh-${id}` })
  const received = collect(fresh)
  try {
    await subscribe(fresh, filters, 1)
    await subscribe(fresh, barrier, 1)
    await waitFor(() => received.some((m) => m.topic === barrier), 10_000, 'the retained barrier')
  } finally {
    await fresh.endAsync()
    await publishRetained(broker, barrier, Buffer.alloc(0))
  }
  return received.filter((m) => m.retain && m.topic !== barrier)
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
