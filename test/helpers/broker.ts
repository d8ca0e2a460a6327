/**
 * Start a real Vigil broker on free ports for one test, torn down with it.
 */
import type { Aedes, PublishPacket } from 'aedes'
import type { VigilConfigInput } from '../../config/schema.js'
import { createVigil, type Vigil, type VigilOptions } from '../../broker/server.js'
import { testConfig } from './config.js'

import type { Teardown } from '../support/teardown.js'

export interface TestBroker extends Vigil {
  /** mqtt://127.0.0.1:<port> */
  readonly url: string
  readonly wsUrl: string
  readonly httpUrl: string
}

export async function startBroker (t: Teardown, override: VigilConfigInput = {}, options: VigilOptions = {}): Promise<TestBroker> {
  const vigil = createVigil(testConfig(override), options)
  await vigil.start()
  t.teardown(() => vigil.close().catch((err) => { console.error('close failed', err); throw err }))
  const ports = vigil.ports
  return Object.assign(Object.create(vigil) as Vigil, {
    url: `mqtt://127.0.0.1:${ports.mqtt}`,
    wsUrl: ports.ws !== null ? `ws://127.0.0.1:${ports.ws}${vigil.config.mqtt.ws?.path ?? '/mqtt'}` : '',
    httpUrl: ports.http !== null ? `http://127.0.0.1:${ports.http}` : ''
  }) as TestBroker
}

/** Resolves when Aedes has closed `clientId`'s connection (its clientDisconnect event); subscribe before causing it. */
export function disconnected (broker: TestBroker, clientId: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { broker.broker.off('clientDisconnect', onClose); reject(new Error(`${clientId} not closed within ${timeoutMs} ms`)) }, timeoutMs)
    const onClose = (client: { id: string }): void => {
      if (client.id !== clientId) return
      clearTimeout(timer)
      broker.broker.off('clientDisconnect', onClose)
      resolve()
    }
    broker.broker.on('clientDisconnect', onClose)
  })
}

/**
 * Publishes as the broker itself (Aedes' documented publish): for barriers and
 * fixtures that must not make a test client a device. Resolves once Aedes is
 * done with it (stored, if retained, and handed to the emitter).
 */
export function publishFromBroker (target: { readonly broker: Aedes }, topic: string, payload: string | Buffer,
  o: { qos?: 0 | 1, retain?: boolean } = {}): Promise<void> {
  const packet = { cmd: 'publish', topic, payload: Buffer.from(payload), qos: o.qos ?? 1, retain: o.retain ?? false, dup: false } as PublishPacket
  return new Promise((resolve, reject) => target.broker.publish(packet, (err?: Error) => { if (err != null) reject(err); else resolve() }))
}

/** Resolves when Aedes has handled a SUBSCRIBE of `clientId` (its subscribe event); subscribe before causing it. */
export function subscribed (broker: TestBroker, clientId: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { broker.broker.off('subscribe', onSubscribe); reject(new Error(`no SUBSCRIBE of ${clientId} within ${timeoutMs} ms`)) }, timeoutMs)
    const onSubscribe = (_subs: unknown, client: { id: string }): void => {
      if (client.id !== clientId) return
      clearTimeout(timer)
      broker.broker.off('subscribe', onSubscribe)
      resolve()
    }
    broker.broker.on('subscribe', onSubscribe)
  })
}
