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

/** Waiting lives in test/support/wait.ts; re-exported for the many callers that import it from here. */
export { waitFor } from '../support/wait.js'

/** Resolves with the next packet of type `cmd` the client receives (e.g. 'pingresp'). */
export function nextPacket (client: MqttClient, cmd: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { client.off('packetreceive', onPacket); reject(new Error(`no ${cmd} within ${timeoutMs} ms`)) }, timeoutMs)
    const onPacket = (packet: { cmd: string }): void => {
      if (packet.cmd !== cmd) return
      clearTimeout(timer)
      client.off('packetreceive', onPacket)
      resolve()
    }
    client.on('packetreceive', onPacket)
  })
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
