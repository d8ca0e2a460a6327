/**
 * Publishers for fanin/fanout/sizing: run in the harness process or in forked
 * workers (bench/load-worker.ts) so that the load generator is not the
 * bottleneck. Rate-controlled (or flat out with a bounded in-flight window).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { client, endAll, stampPayload } from './scenarios/common.js'
import { packageRoot } from './targets.js'

export interface PublishJob {
  url: string
  /** Publisher indices [first, first + count). */
  first: number
  count: number
  topic: (publisher: number) => string
  qos: 0 | 1 | 2
  payloadBytes: number
  /** Total msg/s across these publishers; 0 = as fast as the in-flight window allows. */
  rate: number
  durationMs: number
  /** Per-publisher cap on messages awaiting their callback. */
  window: number
  /** Cap on messages per publisher (bounds every run). */
  maxPerPublisher: number
}

export interface PublishResult { sent: number, connected: number, elapsedMs: number }

export async function runPublishers (job: PublishJob): Promise<PublishResult> {
  const clients: MqttClient[] = []
  try {
    for (let i = 0; i < job.count; i++) clients.push(await client(job.url, { clientId: `bench-pub-${process.pid}-${job.first + i}` }))
    const started = Date.now()
    const perPubRate = job.rate / Math.max(1, job.count)
    let sent = 0
    await Promise.all(clients.map(async (c, i) => {
      const pub = job.first + i
      const topic = job.topic(pub)
      let seq = 0
      let inflight = 0
      await new Promise<void>((resolve) => {
        let finished = false
        const pump = (): void => {
          if (finished) return
          const elapsed = Date.now() - started
          if (elapsed >= job.durationMs || seq >= job.maxPerPublisher) {
            finished = true
            clearInterval(timer)
            const wait = setInterval(() => { if (inflight === 0 || Date.now() - started > job.durationMs + 10_000) { clearInterval(wait); resolve() } }, 20)
            return
          }
          const due = perPubRate > 0 ? Math.min(job.maxPerPublisher, Math.floor(perPubRate * elapsed / 1000) + 1) : job.maxPerPublisher
          while (seq < due && inflight < job.window) {
            inflight++
            sent++
            c.publish(topic, stampPayload(job.payloadBytes, pub, seq++), { qos: job.qos }, () => { inflight--; if (perPubRate === 0) setImmediate(pump) })
          }
        }
        const timer = setInterval(pump, 5)
        pump()
      })
    }))
    return { sent, connected: clients.length, elapsedMs: Date.now() - started }
  } finally {
    await endAll(clients)
  }
}

/** Serializable job (topics as a template with {i}). */
export interface WorkerJob extends Omit<PublishJob, 'topic'> { topicTemplate: string }

export function topicOf (template: string): (i: number) => string {
  return (i) => template.replace('{i}', String(i))
}

/** Split publishers over `workers` forked processes; 0 = run here. Resolves with the summed result; pids reported as they start. */
export async function runPublishersSpread (job: WorkerJob, workers: number, onPids: (pids: number[]) => void): Promise<PublishResult> {
  if (workers <= 0) return await runPublishers({ ...job, topic: topicOf(job.topicTemplate) })
  const script = join(packageRoot(), 'dist', 'bench', 'load-worker.js')
  const n = Math.min(workers, job.count)
  const children: ChildProcess[] = []
  const parts: Array<Promise<PublishResult>> = []
  let first = job.first
  for (let w = 0; w < n; w++) {
    const count = Math.floor(job.count / n) + (w < job.count % n ? 1 : 0)
    const child = fork(script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    children.push(child)
    const part: WorkerJob = { ...job, first, count, rate: job.rate * count / job.count }
    first += count
    parts.push(new Promise((resolve, reject) => {
      child.once('message', (m) => {
        const msg = m as { ok: boolean, result?: PublishResult, error?: string }
        if (msg.ok) resolve(msg.result!)
        else reject(new Error(`worker: ${msg.error}`))
      })
      child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)))
      child.send(part)
    }))
  }
  onPids(children.map((c) => c.pid).filter((p): p is number => p !== undefined))
  try {
    const results = await Promise.all(parts)
    return results.reduce((a, b) => ({ sent: a.sent + b.sent, connected: a.connected + b.connected, elapsedMs: Math.max(a.elapsedMs, b.elapsedMs) }))
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  }
}
