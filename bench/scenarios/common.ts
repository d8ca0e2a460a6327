/**
 * What every scenario shares: the result record, options, mqtt.js client
 * helpers and the timestamped payload used for end-to-end latency.
 */
import { performance } from 'node:perf_hooks'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { SelfCheck } from '../self-check.js'
import type { Target } from '../targets.js'

/** One metric of a scenario: how to show it and which way is better. */
export interface MetricDef { key: string, label: string, unit: string, better: 'higher' | 'lower' | 'none', digits?: number }

export interface RunResult {
  scenario: string
  target: string
  rep: number
  params: Record<string, unknown>
  metrics: Record<string, number>
  /** Raw samples for charts (ms), bounded by the scenario's count. */
  latencies?: number[]
  /** fleet: detection latency samples per fault (ms). */
  detection?: Record<string, number[]>
  /** Free-form findings (fleet's per-fault table, sizing's expectation...). */
  details?: Record<string, unknown>
  selfCheck: SelfCheck
  notes: string[]
}

export interface Context {
  target: Target
  rep: number
  /** Progress line on stderr. */
  progress(msg: string): void
  /** Forked worker processes (--workers). */
  workers: number
}

export interface Scenario<O> {
  name: string
  describe: string
  metrics: MetricDef[]
  /** Vigil config the harness-started Vigil should run with for this scenario. */
  vigilConfig?(options: O): Record<string, unknown>
  parse(flags: Flags): O
  run(ctx: Context, options: O): Promise<RunResult>
}

export type Flags = Record<string, string | boolean>

export function num (flags: Flags, key: string, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = flags[key]
  if (raw === undefined) return dflt
  const v = Number(raw)
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`--${key} must be a number from ${min} to ${max} (got ${String(raw)})`)
  return v
}

export function qosFlag (flags: Flags, dflt: 0 | 1 | 2): 0 | 1 | 2 {
  return num(flags, 'qos', dflt, 0, 2) as 0 | 1 | 2
}

/** Epoch ms with sub-ms resolution, comparable across processes on one machine. */
export function nowMs (): number {
  return performance.timeOrigin + performance.now()
}

/** Payload: [f64 send time][u32 publisher][u32 seq] then padding up to `size` (at least 16 bytes). */
export function stampPayload (size: number, publisher: number, seq: number): Buffer {
  const buf = Buffer.alloc(Math.max(16, size))
  buf.writeDoubleBE(nowMs(), 0)
  buf.writeUInt32BE(publisher, 8)
  buf.writeUInt32BE(seq, 12)
  return buf
}

export function readStamp (payload: Buffer): { sentAt: number, publisher: number, seq: number } | null {
  if (payload.length < 16) return null
  return { sentAt: payload.readDoubleBE(0), publisher: payload.readUInt32BE(8), seq: payload.readUInt32BE(12) }
}

export async function client (url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4, ...options })
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve())
    c.once('error', reject)
    c.once('close', () => reject(new Error('closed before CONNACK')))
  })
  c.on('error', () => {})
  return c
}

export async function endAll (clients: MqttClient[]): Promise<void> {
  await Promise.all(clients.map(async (c) => await new Promise<void>((resolve) => {
    try { c.end(true, {}, () => resolve()) } catch { resolve() }
  })))
}

export const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))

/** Wait until predicate() or the deadline; returns whether it held. */
export async function until (predicate: () => boolean, timeoutMs: number, pollMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() >= deadline) return false
    await sleep(pollMs)
  }
  return true
}

/** Run `tasks` with at most `parallelism` at once. */
export async function pool<T> (items: T[], parallelism: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(parallelism, items.length) }, async () => {
    while (next < items.length) { const i = next++; await fn(items[i]!, i) }
  }))
}
