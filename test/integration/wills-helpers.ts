/**
 * Shared bits of the wills integration tests: clients with wills and readers
 * for what subscribers received.
 */
import type { MqttClient } from 'mqtt'
import { connectClient, subscribe, waitFor, type Received } from '../helpers/clients.js'

import type { Teardown } from '../support/teardown.js'

export const JSON_WILL = '{"state":"offline","ts":0,"x":1}'

export interface Will { topic: string, payload: string | Buffer, qos?: 0 | 1 | 2, retain?: boolean }

/** The protocol level willClient's devices connect with (wills-v5.test.ts runs the wills tests with 5). */
export const devices = { protocolVersion: 4 as 4 | 5 }

/** An mqtt.js client with a will. */
export async function willClient (t: Teardown, url: string, clientId: string, will: Will, extra: Record<string, unknown> = {}): Promise<MqttClient> {
  return await connectClient(t, url, {
    protocolVersion: devices.protocolVersion,
    clientId,
    will: { topic: will.topic, payload: Buffer.from(will.payload), qos: will.qos ?? 1, retain: will.retain ?? true },
    ...extra
  })
}

/** Ends the TCP connection without DISCONNECT (what a device losing power looks like); returns when. */
export function dropConnection (client: MqttClient): number {
  const at = Date.now()
  client.stream.destroy()
  return at
}

export interface Watcher { received: Array<Received & { at: number }>, client: MqttClient }

/** A subscriber that records every message and when it arrived. */
export async function watch (t: Teardown, url: string, topics: string | string[], clientId?: string): Promise<Watcher> {
  const client = await connectClient(t, url, clientId === undefined ? {} : { clientId })
  const received: Array<Received & { at: number }> = []
  client.on('message', (topic, payload, packet) => received.push({ topic, payload, retain: packet.retain, qos: packet.qos, at: Date.now() }))
  await subscribe(client, topics, 1)
  return { received, client }
}

/** The first live (not retained-on-subscribe) message on `topic`. */
export async function nextOn (w: Watcher, topic: string, ms = 5000): Promise<Received & { at: number }> {
  return await waitFor(() => w.received.find((m) => m.topic === topic && !m.retain), ms, `a message on ${topic}`)
}

let barriers = 0

/**
 * A barrier through the will path: a device with a will drops now, and this
 * resolves when its will reaches `w` (after wills.delay, when one is set).
 * Whatever an earlier drop was going to publish has been published by then.
 */
export async function willBarrier (t: Teardown, url: string, watchers: Watcher | Watcher[], ms = 10_000): Promise<void> {
  const id = `will-barrier-${process.pid}-${++barriers}`
  const topic = `devices/${id}/status`
  dropConnection(await willClient(t, url, id, { topic, payload: JSON_WILL }))
  for (const w of Array.isArray(watchers) ? watchers : [watchers]) await nextOn(w, topic, ms)
}

export const parse = (payload: Buffer): Record<string, unknown> => JSON.parse(payload.toString()) as Record<string, unknown>
