/// <reference path="../types/aedes-persistence-redis.d.ts" />
/**
 * Memory vs Redis: the Aedes persistence (sessions, retained, wills) and the
 * emitter (routing between nodes). In Redis mode every node on the same Redis
 * acts as one broker. Redis going away never crashes the process: errors are
 * logged, ioredis reconnects, readiness reports it.
 */
import { Redis, type RedisOptions } from 'ioredis'
import aedesPersistenceRedis from 'aedes-persistence-redis'
import memoryPersistence from 'aedes-persistence'
import mqemitter from 'mqemitter'
import { errorMessage, VigilError, type ErrorCode } from './errors.js'
import { LocalFirstEmitter } from './local-first-emitter.js'
import { releaseOncePerSession } from './aedes/index.js'
import { parseRedisUrl } from './redis-url.js'
import type { Logger } from './logger.js'

export interface PersistenceBundle {
  readonly mode: 'memory' | 'redis'
  readonly persistence: { destroy(cb?: (err?: Error | null) => void): unknown }
  readonly mq: mqemitter.MQEmitter
  /** The shared command connection in Redis mode. */
  readonly redis: Redis | null
  /** The emitter's subscriber connection (messages from other nodes) in Redis mode. */
  readonly subscriber: Redis | null
  connection(name: string): Redis | null
  /**
   * Whether the connections a CONNECT or a QoS 1/2 PUBLISH needs (commands,
   * persistence, emitter-pub) are up now; no I/O, for the per-packet gate.
   */
  available(): boolean
  ready(): Promise<{ ok: boolean, reason?: string }>
  close(): Promise<void>
}

const REDIS_OPTIONS: RedisOptions = {
  // Keep commands queued while reconnecting, but not forever: a request fails
  // after a few retries instead of hanging a CONNECT or an HTTP call.
  maxRetriesPerRequest: 3,
  retryStrategy: (times) => Math.min(times * 200, 2000),
  enableReadyCheck: true,
  // After disconnect() ioredis waits this long for the socket's 'close' before destroying it,
  // on a timer that keeps the process alive. On a connection that was already reconnecting
  // (Redis gone) the socket closed long before, the 'close' never comes and the default 2 s
  // is spent in full: a process that stopped with Redis away stayed up 2 s more.
  disconnectTimeout: 250
}

/** A function, not an inline test: the status changes across an await, which tsc's narrowing does not see. */
const ended = (c: Redis): boolean => c.status === 'end'

export function createPersistence (redisUrl: string | null, log: Logger, nodeId: string): PersistenceBundle {
  if (redisUrl === null) {
    return {
      mode: 'memory',
      // Not an Aedes internal: aedes-persistence's .d.ts declares an ES default export, but the
      // package is CommonJS (module.exports = factory), so under NodeNext the default import is the
      // factory at run time while tsc types it as the module namespace.
      persistence: (memoryPersistence as unknown as typeof memoryPersistence.default)(),
      // matchEmptyLevels: [MQTT-4.7.1-3], as Aedes configures its default emitter
      mq: mqemitter({ concurrency: 100, matchEmptyLevels: true }),
      redis: null,
      subscriber: null,
      connection: () => null,
      available: () => true,
      ready: async () => ({ ok: true }),
      close: async () => {}
    }
  }

  const target = parseRedisUrl(redisUrl)
  const connections: Redis[] = []
  const connection = (name: string): Redis => {
    const conn = new Redis({ ...target.options, ...REDIS_OPTIONS, connectionName: `vigil-${name}` })
    let lastLogged = 0
    conn.on('error', (err: Error) => {
      // ioredis emits on every failed reconnect; one line per 5 s is enough.
      const now = Date.now()
      if (now - lastLogged > 5000) {
        lastLogged = now
        log.warn({ code: 'VIGIL_E_REDIS', connection: name, err: errorMessage(err) }, 'redis connection error')
      }
    })
    connections.push(conn)
    return handledCommands(conn)
  }

  const commands = connection('commands')
  const persistenceConn = connection('persistence')
  const pubConn = connection('emitter-pub')
  const subConn = connection('emitter-sub')
  const needed = [commands, persistenceConn, pubConn]
  const persistence = aedesPersistenceRedis({ conn: persistenceConn })
  // A session's second acknowledgement of one stored message must not release another session's share (broker/aedes/outgoing-release.ts).
  releaseOncePerSession(persistence, persistenceConn)
  // Local first: a message goes through Redis only to the nodes that subscribe to it (local-first-emitter.ts).
  const mq = new LocalFirstEmitter({
    nodeId,
    pubConn,
    subConn,
    concurrency: 100,
    matchEmptyLevels: true
  })
  // The emitter reports Redis-side errors on its `state` EventEmitter (not on the
  // emitter itself, whose `on` subscribes to topics): unhandled, they would end the process.
  let lastEmitterLog = 0
  mq.state.on('error', (err: Error) => {
    const now = Date.now()
    if (now - lastEmitterLog < 5000) return
    lastEmitterLog = now
    log.warn({ code: 'VIGIL_E_REDIS', err: errorMessage(err) }, 'redis emitter error')
  })

  return {
    mode: 'redis',
    persistence,
    mq,
    redis: commands,
    subscriber: subConn,
    connection,
    available () {
      for (let i = 0; i < needed.length; i++) if (needed[i]!.status !== 'ready') return false
      return true
    },
    async ready () {
      try {
        await withTimeout(commands.ping(), 1000)
        return { ok: true }
      } catch (err) {
        return { ok: false, reason: `redis: ${errorMessage(err)}` }
      }
    },
    async close () {
      // QUIT waits for replies already pending, so nothing written is lost. A QUIT refused
      // because the connection closed meanwhile (the emitter quits its own two at the same
      // time) needs no disconnect(): on an ended connection ioredis would arm a 2 s timer
      // for a socket 'close' that already came, keeping the process alive 2 s longer.
      await Promise.allSettled(connections.map(async (c) => {
        if (c.status === 'end') return
        try { await withTimeout(c.quit(), 400) } catch { if (!ended(c)) c.disconnect() }
      }))
    }
  }
}

/**
 * aedes-persistence-redis sends some commands without awaiting them (LREM/RPUSH of
 * the will list in putWill/delWill). When Redis goes away, or the connection is
 * closed at shutdown while one is queued, their rejections are unhandled, and an
 * unhandled rejection ends a Node process. Each command's promise gets a no-op
 * handler here; a caller that awaits it still sees the error. Every connection
 * gets it (libraries on the others may fire and forget too: a "Connection is
 * closed." rejection surfaced once at shutdown under a loaded test run).
 */
function handledCommands (conn: Redis): Redis {
  const send = conn.sendCommand.bind(conn)
  const noop = (): void => {}
  conn.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    const result = send(...args)
    if (result !== undefined && result !== null && typeof (result as Promise<unknown>).catch === 'function') {
      (result as Promise<unknown>).catch(noop)
    }
    return result
  }) as Redis['sendCommand']
  return conn
}

export function withTimeout<T> (promise: Promise<T>, ms: number, code: ErrorCode = 'VIGIL_E_REDIS'): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new VigilError(code, `no answer within ${ms} ms`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}
