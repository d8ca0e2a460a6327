/**
 * `cluster.workers: N` (or `vigil --workers N`): N broker processes on one
 * machine, sharing the MQTT, WebSocket, TLS and HTTP ports through node:cluster
 * (the primary accepts and hands connections round-robin to the workers). Each
 * worker is a full node of the cluster on the same Redis, named
 * `<node.id>-<k>`, so a machine's cores all serve and each process stays under
 * the per-process open-file limit.
 *
 * The primary serves nothing itself: it starts the workers, restarts one that
 * dies (under the same node id, so the restarted worker publishes its previous
 * run's wills and statuses at start-up, exactly as for a lost node), forwards
 * SIGTERM/SIGINT and exits once every worker has stopped, and answers a
 * worker's request for the cluster-wide metrics (`/metrics` on the shared port
 * is the sum over the workers).
 */
import cluster, { type Worker } from 'node:cluster'
import { hostname } from 'node:os'
import { AggregatorRegistry, type Registry } from 'prom-client'
import type { VigilConfig } from '../config/schema.js'
import type { Logger } from './logger.js'

/** The environment variable that tells a worker its index (1..N); not VIGIL_*, which are config keys. */
export const WORKER_INDEX_ENV = '_VIGIL_WORKER_INDEX'
type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number]
const SCRAPE_TIMEOUT_MS = 2000
/** A worker that dies within this of its start counts as crash-looping: its restart waits longer. */
const QUICK_DEATH_MS = 10_000
const MAX_RESTART_DELAY_MS = 30_000

interface ScrapeRequest { type: 'vigil:scrape', id: number }
interface ScrapeAnswer { type: 'vigil:scraped', id: number, text: string }
interface CollectRequest { type: 'vigil:collect', id: number }
interface CollectAnswer { type: 'vigil:collected', id: number, metrics: MetricJson[] }

const isMessage = <T extends { type: string }>(message: unknown, type: T['type']): message is T =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type

export function isWorker (): boolean {
  return cluster.isWorker && process.env[WORKER_INDEX_ENV] !== undefined
}

/** A worker's node id: the configured (or machine-derived) base id, then its index. */
export function workerNodeId (config: VigilConfig, primaryPid: number, index: number): string {
  return `${config.node.id ?? `${hostname()}-${primaryPid}`}-${index}`
}

export interface PrimaryOptions {
  /** Restart delay after a worker dies (ms); doubled while workers die quickly. */
  restartDelayMs?: number
}

/**
 * Run the primary: fork N workers and keep them running until a signal. Resolves
 * with the exit code once every worker has exited after SIGTERM/SIGINT.
 */
export function runPrimary (workers: number, log: Logger, options: PrimaryOptions = {}): Promise<number> {
  const baseDelay = options.restartDelayMs ?? 1000
  const byIndex = new Map<number, Worker>()
  const startedAt = new Map<number, number>()
  const delays = new Map<number, number>()
  const aggregated = new Map<number, { pending: Set<number>, metrics: MetricJson[][], finish: () => void }>()
  let stopping = false
  let exitCode = 0
  let nextScrape = 0

  const fork = (index: number): void => {
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) })
    byIndex.set(index, worker)
    startedAt.set(index, Date.now())
    worker.on('message', (message: unknown) => onMessage(worker, message))
    worker.once('exit', (code, signal) => {
      if (byIndex.get(index) === worker) byIndex.delete(index)
      for (const scrape of aggregated.values()) {
        scrape.pending.delete(worker.id)
        if (scrape.pending.size === 0) scrape.finish()
      }
      if (stopping) {
        if (code !== 0 && code !== null) exitCode = exitCode === 0 ? 1 : exitCode
        if (byIndex.size === 0) done?.()
        return
      }
      if (code === 2) {
        // A configuration the worker refuses would be refused again: stop, as a single broker would.
        log.fatal({ code: 'VIGIL_E_WORKER', worker: index }, 'worker refused the configuration (exit 2); stopping')
        exitCode = 2
        stop('SIGTERM')
        return
      }
      const lived = Date.now() - (startedAt.get(index) ?? 0)
      const delay = lived < QUICK_DEATH_MS ? Math.min((delays.get(index) ?? baseDelay / 2) * 2, MAX_RESTART_DELAY_MS) : baseDelay
      delays.set(index, delay)
      log.error({ code: 'VIGIL_E_WORKER', worker: index, exitCode: code, signal, restartInMs: delay },
        'worker died; restarting it under the same node id (its previous run\'s wills and statuses go out at its start)')
      setTimeout(() => { if (!stopping) fork(index) }, delay).unref()
    })
  }

  /** A worker asks for the cluster-wide metrics: collect every worker's registry and sum. */
  const onMessage = (from: Worker, message: unknown): void => {
    if (isMessage<CollectAnswer>(message, 'vigil:collected')) {
      const scrape = aggregated.get(message.id)
      if (scrape === undefined) return
      scrape.metrics.push(message.metrics)
      scrape.pending.delete(from.id)
      if (scrape.pending.size === 0) scrape.finish()
      return
    }
    if (!isMessage<ScrapeRequest>(message, 'vigil:scrape')) return
    const id = nextScrape++
    const live = [...byIndex.values()].filter((w) => w.isConnected())
    const scrape = {
      pending: new Set(live.map((w) => w.id)),
      metrics: [] as MetricJson[][],
      finish: () => {
        if (!aggregated.delete(id)) return
        clearTimeout(timer)
        // Summed by each metric's aggregator: counters and per-node gauges add up,
        // fleet-wide gauges (the same on every node) declare 'max'.
        Promise.resolve(AggregatorRegistry.aggregate(scrape.metrics).metrics()).then(
          (text) => { if (from.isConnected()) from.send({ type: 'vigil:scraped', id: message.id, text } satisfies ScrapeAnswer) },
          (err: unknown) => log.error({ code: 'VIGIL_E_WORKER', err: String(err) }, 'metrics aggregation failed'))
      }
    }
    // A worker that does not answer in time is left out of this scrape rather than hang it.
    const timer = setTimeout(() => scrape.finish(), SCRAPE_TIMEOUT_MS)
    aggregated.set(id, scrape)
    for (const worker of live) worker.send({ type: 'vigil:collect', id } satisfies CollectRequest)
    if (live.length === 0) scrape.finish()
  }

  let done: (() => void) | null = null
  const finished = new Promise<number>((resolve) => { done = () => resolve(exitCode) })
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return
    stopping = true
    log.info({ signal, workers: byIndex.size }, 'stopping workers')
    // Each worker runs its own bounded shutdown (statuses, wills, flush) within 10 s.
    for (const worker of byIndex.values()) worker.process.kill('SIGTERM')
    if (byIndex.size === 0) done?.()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))

  log.info({ workers }, 'starting workers')
  for (let index = 1; index <= workers; index++) fork(index)
  return finished
}

/**
 * In a worker: answer the primary's collection requests with this worker's
 * registry, and return the scrape that `/metrics` serves (the cluster-wide sum).
 */
export function workerMetrics (registry: Registry): () => Promise<string> {
  const waiting = new Map<number, (text: string) => void>()
  let next = 0
  process.on('message', (message: unknown) => {
    if (isMessage<CollectRequest>(message, 'vigil:collect')) {
      registry.getMetricsAsJSON().then((metrics) => {
        process.send?.({ type: 'vigil:collected', id: message.id, metrics } satisfies CollectAnswer)
      }, () => {
        process.send?.({ type: 'vigil:collected', id: message.id, metrics: [] } satisfies CollectAnswer)
      })
    } else if (isMessage<ScrapeAnswer>(message, 'vigil:scraped')) {
      waiting.get(message.id)?.(message.text)
      waiting.delete(message.id)
    }
  })
  return async () => {
    const id = next++
    return await new Promise<string>((resolve) => {
      // The primary gone or slow: this worker's own metrics are better than no answer.
      const timer = setTimeout(() => {
        waiting.delete(id)
        registry.metrics().then(resolve, () => resolve(''))
      }, SCRAPE_TIMEOUT_MS + 500)
      waiting.set(id, (text) => { clearTimeout(timer); resolve(text) })
      process.send?.({ type: 'vigil:scrape', id } satisfies ScrapeRequest)
    })
  }
}
