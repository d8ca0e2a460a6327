/**
 * Start a real Vigil broker on free ports for one test, torn down with it.
 */
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
