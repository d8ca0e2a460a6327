/**
 * Real MQTT clients (mqtt.js) and raw sockets for tests, closed with the test.
 */
import { connect as netConnect, type Socket } from 'node:net'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'

import type { Teardown } from '../support/teardown.js'

/** Connect and wait for CONNACK; no automatic reconnects unless asked. */
export async function connectClient (t: Teardown, url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options })
  t.teardown(() => new Promise<void>((resolve) => { try { client.end(true, {}, () => resolve()) } catch (e) { console.error('end failed', e); resolve() } }))
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
  client.on('error', () => {})
  return client
}

export interface Received { topic: string, payload: Buffer, retain: boolean, qos: number }

/** Collect every message a client receives, in order. */
export function collect (client: MqttClient): Received[] {
  const out: Received[] = []
  client.on('message', (topic, payload, packet) => out.push({ topic, payload, retain: packet.retain, qos: packet.qos }))
  return out
}

export async function subscribe (client: MqttClient, topic: string | string[], qos: 0 | 1 | 2 = 0): Promise<void> {
  await client.subscribeAsync(topic, { qos })
}

/** Wait until `predicate` holds, polling; fails with `what` after `timeoutMs`. */
export async function waitFor<T> (predicate: () => T | undefined | false | null, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = predicate()
    if (value !== undefined && value !== false && value !== null) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A raw TCP socket to the broker, destroyed with the test. */
export async function rawSocket (t: Teardown, port: number): Promise<Socket> {
  const socket = netConnect(port, '127.0.0.1')
  socket.on('error', () => {})
  t.teardown(() => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return socket
}

/** Resolves when the socket is closed by the other side. */
export function closed (socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve()
    socket.once('close', () => resolve())
  })
}
