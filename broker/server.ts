/**
 * createVigil(config) -> a broker instance with no globals: several can run in
 * one process (the tests do). Composition only: it wires, it does not decide.
 */
import { hostname } from 'node:os'
import { Aedes } from 'aedes'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import type { VigilConfig } from '../config/schema.js'
import { defaultPlugins } from '../plugins/index.js'
import { LocalFirstEmitter } from './local-first-emitter.js'
import { boundEmitterDepth, encodePublishesWhole, explainConnackRefusals, explainSubscribeRefusals, gateOnRedis, guardOfflineQueue, INBOUND_QOS2_WINDOW, installOrderTolerantDedupe, installPacketSizeLimit, installStrictPackets, registerRetainedIndexMetric, replayAfterResubscribe, serveRetainedLookup, unshieldProtoFilters, type RetainedLookupHandle } from './aedes/index.js'
import { advertiseV5Limits, applyReceiveMaximum, forwardAllSubscriptionIds, limitForwardedSize, markRedeliveries, resumeQueuedSessions } from './aedes/index.js'
import { flushDisconnects, keepUserPropertyOrder } from './aedes/index.js'
import { redisSubscriptionGone, trackCluster } from './cluster.js'
import { logConnections, type ConnectionLog } from './connection-log.js'
import { connectionLimits } from './connection-limits.js'
import { registerCoreMetrics } from './core-metrics.js'
import { errorMessage } from './errors.js'
import { buildHttpApp } from './http.js'
import { readPem, startListeners, type ListenerPorts, type Listeners } from './listeners.js'
import { createLogger, type Logger } from './logger.js'
import { createPersistence, withTimeout, type PersistenceBundle } from './persistence.js'
import { PluginHost } from './plugin-host.js'
import type { VigilPlugin } from './plugin-types.js'
import { ServiceRegistry } from './services.js'
import { packageVersion } from './version.js'
import { realScheduler, type Scheduler } from './scheduler.js'

/** Aedes' cluster heartbeat. A node silent for 3 beats is dead; its wills are swept every 4 beats. */
export const BROKER_HEARTBEAT_MS = 4000

export interface VigilOptions {
  /** Plugins in registration order (default: all of plugins/index.ts). */
  plugins?: readonly VigilPlugin<any>[]
  logger?: Logger
  /** Injected clock for plugins (default Date.now). */
  now?: () => number
  /** Injected clock and timers for plugins (default: `now` with Node's timers). */
  scheduler?: Scheduler
  /** Aedes broker heartbeat interval, ms (tests shorten it). */
  heartbeatInterval?: number
  /**
   * What GET /metrics serves, given this instance's registry (default: the
   * registry itself). A cluster worker serves the sum over all workers.
   */
  scrape?: (registry: Registry) => () => Promise<string>
}

export interface HttpPorts { http: number | null }

export interface Vigil {
  readonly config: VigilConfig
  readonly nodeId: string
  readonly log: Logger
  readonly services: ServiceRegistry
  readonly metrics: Registry
  /** Set once started. */
  readonly broker: Aedes
  readonly ports: ListenerPorts & HttpPorts
  readonly http: FastifyInstance
  start(): Promise<void>
  /** Log and count (vigil_plugin_errors_total{plugin="core"}) an error caught outside any plugin. */
  reportError(err: unknown, what: string): void
  /** Graceful: stop accepting, statuses and wills out, flush persistence. Idempotent. */
  close(): Promise<void>
}

export function defaultNodeId (): string {
  return `${hostname()}-${process.pid}`
}

export function createVigil (config: VigilConfig, options: VigilOptions = {}): Vigil {
  const nodeId = config.node.id ?? defaultNodeId()
  const log = (options.logger ?? createLogger(config.log.level)).child({ node: nodeId })
  const scheduler = options.scheduler ?? realScheduler(options.now ?? Date.now)
  const now = (): number => scheduler.now()
  const services = new ServiceRegistry()
  const metrics = new Registry()
  let shuttingDown = false
  let bundle: PersistenceBundle | null = null
  let broker: Aedes | null = null
  let host: PluginHost | null = null
  let listeners: Listeners | null = null
  let app: FastifyInstance | null = null
  let httpPort: number | null = null
  let closing: Promise<void> | null = null
  let stopCluster: () => void = () => {}
  let connectionLog: ConnectionLog | null = null
  const scrape = options.scrape?.(metrics)
  let retainedLookup: RetainedLookupHandle | null = null

  const ready = async (): Promise<{ ok: boolean, reason?: string }> => {
    if (shuttingDown) return { ok: false, reason: 'shutting down' }
    if (listeners === null || bundle === null) return { ok: false, reason: 'starting' }
    return await bundle.ready()
  }

  services.provide('lifecycle', {
    nodeId,
    get shuttingDown () { return shuttingDown },
    ready
  })

  const vigil: Vigil = {
    config,
    nodeId,
    log,
    services,
    metrics,
    get broker () {
      if (broker === null) throw new Error('vigil is not started')
      return broker
    },
    get ports () {
      if (listeners === null) throw new Error('vigil is not started')
      return { ...listeners.ports, http: httpPort }
    },
    get http () {
      if (app === null) throw new Error('vigil is not started')
      return app
    },

    reportError (err, what) {
      if (host !== null) host.reportError('core', err, what)
      else log.error({ err: errorMessage(err) }, what)
    },

    async start () {
      bundle = createPersistence(config.persistence.redis, log, nodeId)
      // A storm of synchronously delivered messages must not recurse off the stack (broker/aedes/emitter-depth.ts).
      boundEmitterDepth(bundle.mq)
      // Retained lookups from an index by topic level (issue 15), with [MQTT-4.7.2-1],
      // which Aedes 1.2 gets wrong (see broker/aedes/retained-visibility.ts).
      const redis = bundle.redis
      retainedLookup = serveRetainedLookup(bundle.persistence, {
        redis: redis === null ? undefined : { commands: redis, subscriber: bundle.connection('retained-index')! },
        onError: (err, what) => vigil.reportError(err, what)
      })
      services.provide('retainedIndex', retainedLookup)
      // [MQTT-4.7.2-1] and [MQTT-3.3.1-9] for messages queued for persistent sessions (broker/aedes/queued-dollar.ts).
      guardOfflineQueue(bundle.persistence)
      const aedes = new Aedes({
        id: nodeId,
        persistence: bundle.persistence,
        mq: bundle.mq,
        connectTimeout: config.mqtt.connectTimeout,
        heartbeatInterval: options.heartbeatInterval ?? BROKER_HEARTBEAT_MS,
        // Client ids are checked by the liveness plugin; 3.1.1 allows up to 65535 bytes.
        maxClientsIdLength: 65535,
        // MQTT 5 (Aedes 2): tell clients the inbound QoS 2 window strict-packets.ts enforces [MQTT-3.2.2.3.3].
        receiveMaximum: INBOUND_QOS2_WINDOW
      })
      broker = aedes
      // Aedes and the emitter report failures as 'error' events: unhandled, they would end the process.
      const emitter: NodeJS.EventEmitter = aedes
      emitter.on('error', (err: Error) => { host?.reportError('core', err, 'broker error') })
      const coreMetrics = registerCoreMetrics(metrics, aedes)
      connectionLog = logConnections(aedes, log, {
        policy: { lines: config.log.rateLimit.lines, windowMs: config.log.rateLimit.per },
        scheduler,
        reasonOf: (client) => services.maybe('liveness')?.endOf(client).reason
      })
      // Strict MQTT 3.1.1 packets (issue 13); a CONNECT it refuses never reaches Aedes' events.
      installStrictPackets(aedes, {
        refused: (refusal) => {
          coreMetrics.connections.inc({ result: refusal.returnCode === 1 ? 'rejected_protocol' : 'rejected_identifier' })
          connectionLog?.refused(refusal)
        }
      })
      // mqtt.maxPacketSize: Aedes has no such option; each client's parser is guarded (broker/aedes/packet-size.ts).
      installPacketSizeLimit(aedes, config.mqtt.maxPacketSize)
      // MQTT 5 (issue 20): Topic Alias Maximum and Maximum Packet Size in the CONNACK; a resumed
      // session gets its queue, resent PUBLISH carry DUP (broker/aedes/v5-limits.ts, session-resume.ts).
      advertiseV5Limits(aedes, config.mqtt.maxPacketSize)
      resumeQueuedSessions(aedes)
      markRedeliveries(bundle.persistence)
      // Aedes' per-client dedupe dropped messages that overtook each other (broker/aedes/delivery-dedupe.ts).
      installOrderTolerantDedupe(aedes)
      // MQTT 5 (issue 20): no more unacknowledged QoS 1/2 PUBLISH than the client's Receive Maximum
      // (broker/aedes/receive-maximum.ts); around the dedupe, which then sees each held message when it goes out.
      applyReceiveMaximum(aedes, metrics)
      // MQTT 5 (issue 20): a server DISCONNECT is flushed before the socket closes (broker/aedes/disconnect-flush.ts).
      flushDisconnects(aedes)
      registerRetainedIndexMetric(metrics, () => retainedLookup)
      const heartbeatMs = options.heartbeatInterval ?? BROKER_HEARTBEAT_MS
      const cluster = trackCluster(aedes, nodeId, heartbeatMs, scheduler, bundle.redis !== null && bundle.subscriber !== null
        ? redisSubscriptionGone(bundle.redis, bundle.subscriber, heartbeatMs, () => scheduler.now()) : undefined)
      stopCluster = cluster.close
      services.provide('cluster', cluster)

      host = new PluginHost({
        broker: aedes,
        config,
        log,
        metrics,
        services,
        nodeId,
        now,
        scheduler,
        redis: bundle.redis,
        redisConnection: (name) => bundle!.connection(name)
      })
      try {
        await host.setup([connectionLimits(aedes, config.mqtt.maxConnections), ...(options.plugins ?? defaultPlugins)])
        // MQTT 5 (issue 20): around the hooks' authorizeForward, every matching Subscription
        // Identifier and the receiver's Maximum Packet Size (broker/aedes/subscription-ids.ts, v5-limits.ts).
        forwardAllSubscriptionIds(aedes)
        limitForwardedSize(aedes, metrics)
        // Redis mode: acknowledge only what Redis kept; wraps the hooks the host just installed.
        if (bundle.subscriber !== null) {
          const subscribed = replayAfterResubscribe(aedes, bundle.subscriber, log, metrics)
          gateOnRedis(aedes, bundle, subscribed, log, metrics)
        }
        // An outbound PUBLISH in one write (3.1.1 and MQTT 5 alike); before the SUBACK wrapper below.
        encodePublishesWhole()
        // [MQTT-3.3.2-18] User Properties in the order received (broker/aedes/user-property-order.ts); outside the above.
        keepUserPropertyOrder()
        // MQTT 5: every CONNACK refusal of the hooks above carries a Reason String (outermost wrapper).
        explainConnackRefusals(aedes)
        explainSubscribeRefusals(aedes)
        unshieldProtoFilters(aedes)
        // Redis mode: the persistence reads the stored subscriptions only once this node gets the
        // others' subscription updates (broker/local-first-emitter.ts: no subscription falls between).
        if (bundle.mq instanceof LocalFirstEmitter) await bundle.mq.subscribed
        await aedes.listen()
        await host.beforeListen()
        listeners = await startListeners(aedes, config.mqtt, log)
        if (config.http !== null) {
          const httpConfig = config.http
          const tls = httpConfig.tls !== null ? { cert: readPem(httpConfig.tls.cert, 'cert', 'http.tls'), key: readPem(httpConfig.tls.key, 'key', 'http.tls') } : null
          app = buildHttpApp({ log, metrics, token: httpConfig.token, readToken: httpConfig.readToken, tls, rateLimit: httpConfig.rateLimit, ready, routes: host.routes(), scrape,
            openapi: { version: packageVersion(), serverUrl: () => `${tls !== null ? 'https' : 'http'}://${httpConfig.host}:${httpPort ?? httpConfig.port}` } })
          await app.listen({ host: config.http.host, port: config.http.port })
          const address = app.server.address()
          httpPort = typeof address === 'object' && address !== null ? address.port : null
        } else {
          app = buildHttpApp({ log, metrics, token: null, ready, routes: host.routes(), openapi: { version: packageVersion(), serverUrl: () => 'http://127.0.0.1:8080' } })
          await app.ready()
        }
        await host.start()
      } catch (err) {
        await vigil.close().catch(() => {})
        throw err
      }
      log.info({ mqtt: listeners.ports.mqtt, ws: listeners.ports.ws, tls: listeners.ports.tls, http: httpPort,
        persistence: bundle.mode }, 'vigil listening')
    },

    close () {
      // Every step is bounded: with Redis gone, a flush can wait for ever, and the CLI
      // must still stop inside its 10 s (the bounds add up to 9 s). A step that
      // overruns is logged and counted, and shutdown goes on.
      const bounded = async (what: string, ms: number, run: () => Promise<unknown>): Promise<void> => {
        try {
          await withTimeout(run(), ms, 'VIGIL_E_SHUTDOWN')
        } catch (err) {
          vigil.reportError(err, `shutdown: ${what} did not complete`)
        }
      }
      closing ??= (async () => {
        shuttingDown = true
        listeners?.stopAccepting()
        const h = host
        const aedes = broker
        // Statuses (server_shutdown) and wills (plugins/wills) go out here, while the broker still routes.
        if (h !== null) await bounded('plugins\' beforeShutdown', 5500, () => h.beforeShutdown())
        if (aedes !== null) {
          await bounded('broker close', 1000, () => new Promise<void>((resolve) => aedes.close(() => resolve())))
          log.info('broker closed')
        }
        if (h !== null) await bounded('plugins\' close', 1000, () => h.close())
        stopCluster()
        connectionLog?.close()
        retainedLookup?.close()
        const server = app
        if (server !== null) await bounded('http close', 250, () => server.close())
        const open = listeners
        if (open !== null) await bounded('listeners close', 250, () => open.close())
        const persistence = bundle
        if (persistence !== null) {
          // Without a callback destroy() returns the async persistence's promise
          // (with one it waits for a 'ready' event that may never come).
          await bounded('persistence flush', 500, () => Promise.resolve(persistence.persistence.destroy()))
          await bounded('redis quit', 500, () => persistence.close())
        }
      })()
      return closing
    }
  }
  return vigil
}
