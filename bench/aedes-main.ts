/**
 * Bare Aedes, the baseline: the same persistence and emitter Vigil uses
 * (memory, or Redis when BENCH_REDIS is set) behind a plain TCP server, no
 * plugins. Started by the harness as a child process: BENCH_PORT=<port>.
 */
import { createServer } from 'node:net'
import { Aedes } from 'aedes'
import { createLogger } from '../broker/logger.js'
import { createPersistence } from '../broker/persistence.js'

const port = Number(process.env.BENCH_PORT ?? 1883)
const redis = process.env.BENCH_REDIS !== undefined && process.env.BENCH_REDIS !== '' ? process.env.BENCH_REDIS : null
const bundle = createPersistence(redis, createLogger('silent'))
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
