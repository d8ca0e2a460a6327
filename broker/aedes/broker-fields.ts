/**
 * What Vigil uses of an Aedes 1.2 broker beyond its .d.ts (aedes.js): the map
 * of this node's clients, the persistence and the emitter it was built with,
 * and publishing on behalf of a client. Nothing outside broker/aedes/ casts an
 * Aedes instance; test/unit/aedes-boundary.test.ts pins each one.
 */
import type { Aedes, AedesPublishPacket, Client, PublishPacket } from 'aedes'
import type { WillPacket } from './client-fields.js'

/** The aedes-persistence(-redis) operations Vigil calls (the abstract API both implement). */
export interface BrokerPersistence {
  putWill(client: Client, packet: WillPacket): Promise<unknown>
  delWill(client: { id: string, brokerId: string }): Promise<unknown>
  /** Every stored will of nodes not in `brokers` (id -> last heartbeat). */
  streamWill(brokers?: Record<string, number>): AsyncIterable<WillPacket>
  createRetainedStream(pattern: string): AsyncIterable<AedesPublishPacket>
  createRetainedStreamCombi(patterns: string[]): AsyncIterable<AedesPublishPacket>
  outgoingStream(client: { id: string }): AsyncIterable<AedesPublishPacket>
}

/** The subset of mqemitter the broker routes through. */
export interface BrokerEmitter {
  on(topic: string, fn: (packet: AedesPublishPacket, done: () => void) => void, cb?: () => void): void
  removeListener(topic: string, fn: (packet: AedesPublishPacket, done: () => void) => void, cb?: () => void): void
}

interface BrokerInternals {
  clients: Record<string, Client | undefined>
  persistence: BrokerPersistence
  mq: BrokerEmitter
  publish(packet: PublishPacket, client: Client | null, done: (err?: Error | null) => void): void
}

const fields = (broker: Aedes): BrokerInternals => broker as unknown as BrokerInternals

/** The client connected to this node under `id`, if any (Aedes keeps one per id). */
export const liveClient = (broker: Aedes, id: string): Client | undefined => fields(broker).clients[id]

/** Every client connected to this node, as a fresh array (safe to close them while iterating). */
export const liveClients = (broker: Aedes): Client[] => {
  const out: Client[] = []
  for (const client of Object.values(fields(broker).clients)) if (client !== undefined) out.push(client)
  return out
}

export const persistenceOf = (broker: Aedes): BrokerPersistence => fields(broker).persistence

export const emitterOf = (broker: Aedes): BrokerEmitter => fields(broker).mq

/**
 * Publish as `client` would (its will, at shutdown): Aedes' three-argument
 * publish, which routes without passing authorizePublish again.
 */
export function publishAs (broker: Aedes, packet: PublishPacket, client: Client | null): Promise<void> {
  return new Promise((resolve, reject) => {
    fields(broker).publish.call(broker, packet, client, (err) => { if (err) reject(err); else resolve() })
  })
}
