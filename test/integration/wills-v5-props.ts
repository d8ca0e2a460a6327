/** Shared by the delayed-will MQTT 5 tests: a will with every MQTT 5 property, and the check of what a v5 subscriber gets. */
import type { Test } from 'tap'
import type { IPublishPacket, MqttClient } from 'mqtt'
import { connectClient, subscribe } from '../helpers/clients.js'
import { parse } from './wills-helpers.js'

interface Teardown { teardown(fn: () => unknown): void }
const v5 = { protocolVersion: 5 as const }

export const WILL_PROPERTIES = {
  contentType: 'application/json',
  payloadFormatIndicator: true,
  responseTopic: 'replies/will',
  correlationData: Buffer.from([0x00, 0xff, 0x10, 0x80]),
  messageExpiryInterval: 600,
  userProperties: { site: 'north', rack: ['1', '2'] }
}

export async function watch5 (t: Teardown, url: string, topics: string[]): Promise<{ client: MqttClient, received: IPublishPacket[] }> {
  const client = await connectClient(t, url, v5)
  const received: IPublishPacket[] = []
  client.on('message', (_topic, _payload, packet) => received.push(packet))
  await subscribe(client, topics, 1)
  return { client, received }
}

/** What a v5 subscriber must see on a delayed will: the will's properties, the stamp after them, no Will Delay Interval. */
export function checkWillProperties (t: Test, packet: IPublishPacket, reason: string): void {
  const p = packet.properties ?? {}
  t.equal(p.contentType, WILL_PROPERTIES.contentType, 'content type kept')
  t.equal(p.payloadFormatIndicator, true, 'payload format indicator kept')
  t.equal(p.responseTopic, WILL_PROPERTIES.responseTopic, 'response topic kept')
  t.same(p.correlationData, WILL_PROPERTIES.correlationData, 'correlation data kept, byte for byte')
  t.ok(typeof p.messageExpiryInterval === 'number' && p.messageExpiryInterval > 0 && p.messageExpiryInterval <= 600, `message expiry kept (${String(p.messageExpiryInterval)} s left)`)
  t.same(Object.keys(p.userProperties ?? {}), ['site', 'rack', 'vigil-reason', 'vigil-ts'], 'the will\'s user properties, then the stamp\'s')
  t.same(p.userProperties?.rack, ['1', '2'], 'a repeated user property stays repeated')
  t.equal(p.userProperties?.['vigil-reason'], reason, 'vigil-reason')
  t.match(p.userProperties?.['vigil-ts'], /^\d+$/, 'vigil-ts')
  t.equal((p as { willDelayInterval?: number }).willDelayInterval, undefined, 'no Will Delay Interval passed on')
  t.equal(parse(packet.payload as Buffer).reason, reason, 'the payload is stamped too')
}
