/**
 * The shape of a Vigil plugin. Hooks *decide* (and may refuse); events *observe*.
 * Aedes hooks are single slots: only the plugin host assigns them.
 */
import type { Aedes, AedesPublishPacket, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes'
import type { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { VigilConfig } from '../config/schema.js'
import type { Logger } from './logger.js'
import type { Scheduler } from './scheduler.js'
import type { ServiceName, Services } from './services.js'

export type MaybePromise<T> = T | Promise<T>

/** Broker events a plugin may observe; listeners are wrapped so a throw is logged and counted. */
export interface BrokerEvents {
  client: [client: Client]
  clientReady: [client: Client]
  clientDisconnect: [client: Client]
  clientError: [client: Client, error: Error]
  connectionError: [client: Client, error: Error]
  keepaliveTimeout: [client: Client]
  connackSent: [packet: { returnCode: number, sessionPresent: boolean }, client: Client]
  ping: [packet: unknown, client: Client]
  publish: [packet: AedesPublishPacket, client: Client | null]
  ack: [packet: unknown, client: Client]
  subscribe: [subscriptions: Subscription[], client: Client]
  unsubscribe: [unsubscriptions: string[], client: Client]
  closed: []
}

export interface PluginContext<C> {
  readonly broker: Aedes
  /** This plugin's own config section (the whole config for plugins without one). */
  readonly config: Readonly<C>
  /** The whole effective config, read-only, for plugins that read a neighbour's section. */
  readonly vigil: Readonly<VigilConfig>
  readonly log: Logger
  readonly metrics: Registry
  /** The node id written into status payloads and Redis keys. */
  readonly nodeId: string
  /** Injected clock (ms since epoch): tests move time instead of sleeping. */
  now(): number
  /** Injected clock and timers (now, after, every): sweeps and pollers use it, tests drive it. */
  readonly scheduler: Scheduler
  /** A shared Redis command connection in Redis mode, null in memory mode. */
  readonly redis: Redis | null
  /** A fresh Redis connection (e.g. for SUBSCRIBE); closed by the host at shutdown. */
  redisConnection(name: string): Redis | null
  provide<K extends ServiceName>(key: K, service: Services[K]): void
  need<K extends ServiceName>(key: K): Services[K]
  maybe<K extends ServiceName>(key: K): Services[K] | undefined
  /** Observe a broker event; a listener that throws is logged and counted, never fatal. */
  on<E extends keyof BrokerEvents>(event: E, listener: (...args: BrokerEvents[E]) => void): void
  /** Log and count an error of this plugin (vigil_plugin_errors_total{plugin}). */
  reportError(err: unknown, what: string): void
}

export interface PluginHooks {
  /** Before anything else of a CONNECT; throw ConnectRefused to refuse with a CONNACK code. */
  preConnect?(client: Client, packet: ConnectPacket): MaybePromise<void>
  /** Credentials check; throw ConnectRefused (fail closed: any other throw is NOT_AUTHORIZED). */
  authenticate?(client: Client, username: string | undefined, password: Buffer | undefined): MaybePromise<void>
  /**
   * Every PUBLISH and every will passes here (client is null for broker-originated
   * ones). May rewrite the packet in place (will stamping). Throw to refuse.
   * Hot path: return synchronously when there is nothing to wait for.
   */
  authorizePublish?(client: Client | null, packet: PublishPacket): MaybePromise<void>
  /** Return the (possibly downgraded) subscription, or null to refuse it. */
  authorizeSubscribe?(client: Client, sub: Subscription): MaybePromise<Subscription | null>
  /** Synchronous, per delivered message: return null to withhold it from this client. */
  authorizeForward?(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null
  /** Observing: after a publish was dispatched. Errors are counted, never refuse. */
  published?(packet: AedesPublishPacket, client: Client | null): MaybePromise<void>
  /**
   * After the broker (and its persistence) is up, before any listener accepts a
   * connection: recover what a previous run of this node left behind.
   */
  beforeListen?(): MaybePromise<void>
  /** HTTP routes this plugin serves (under /api/); registered before the server listens. */
  routes?(app: FastifyInstance): void
  /** After the broker and listeners are up. */
  start?(): MaybePromise<void>
  /**
   * Shutdown, before any client is closed: publish what must be published while
   * the broker still routes (statuses with reason server_shutdown).
   */
  beforeShutdown?(): MaybePromise<void>
  /** Release timers and connections; called in reverse registration order. */
  close?(): MaybePromise<void>
}

export interface VigilPlugin<C = unknown> {
  /** kebab-case; the folder name, the log field and the metrics label. */
  readonly name: string
  /** Which config section this plugin reads (e.g. 'liveness'); none = whole config. */
  readonly configKey?: keyof VigilConfig
  /** Services used, checked when the plugin is set up. */
  readonly needs?: readonly ServiceName[]
  /** Whether it runs for this config (default: always). */
  enabled?(config: VigilConfig): boolean
  setup(ctx: PluginContext<C>): Promise<PluginHooks>
}

/** Identity helper that keeps the config type of a plugin definition. */
export function definePlugin<K extends keyof VigilConfig> (plugin: VigilPlugin<VigilConfig[K]> & { configKey: K }): VigilPlugin<VigilConfig[K]>
export function definePlugin (plugin: VigilPlugin<VigilConfig>): VigilPlugin<VigilConfig>
export function definePlugin (plugin: VigilPlugin<never>): VigilPlugin<never> {
  return plugin
}
