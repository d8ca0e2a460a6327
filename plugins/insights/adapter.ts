/**
 * The insights adapter (issue 18): feeds the pure DeviceInsight from a
 * device's birth and heartbeat, adds fw, restarts, lastRestart, clockSkewMs,
 * flapping and address to every status the liveness plugin builds, asks it for
 * a fresh status when one of them changes, and records each transition in the
 * device's history (memory, or one capped Redis list per device written once
 * per tick).
 *
 * Hot path: authorizePublish compares the topic with the client's own birth and
 * heartbeat topics (strings made once per connection) and returns; only those
 * two topics are searched for a key, and only a payload with the key is parsed.
 */
import type { Client, PublishPacket } from 'aedes'
import { clientSlot, isClosed, remoteAddress } from '../../broker/aedes/index.js'
import type { PluginContext, PluginHooks } from '../../broker/plugin-types.js'
import type { ScheduledTask } from '../../broker/scheduler.js'
import type { VigilConfig } from '../../config/schema.js'
import { StatusTopic } from '../liveness/status-topic.js'
import type { ClientStatus, LivenessService } from '../liveness/service.js'
import { availabilities, type Availability, type HistoryEntry } from './availability.js'
import { RedisBaselines } from './baselines-redis.js'
import { CHANGED, DeviceInsight, RESTARTED } from './core.js'
import type { HistoryStore } from './history.js'
import { MemoryHistory } from './history-memory.js'
import { RedisHistory } from './history-redis.js'
import { registerInsightMetrics, type InsightMetrics } from './metrics.js'
import { parseBirth, parseHeartbeat, type Birth, type Heartbeat } from './payload.js'
import type { FleetSummary, InsightsService } from './service.js'

/** History writes and the flapping check run this often (ms). */
export const TICK_MS = 250
/** |skew| above this counts the device as skewed in /api/fleet (and the alert). */
export const SKEWED_MS = 60_000

type Config = VigilConfig['insights']

/** Per connection: its device and its own topics. */
interface Attached { dev: DeviceInsight | null, epoch: number, birthTopic: string, heartbeatTopic: string }
const INSIGHT = clientSlot<Attached>('vigil.insights')
/** For a client liveness does not know: never matches a topic (topics are never empty). */
const NONE: Attached = { dev: null, epoch: 0, birthTopic: '', heartbeatTopic: '' }

/** The remote IP of a connection (TCP, TLS, or the WebSocket's HTTP socket), IPv4-mapped IPv6 unwrapped. */
export function addressOf (client: Client): string | null {
  const raw = remoteAddress(client)
  if (typeof raw !== 'string' || raw.length === 0) return null
  return raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw
}

const fill = (template: string, clientId: string): string => template.replaceAll('{clientId}', clientId).replaceAll('{username}', '')

export class InsightsAdapter implements InsightsService {
  readonly #ctx: PluginContext<Config>
  readonly #liveness: LivenessService
  readonly #devices = new Map<string, DeviceInsight>()
  readonly #flapping = new Set<DeviceInsight>()
  readonly #history: HistoryStore
  readonly #metrics: InsightMetrics
  readonly #redisMode: boolean
  readonly #statusTopic: StatusTopic
  /** Redis mode: reboot baselines shared by the nodes; a device's is read once per node. */
  readonly #baselines: RedisBaselines | null
  readonly #baselined = new WeakSet<DeviceInsight>()
  readonly #loading = new Map<DeviceInsight, Promise<void>>()
  #timer: ScheduledTask | null = null

  constructor (ctx: PluginContext<Config>) {
    this.#ctx = ctx
    this.#liveness = ctx.need('liveness')
    this.#redisMode = ctx.redis !== null
    this.#history = ctx.redis !== null
      ? new RedisHistory({ redis: ctx.redis, expireMs: ctx.vigil.liveness.forgetAfter, onError: (err, what) => ctx.reportError(err, what) })
      : new MemoryHistory()
    this.#metrics = registerInsightMetrics(ctx.metrics, () => this.#flappingNow())
    this.#statusTopic = new StatusTopic(ctx.vigil.liveness.statusTopic)
    this.#baselines = ctx.redis !== null ? new RedisBaselines(ctx.redis, ctx.vigil.liveness.forgetAfter) : null
  }

  get historyStore (): HistoryStore { return this.#history }

  attach (): PluginHooks {
    const ctx = this.#ctx
    const unextend = this.#liveness.extendStatus((status, client) => this.#decorate(status, client))
    const unlisten = this.#liveness.onTransition((status, previous, local) => this.#transition(status, previous, local))
    // A cleared status (forgetAfter, decommission) forgets the device here too, on every node.
    ctx.broker.subscribe(this.#statusTopic.filter, (packet: { topic: string, payload: Buffer | string }, done: () => void) => {
      if (packet.payload.length === 0) {
        const clientId = this.#statusTopic.clientIdOf(packet.topic)
        if (clientId !== null) this.#forget(clientId)
      }
      done()
    }, () => {})
    this.#timer = ctx.scheduler.every(TICK_MS, () => {
      try { this.#tick() } catch (err) { ctx.reportError(err, 'insights tick failed') }
    })
    return {
      authorizePublish: (client, packet) => this.#authorizePublish(client, packet),
      close: async () => {
        this.#timer?.cancel()
        this.#timer = null
        unextend()
        unlisten()
        // Transitions of the shutdown (server_shutdown statuses) are written before Redis goes.
        await Promise.all([this.#history.flush(), this.#flushBaselines()])
      }
    }
  }

  // ---- service -------------------------------------------------------------

  async history (clientId: string, since: number): Promise<HistoryEntry[]> {
    return await this.#history.read(clientId, since, this.#ctx.now())
  }

  async availability (clientId: string): Promise<Availability> {
    const now = this.#ctx.now()
    const entries = await this.#history.read(clientId, 0, now)
    // The current status is the last word, even before its transition is written.
    const status = this.#liveness.get(clientId)
    const last = entries.at(-1)
    if (status !== undefined && status.kind === 'device' &&
      (last === undefined || last.epoch !== status.epoch || last.state !== status.state || last.at !== status.since)) {
      entries.push(entryOf(status))
    }
    return availabilities(entries, now)
  }

  flapping (clientId: string): boolean | undefined {
    return this.#devices.get(clientId)?.flapping(this.#ctx.now())
  }

  fleet (): FleetSummary {
    const devices = this.#liveness.list(undefined, 'device')
    const firmware = new Map<string, number>()
    let skewed = 0
    for (const status of devices) {
      const fw = status.fw ?? 'unknown'
      firmware.set(fw, (firmware.get(fw) ?? 0) + 1)
      if (typeof status.clockSkewMs === 'number' && Math.abs(status.clockSkewMs) > SKEWED_MS) skewed++
    }
    return {
      devices: devices.length,
      states: this.#liveness.counts(),
      observers: this.#liveness.observers(),
      firmware: Object.fromEntries([...firmware].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))),
      flapping: this.#flappingNow(),
      skewed
    }
  }

  // ---- hooks and events ----------------------------------------------------

  #authorizePublish (client: Client | null, packet: PublishPacket): void {
    if (client === null) return
    const attached = INSIGHT.get(client) ?? this.#attachClient(client)
    const topic = packet.topic
    // A closing client's publish is its will, not a birth or a heartbeat.
    if (topic === attached.heartbeatTopic) {
      if (!isClosed(client)) this.#heartbeat(attached, packet.payload)
    } else if (topic === attached.birthTopic) {
      if (!isClosed(client)) this.#birth(attached, packet.payload)
    }
  }

  #attachClient (client: Client): Attached {
    const epoch = this.#liveness.epochOf(client)
    const attached: Attached = epoch === undefined
      ? NONE
      : {
          dev: this.#device(client.id),
          epoch,
          birthTopic: fill(this.#ctx.config.birthTopic, client.id),
          heartbeatTopic: fill(this.#ctx.config.heartbeatTopic, client.id)
        }
    INSIGHT.set(client, attached)
    return attached
  }

  #heartbeat (attached: Attached, payload: Buffer | string): void {
    const fields = parseHeartbeat(payload)
    const dev = attached.dev
    if (fields === null || dev === null) return
    const now = this.#ctx.now()
    if (this.#baselines !== null && !this.#baselined.has(dev)) {
      this.#afterBaseline(dev, () => this.#applyHeartbeat(dev, fields, attached.epoch, now))
    } else {
      this.#applyHeartbeat(dev, fields, attached.epoch, now)
    }
  }

  #applyHeartbeat (dev: DeviceInsight, fields: Heartbeat, epoch: number, now: number): void {
    const result = dev.heartbeat(fields.ts, fields.uptime, epoch, now)
    if (!Number.isNaN(dev.lastSample)) this.#metrics.skew(Math.abs(dev.lastSample) / 1000)
    this.#changed(dev, result)
  }

  #birth (attached: Attached, payload: Buffer | string): void {
    const fields = parseBirth(payload)
    const dev = attached.dev
    if (fields === null || dev === null) return
    const now = this.#ctx.now()
    if (this.#baselines !== null && !this.#baselined.has(dev)) {
      this.#afterBaseline(dev, () => this.#applyBirth(dev, fields, attached.epoch, now))
    } else {
      this.#applyBirth(dev, fields, attached.epoch, now)
    }
  }

  #applyBirth (dev: DeviceInsight, fields: Birth, epoch: number, now: number): void {
    this.#changed(dev, dev.birth(fields.fw, fields.boot, epoch, now))
    if (fields.boot !== null) this.#baselines?.note(dev.clientId, fields.boot, null)
  }

  /**
   * Redis mode, the first birth or heartbeat this node hears of a device: read
   * the baselines another node (or this one before a restart) left, then apply
   * it, and whatever arrives meanwhile, in order.
   */
  #afterBaseline (dev: DeviceInsight, apply: () => void): void {
    let loading = this.#loading.get(dev)
    if (loading === undefined) {
      loading = this.#baselines!.load(dev.clientId).then((stored) => {
        // What this node saw itself is newer than what is stored.
        if (dev.lastBoot === null) dev.lastBoot = stored.boot
        if (dev.lastUptime === null) dev.lastUptime = stored.uptime
      }, (err: unknown) => this.#ctx.reportError(err, 'reading a reboot baseline failed')).finally(() => {
        this.#baselined.add(dev)
        this.#loading.delete(dev)
      })
      this.#loading.set(dev, loading)
    }
    void loading.then(() => {
      try { apply() } catch (err) { this.#ctx.reportError(err, 'a birth or heartbeat could not be applied') }
    })
  }

  /** The last uptime of a connection that ended here, once its heartbeats still waiting for a baseline are applied. */
  #noteEnd (clientId: string): void {
    const dev = this.#devices.get(clientId)
    const baselines = this.#baselines
    if (baselines === null || dev === undefined) return
    const loading = this.#loading.get(dev)
    if (loading === undefined) baselines.note(clientId, null, dev.lastUptime)
    else void loading.then(() => baselines.note(clientId, null, dev.lastUptime))
  }

  #flushBaselines (): Promise<void> {
    return this.#baselines?.flush().catch((err: unknown) => this.#ctx.reportError(err, 'writing reboot baselines failed')) ?? Promise.resolve()
  }

  #changed (dev: DeviceInsight, result: number): void {
    if ((result & RESTARTED) !== 0) this.#metrics.restart()
    if ((result & CHANGED) !== 0) this.#liveness.refresh(dev.clientId)
  }

  /** Fill the insight fields of a status this node is about to publish. */
  #decorate (status: ClientStatus, client: Client): void {
    const address = addressOf(client)
    if (status.kind === 'observer') {
      if (address !== null) status.address = address
      return
    }
    const now = this.#ctx.now()
    const dev = this.#device(status.clientId)
    if (status.state === 'online') this.#connected(dev, status.epoch, status.connectedAt, now)
    if (address !== null) dev.address = address
    if (dev.fw !== null) status.fw = dev.fw
    status.restarts = dev.restarts
    status.lastRestart = dev.lastRestart
    status.clockSkewMs = dev.skew()
    dev.publishedSkew = status.clockSkewMs
    status.flapping = dev.flapping(now)
    if (dev.address !== null) status.address = dev.address
  }

  #connected (dev: DeviceInsight, epoch: number, at: number, now: number): void {
    if (dev.connect(epoch, at) && dev.flapping(now)) this.#flapping.add(dev)
  }

  /** Every status accepted into the fleet view: history, and what other nodes know of a device. */
  #transition (status: ClientStatus, previous: ClientStatus | undefined, local: boolean): void {
    if (status.kind === 'observer') return
    const now = this.#ctx.now()
    if (!local) {
      // Another node's status (or a stored one at start-up): keep what it knew, for when the device comes here.
      const dev = this.#device(status.clientId)
      if (status.fw !== undefined) dev.fw = status.fw
      if (status.restarts !== undefined && status.restarts > dev.restarts) {
        dev.restarts = status.restarts
        dev.lastRestart = status.lastRestart ?? dev.lastRestart
      }
      if (status.state === 'online') this.#connected(dev, status.epoch, status.connectedAt, now)
    }
    // A connection of this node ended: its last uptime is the baseline for the next one, wherever it lands.
    if (local && status.state === 'offline') this.#noteEnd(status.clientId)
    const changed = previous === undefined || previous.kind === 'observer' || previous.state !== status.state || previous.epoch !== status.epoch
    // In Redis mode the node that published a transition writes it; a refresh is no transition.
    if (!changed || (this.#redisMode && !local)) return
    this.#history.record(status.clientId, entryOf(status), now)
  }

  #tick (): void {
    const now = this.#ctx.now()
    void this.#history.flush()
    void this.#flushBaselines()
    for (const dev of this.#flapping) {
      if (dev.flapping(now)) continue
      this.#flapping.delete(dev)
      this.#liveness.refresh(dev.clientId)
    }
  }

  #flappingNow (): number {
    const now = this.#ctx.now()
    let n = 0
    for (const dev of this.#flapping) if (dev.flapping(now)) n++
    return n
  }

  #device (clientId: string): DeviceInsight {
    let dev = this.#devices.get(clientId)
    if (dev === undefined) {
      dev = new DeviceInsight(clientId)
      this.#devices.set(clientId, dev)
    }
    return dev
  }

  #forget (clientId: string): void {
    const dev = this.#devices.get(clientId)
    if (dev !== undefined) this.#flapping.delete(dev)
    this.#devices.delete(clientId)
    this.#history.forget(clientId).catch((err) => this.#ctx.reportError(err, 'forgetting a history failed'))
    this.#baselines?.forget(clientId).catch((err) => this.#ctx.reportError(err, 'forgetting a reboot baseline failed'))
  }
}

const entryOf = (status: ClientStatus): HistoryEntry =>
  ({ state: status.state, reason: status.reason, at: status.since, epoch: status.epoch, node: status.node })
