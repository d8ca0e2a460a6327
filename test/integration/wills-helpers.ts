/**
 * Shared bits of the wills integration tests: a raw MQTT 3.1.1 connection
 * (for keep-alive expiry and protocol errors, which mqtt.js will not produce)
 * and readers for what subscribers received.
 */
import type { Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import type { MqttClient } from 'mqtt'
import { collect, connectClient, rawSocket, subscribe, waitFor, type Received } from '../helpers/clients.js'

interface Teardown { teardown(fn: () => unknown): void }

export const JSON_WILL = '{"state":"offline","ts":0,"x":1}'

export interface Will { topic: string, payload: string | Buffer, qos?: 0 | 1 | 2, retain?: boolean }

/** A raw socket that has sent CONNECT (with a will) and got CONNACK; resolves with the time CONNECT was written. */
export async function rawConnect (t: Teardown, port: number, clientId: string, will: Will, keepalive = 0): Promise<{ socket: Socket, sentAt: number }> {
  const socket = await rawSocket(t, port)
  const packet = mqttPacket.generate({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive,
    will: { topic: will.topic, payload: Buffer.from(will.payload), qos: will.qos ?? 1, retain: will.retain ?? true }
  } as mqttPacket.IConnectPacket)
  const connack = new Promise<void>((resolve, reject) => {
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    parser.on('packet', (p) => { if (p.cmd === 'connack' && (p as mqttPacket.IConnackPacket).returnCode === 0) resolve(); else reject(new Error('refused')) })
    socket.on('data', (d: Buffer) => parser.parse(d))
  })
  const sentAt = Date.now()
  socket.write(packet)
  await connack
  return { socket, sentAt }
}

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

/** The retained message a fresh subscriber gets for `topic`. */
export async function retainedOn (t: Teardown, url: string, topic: string): Promise<Buffer | null> {
  const client = await connectClient(t, url)
  const got = collect(client)
  await subscribe(client, topic, 1)
  try {
    const m = await waitFor(() => got.find((r) => r.topic === topic && r.retain), 1500, `retained ${topic}`)
    return m.payload
  } catch {
    return null
  } finally {
    client.end(true)
  }
}

export const parse = (payload: Buffer): Record<string, unknown> => JSON.parse(payload.toString()) as Record<string, unknown>

/** Reads one sample of a counter from the Prometheus registry. */
export async function counter (metrics: { getSingleMetricAsString(name: string): Promise<string> }, name: string, label: string): Promise<number> {
  const text = await metrics.getSingleMetricAsString(name)
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label))
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1))
}
