/// <reference path="../types/aedes-persistence-redis.d.ts" />
/**
 * Bare Aedes, the baseline: the upstream stack (memory, or with BENCH_REDIS
 * aedes-persistence-redis and mqemitter-redis, which routes every message
 * through Redis) behind a plain TCP server, no plugins. Started by the harness
 * as a child process: BENCH_PORT=<port>.
 */
import { createServer } from 'node:net'
import { Aedes } from 'aedes'
import aedesPersistenceRedis from 'aedes-persistence-redis'
import { Redis } from 'ioredis'
import mqemitterRedis from 'mqemitter-redis'
import { createLogger } from '../broker/logger.js'
import { createPersistence } from '../broker/persistence.js'

const port = Number(process.env.BENCH_PORT ?? 1883)
const redis = process.env.BENCH_REDIS !== undefined && process.env.BENCH_REDIS !== '' ? process.env.BENCH_REDIS : null
function upstreamRedis (url: string): { persistence: unknown, mq: unknown, close(): Promise<void> } {
  const conns = [new Redis(url), new Redis(url), new Redis(url)]
  for (const conn of conns) conn.on('error', () => {})
  return {
    persistence: aedesPersistenceRedis({ conn: conns[0] }),
    mq: mqemitterRedis({ pubConn: conns[1], subConn: conns[2], concurrency: 100, matchEmptyLevels: true }),
    close: async () => { for (const conn of conns) conn.disconnect() }
  }
}
const bundle = redis !== null ? upstreamRedis(redis) : createPersistence(null, createLogger('silent'), 'aedes')
const broker = await Aedes.createBroker({ persistence: bundle.persistence as never, mq: bundle.mq as never })
const emitter: NodeJS.EventEmitter = broker
emitter.on('error', () => {})
const server = createServer((socket) => { broker.handle(socket) })
server.listen(port, '127.0.0.1', () => { process.stdout.write(`aedes listening ${port}\n`) })

const stop = (): void => {
  server.close()
  broker.close(() => { void bundle.close().finally(() => process.exit(0)) })
  setTimeout(() => process.exit(0), 3000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
