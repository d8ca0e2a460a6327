/**
 * The harness checks itself: per window it records its own CPU and event-loop
 * utilisation, the broker's CPU and RSS, and the machine's load, then flags a
 * result where the harness or the machine, not the broker, was the bottleneck.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks'
import { readMachine, readProc, type MachineSample, type ProcSample } from './proc-stats.js'

export interface Window {
  /** ms since the monitor started */
  t: number
  harnessCpu: number       // fraction of one core, main process
  harnessElu: number       // event-loop utilisation, 0..1
  workersCpu: number       // fraction of one core, all worker processes together
  brokerCpu: number | null // fraction of one core, broker process(es)
  brokerRss: number | null // bytes
  machineBusy: number | null // 0..1 over all cores
}

export interface SelfCheck {
  windows: Window[]
  harnessCpuMax: number
  harnessEluMax: number
  brokerCpuMean: number | null
  brokerCpuMax: number | null
  brokerRssMax: number | null
  machineBusyMax: number | null
  cores: number
  flags: string[]
}

/** Thresholds: ELU above this means the harness could not keep up with its own timers and sockets. */
export const HARNESS_ELU_LIMIT = 0.9
export const MACHINE_BUSY_LIMIT = 0.95
export const BROKER_CORE_LIMIT = 0.95

export interface MonitorOptions { brokerPids: () => number[], workerPids?: () => number[], windowMs?: number }

export class Monitor {
  private readonly windows: Window[] = []
  private timer: NodeJS.Timeout | null = null
  private readonly start = performance.now()
  private lastWall = performance.now()
  private lastCpu = process.cpuUsage()
  private lastElu: EventLoopUtilization = performance.eventLoopUtilization()
  private lastBroker = new Map<number, ProcSample>()
  private lastWorkers = new Map<number, ProcSample>()
  private lastMachine: MachineSample | null = readMachine()
  private rssPeak: number | null = null

  constructor (private readonly options: MonitorOptions) {
    for (const pid of options.brokerPids()) { const s = readProc(pid); if (s !== null) this.lastBroker.set(pid, s) }
    for (const pid of options.workerPids?.() ?? []) { const s = readProc(pid); if (s !== null) this.lastWorkers.set(pid, s) }
  }

  begin (): this {
    this.timer = setInterval(() => this.sample(), this.options.windowMs ?? 1000)
    this.timer.unref()
    return this
  }

  /** Broker RSS now (bytes), summed over its processes. */
  brokerRss (): number | null {
    let sum: number | null = null
    for (const pid of this.options.brokerPids()) {
      const s = readProc(pid)
      if (s !== null) sum = (sum ?? 0) + s.rssBytes
    }
    return sum
  }

  brokerCpuMs (): number | null {
    let sum: number | null = null
    for (const pid of this.options.brokerPids()) {
      const s = readProc(pid)
      if (s !== null) sum = (sum ?? 0) + s.cpuMs
    }
    return sum
  }

  private diffProcs (pids: number[], last: Map<number, ProcSample>, wallMs: number): { cpu: number | null, rss: number | null } {
    let cpu: number | null = null
    let rss: number | null = null
    for (const pid of pids) {
      const s = readProc(pid)
      if (s === null) continue
      const before = last.get(pid)
      if (before !== undefined) cpu = (cpu ?? 0) + (s.cpuMs - before.cpuMs) / wallMs
      rss = (rss ?? 0) + s.rssBytes
      last.set(pid, s)
    }
    return { cpu, rss }
  }

  sample (): void {
    const now = performance.now()
    const wallMs = now - this.lastWall
    if (wallMs < 50) return
    const cpu = process.cpuUsage(this.lastCpu)
    const elu = performance.eventLoopUtilization(this.lastElu)
    const broker = this.diffProcs(this.options.brokerPids(), this.lastBroker, wallMs)
    const workers = this.diffProcs(this.options.workerPids?.() ?? [], this.lastWorkers, wallMs)
    const machine = readMachine()
    let machineBusy: number | null = null
    if (machine !== null && this.lastMachine !== null && machine.total > this.lastMachine.total) {
      machineBusy = (machine.busy - this.lastMachine.busy) / (machine.total - this.lastMachine.total)
    }
    if (broker.rss !== null) this.rssPeak = Math.max(this.rssPeak ?? 0, broker.rss)
    this.windows.push({
      t: Math.round(now - this.start),
      harnessCpu: (cpu.user + cpu.system) / 1000 / wallMs,
      harnessElu: elu.utilization,
      workersCpu: workers.cpu ?? 0,
      brokerCpu: broker.cpu,
      brokerRss: broker.rss,
      machineBusy
    })
    this.lastWall = now
    this.lastCpu = process.cpuUsage()
    this.lastElu = performance.eventLoopUtilization()
    this.lastMachine = machine
  }

  private result: SelfCheck | null = null

  /** Stop sampling and judge the run (idempotent). */
  finish (): SelfCheck {
    if (this.result !== null) return this.result
    if (this.timer !== null) clearInterval(this.timer)
    this.sample()
    this.result = evaluate(this.windows, readMachine()?.cores ?? 0, this.rssPeak)
    return this.result
  }
}

/** Pure: windows in, verdict out (unit-tested). */
export function evaluate (windows: readonly Window[], cores: number, rssPeak: number | null = null): SelfCheck {
  const max = (xs: number[]): number => xs.length === 0 ? 0 : Math.max(...xs)
  const brokerCpus = windows.map((w) => w.brokerCpu).filter((v): v is number => v !== null)
  const machine = windows.map((w) => w.machineBusy).filter((v): v is number => v !== null)
  const flags: string[] = []
  const eluMax = max(windows.map((w) => w.harnessElu))
  const saturatedWindows = windows.filter((w) => w.harnessElu > HARNESS_ELU_LIMIT).length
  if (saturatedWindows > 0) flags.push(`HARNESS-SATURATED (event loop > ${HARNESS_ELU_LIMIT * 100}% in ${saturatedWindows}/${windows.length} windows)`)
  const busyWindows = machine.filter((b) => b > MACHINE_BUSY_LIMIT).length
  if (busyWindows > 0) flags.push(`MACHINE-SATURATED (all ${cores} cores > ${MACHINE_BUSY_LIMIT * 100}% busy in ${busyWindows}/${machine.length} windows)`)
  const brokerBound = brokerCpus.filter((c) => c > BROKER_CORE_LIMIT).length
  if (brokerBound > 0) flags.push(`broker-bound (broker at one full core in ${brokerBound} windows: the figure is the broker's limit)`)
  const rssMax = rssPeak ?? (windows.some((w) => w.brokerRss !== null) ? max(windows.map((w) => w.brokerRss ?? 0)) : null)
  return {
    windows: [...windows],
    harnessCpuMax: max(windows.map((w) => w.harnessCpu + w.workersCpu)),
    harnessEluMax: eluMax,
    brokerCpuMean: brokerCpus.length === 0 ? null : brokerCpus.reduce((a, b) => a + b, 0) / brokerCpus.length,
    brokerCpuMax: brokerCpus.length === 0 ? null : max(brokerCpus),
    brokerRssMax: rssMax,
    machineBusyMax: machine.length === 0 ? null : max(machine),
    cores,
    flags
  }
}
