/**
 * The plugin host: sets plugins up in registration order, composes their hooks
 * into Aedes' single-slot hooks, isolates observers' errors and closes plugins
 * in reverse order. No plugin assigns a broker hook itself.
 */
import type { Aedes, AedesPublishPacket, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes'
import type { Redis } from 'ioredis'
import { Counter, type Registry } from 'prom-client'
import type { VigilConfig } from '../config/schema.js'
import { ConnackCode, ConnectRefused, errorMessage, PublishDenied, VigilError } from './errors.js'
import { authenticatedUsername } from './client-identity.js'
import { dropAfterAck, installPublishDrop } from './aedes/index.js'
import type { Logger } from './logger.js'
import type { BrokerEvents, MaybePromise, PluginContext, PluginHooks, VigilPlugin } from './plugin-types.js'
import type { Scheduler } from './scheduler.js'
import type { ServiceRegistry } from './services.js'

/**
 * One plugin's hook, unbound: called as fn.call(hooks, ...), which V8 turns into
 * a direct call on the per-message paths (a bound function it does not inline).
 */
interface Entry<F> { plugin: string, hooks: PluginHooks, fn: F }

export interface PluginHostDeps {
  broker: Aedes
  config: VigilConfig
  log: Logger
  metrics: Registry
  services: ServiceRegistry
  nodeId: string
  now: () => number
  scheduler: Scheduler
  redis: Redis | null
  redisConnection: (name: string) => Redis | null
}

const SYS_PREFIX = '$SYS/'
const isPromise = (value: unknown): value is Promise<unknown> =>
  value !== undefined && value !== null && typeof (value as Promise<unknown>).then === 'function'

type AuthorizePublish = NonNullable<PluginHooks['authorizePublish']>
type AuthorizeForward = NonNullable<PluginHooks['authorizeForward']>

export class PluginHost {
  readonly #deps: PluginHostDeps
  readonly #hooks: Array<{ plugin: string, hooks: PluginHooks }> = []
  readonly #pluginErrors: Counter<'plugin'>

  constructor (deps: PluginHostDeps) {
    this.#deps = deps
    this.#pluginErrors = new Counter({
      name: 'vigil_plugin_errors_total',
      help: 'Errors caught and isolated inside plugins, by plugin',
      labelNames: ['plugin'],
      registers: [deps.metrics]
    })
  }

  /** Set up every enabled plugin in order, then install the composed hooks on the broker. */
  async setup (plugins: readonly VigilPlugin<any>[]): Promise<void> {
    const { config, log } = this.#deps
    this.#pluginErrors.inc({ plugin: 'core' }, 0)
    for (const plugin of plugins) {
      if (plugin.enabled !== undefined && !plugin.enabled(config)) {
        log.debug({ plugin: plugin.name }, 'plugin disabled by config')
        continue
      }
      this.#pluginErrors.inc({ plugin: plugin.name }, 0)
      for (const need of plugin.needs ?? []) {
        if (!this.#deps.services.has(need)) {
          throw new VigilError('VIGIL_E_SERVICE', `plugin ${plugin.name} needs service ${need}, which no earlier plugin provides`)
        }
      }
      try {
        const hooks = await plugin.setup(this.#context(plugin))
        this.#hooks.push({ plugin: plugin.name, hooks })
      } catch (err) {
        // A bad file a plugin reads (password, ACL) is a configuration error: exit 2, as the CLI says.
        if (err instanceof VigilError && err.code === 'VIGIL_E_CONFIG') throw err
        throw new VigilError('VIGIL_E_PLUGIN_SETUP', `plugin ${plugin.name} failed to start: ${errorMessage(err)}`, err)
      }
    }
    this.#install()
  }

  /** Count and log an error that a plugin (or core, as 'core') caught. */
  reportError (plugin: string, err: unknown, what: string): void {
    this.#pluginErrors.inc({ plugin })
    this.#deps.log.error({ plugin, code: err instanceof VigilError ? err.code : 'VIGIL_E_PLUGIN', err: errorMessage(err) }, what)
  }

  /** Route registrations contributed by plugins, in order. */
  routes (): Array<(app: import('fastify').FastifyInstance) => void> {
    return this.#entries('routes').map((entry) => entry.fn.bind(entry.hooks))
  }

  async beforeListen (): Promise<void> {
    for (const { hooks } of this.#hooks) await hooks.beforeListen?.()
  }

  async start (): Promise<void> {
    for (const { hooks } of this.#hooks) await hooks.start?.()
  }

  async beforeShutdown (): Promise<void> {
    for (const { plugin, hooks } of this.#hooks) {
      try { await hooks.beforeShutdown?.() } catch (err) { this.reportError(plugin, err, 'beforeShutdown failed') }
    }
  }

  async close (): Promise<void> {
    for (const { plugin, hooks } of [...this.#hooks].reverse()) {
      try { await hooks.close?.() } catch (err) { this.reportError(plugin, err, 'close failed') }
    }
  }

  /** The hooks of one phase, in order, tagged by plugin. */
  #entries<K extends keyof PluginHooks> (key: K): Array<Entry<NonNullable<PluginHooks[K]>>> {
    const out: Array<Entry<NonNullable<PluginHooks[K]>>> = []
    for (const { plugin, hooks } of this.#hooks) {
      const fn = hooks[key]
      if (fn !== undefined) out.push({ plugin, hooks, fn: fn as NonNullable<PluginHooks[K]> })
    }
    return out
  }

  #context (plugin: VigilPlugin<any>): PluginContext<unknown> {
    const deps = this.#deps
    const log = deps.log.child({ plugin: plugin.name })
    const section = plugin.configKey !== undefined ? deps.config[plugin.configKey] : deps.config
    return {
      broker: deps.broker,
      config: section as never,
      vigil: deps.config,
      log,
      metrics: deps.metrics,
      nodeId: deps.nodeId,
      now: deps.now,
      scheduler: deps.scheduler,
      redis: deps.redis,
      redisConnection: deps.redisConnection,
      provide: (key, service) => deps.services.provide(key, service),
      need: (key) => deps.services.need(key),
      maybe: (key) => deps.services.maybe(key),
      on: <E extends keyof BrokerEvents>(event: E, listener: (...args: BrokerEvents[E]) => void) => {
        const call = listener as (a: unknown, b: unknown) => void
        // Fixed arity (every broker event has at most two arguments): 'ping' and 'ack'
        // fire per packet, and a rest parameter would allocate an array each time.
        (deps.broker.on as (e: string, l: (a: unknown, b: unknown) => void) => void)(event, (a, b) => {
          try {
            call(a, b)
          } catch (err) {
            this.reportError(plugin.name, err, `${event} listener failed`)
          }
        })
      },
      reportError: (err, what) => this.reportError(plugin.name, err, what)
    }
  }

  #install (): void {
    const broker = this.#deps.broker
    broker.preConnect = this.#composePreConnect()
    broker.authenticate = this.#composeAuthenticate()
    broker.authorizePublish = this.#composeAuthorizePublish()
    installPublishDrop(broker)
    broker.authorizeSubscribe = this.#composeAuthorizeSubscribe()
    broker.authorizeForward = this.#composeAuthorizeForward()
    broker.published = this.#composePublished()
  }

  /** preConnect runs before the clientId is known; a refusal closes without CONNACK (Aedes' behaviour). */
  #composePreConnect (): Aedes['preConnect'] {
    const entries = this.#entries('preConnect')
    return (client: Client, packet: ConnectPacket, callback) => {
      runChain(entries, (entry) => entry.fn.call(entry.hooks, client, packet)).then(
        () => callback(null, true),
        (failure: Failure) => {
          if (!(failure.err instanceof ConnectRefused)) this.reportError(failure.plugin, failure.err, 'preConnect failed')
          callback(failure.err as Error, false)
        })
    }
  }

  /**
   * authenticate fails closed: ConnectRefused gives its CONNACK code; any other
   * throw refuses with SERVER_UNAVAILABLE (3) and is counted.
   */
  #composeAuthenticate (): Aedes['authenticate'] {
    const entries = this.#entries('authenticate')
    return (client, username, password, callback) => {
      runChain(entries, (entry) => entry.fn.call(entry.hooks, client, authenticatedUsername(client, username), password)).then(
        () => callback(null, true),
        (failure: Failure) => {
          let err = failure.err
          if (!(err instanceof ConnectRefused)) {
            this.reportError(failure.plugin, err, 'authenticate failed')
            err = new ConnectRefused(ConnackCode.SERVER_UNAVAILABLE, 'server unavailable')
          }
          callback(err as ConnectRefused & { returnCode: 3 }, false)
        })
    }
  }

  /**
   * Hot path: every PUBLISH and every will. Runs synchronously while hooks return
   * nothing, so a publish that no plugin waits on allocates no promise.
   */
  #composeAuthorizePublish (): Aedes['authorizePublish'] {
    const fns = this.#entries('authorizePublish')
    const count = fns.length
    const refuse = (plugin: string, err: unknown, callback: (error?: Error | null) => void, packet: PublishPacket): void => {
      // A quiet denial: acked, not routed, not stored; the client stays (broker/aedes/publish-drop.ts).
      if (err instanceof PublishDenied) {
        dropAfterAck(packet)
        return callback(null)
      }
      if (!(err instanceof VigilError)) this.reportError(plugin, err, 'authorizePublish failed (refused)')
      callback(err instanceof Error ? err : new Error(String(err)))
    }
    const resume = (from: number, pending: Promise<unknown>, client: Client | null, packet: PublishPacket,
      callback: (error?: Error | null) => void): void => {
      pending.then(() => {
        for (let i = from; i < count; i++) {
          const entry = fns[i]!
          let result: MaybePromise<void>
          try { result = entry.fn.call(entry.hooks, client, packet) } catch (err) { return refuse(entry.plugin, err, callback, packet) }
          if (isPromise(result)) return resume(i + 1, result, client, packet, callback)
        }
        callback(null)
      }, (err: unknown) => refuse(fns[from - 1]!.plugin, err, callback, packet))
    }
    return (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
      // Aedes' default reserves $SYS/ for the broker; replacing the hook must keep that.
      if (client !== null && packet.topic.charCodeAt(0) === 36 && packet.topic.startsWith(SYS_PREFIX)) {
        return callback(new VigilError('VIGIL_E_PUBLISH_REFUSED', '$SYS/ topics are reserved for the broker'))
      }
      for (let i = 0; i < count; i++) {
        const entry = fns[i]!
        let result: MaybePromise<void>
        try { result = entry.fn.call(entry.hooks, client, packet) } catch (err) { return refuse(entry.plugin, err, callback, packet) }
        if (isPromise(result)) return resume(i + 1, result, client, packet, callback)
      }
      callback(null)
    }
  }

  /** A throwing hook refuses the subscription (SUBACK 0x80) rather than the connection. */
  #composeAuthorizeSubscribe (): Aedes['authorizeSubscribe'] {
    const entries = this.#entries('authorizeSubscribe')
    return (client, subscription, callback) => {
      const run = async (): Promise<Subscription | null> => {
        let sub: Subscription | null = subscription
        for (const entry of entries) {
          try {
            sub = await entry.fn.call(entry.hooks, client, sub)
          } catch (err) {
            this.reportError(entry.plugin, err, 'authorizeSubscribe failed (refused)')
            return null
          }
          if (sub === null) return null
        }
        return sub
      }
      run().then((sub) => callback(null, sub), () => callback(null, null))
    }
  }

  /** Hot path, per delivered message: synchronous; a throw withholds the message. */
  #composeAuthorizeForward (): Aedes['authorizeForward'] {
    const fns: Array<Entry<AuthorizeForward>> = this.#entries('authorizeForward')
    if (fns.length === 0) return (_client, packet) => packet
    return (client: Client, packet: AedesPublishPacket) => {
      let current: AedesPublishPacket | null = packet
      for (let i = 0; i < fns.length && current !== null; i++) {
        const entry = fns[i]!
        try {
          current = entry.fn.call(entry.hooks, client, current)
        } catch (err) {
          this.reportError(entry.plugin, err, 'authorizeForward failed (withheld)')
          return null
        }
      }
      return current
    }
  }

  /** Observing: never fails the publish. */
  #composePublished (): Aedes['published'] {
    const fns = this.#entries('published')
    const count = fns.length
    return (packet, client, callback) => {
      for (let i = 0; i < count; i++) {
        const entry = fns[i]!
        try {
          const result = entry.fn.call(entry.hooks, packet, client)
          if (isPromise(result)) result.catch((err) => this.reportError(entry.plugin, err, 'published failed'))
        } catch (err) {
          this.reportError(entry.plugin, err, 'published failed')
        }
      }
      callback(null)
    }
  }
}

interface Failure { plugin: string, err: unknown }

/** Run hooks in order, awaiting each; rejects with the failing plugin's name. */
async function runChain<F> (entries: ReadonlyArray<Entry<F>>, call: (entry: Entry<F>) => MaybePromise<unknown>): Promise<void> {
  for (const entry of entries) {
    try {
      await call(entry)
    } catch (err) {
      const failure: Failure = { plugin: entry.plugin, err }
      throw failure
    }
  }
}

export type { AuthorizePublish }
