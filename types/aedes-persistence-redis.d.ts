// aedes-persistence-redis ships no types; this is the part Vigil uses.
declare module 'aedes-persistence-redis' {
  import type { Redis, RedisOptions } from 'ioredis'
  export interface AedesPersistenceRedisOptions extends RedisOptions {
    conn?: Redis
    maxSessionDelivery?: number
    packetTTL?: (packet: unknown) => number
  }
  export interface AedesPersistenceRedis {
    setup(broker: unknown): Promise<void>
    delWill(client: { id: string, brokerId?: string }): Promise<unknown>
    destroy(cb?: (err?: Error) => void): unknown
  }
  export default function aedesPersistenceRedis (opts?: AedesPersistenceRedisOptions): AedesPersistenceRedis
}
