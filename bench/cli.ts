#!/usr/bin/env node
/**
 * vigil-bench: `npm run bench -- <scenario> [options]`. Starts the targets
 * (or uses a URL), runs the scenario --reps times per target (targets
 * interleaved within each repetition), prints a table, and writes JSON lines
 * and a self-contained HTML report when asked. Progress goes to stderr.
 */
import { realpathSync, writeFileSync } from 'node:fs'
import { cpus, hostname } from 'node:os'
import { parseArgs as parseNodeArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { summarize, type SummaryRow } from './aggregate.js'
import { renderConsole } from './report-console.js'
import { renderHtml } from './report-html.js'
import type { Flags, RunResult, Scenario } from './scenarios/common.js'
import { cluster } from './scenarios/cluster.js'
import { connectScenario } from './scenarios/connect.js'
import { fanin } from './scenarios/fanin.js'
import { fanout } from './scenarios/fanout.js'
import { fleet } from './scenarios/fleet.js'
import { fuzz } from './scenarios/fuzz.js'
import { retained } from './scenarios/retained.js'
import { scale } from './scenarios/scale.js'
import { sizing } from './scenarios/sizing.js'
import { storm } from './scenarios/storm.js'
import { subscribeStall } from './scenarios/subscribe-stall.js'
import { evaluate } from './self-check.js'
import { cdf, logHistogram, summarizeLatencies } from './stats.js'
import { availableTargets, startTarget } from './targets.js'

export const SCENARIOS: Record<string, Scenario<any>> = {
  fanin, fanout, connect: connectScenario, retained, fleet, sizing, storm, 'subscribe-stall': subscribeStall, fuzz,
  cluster, scale
}

export const USAGE = `Usage: vigil-bench <scenario> [options]     (npm run bench -- <scenario> [options])

Scenarios:
${Object.values(SCENARIOS).map((s) => `  ${s.name.padEnd(9)} ${s.describe}`).join('\n')}

Common options:
  --targets LIST    comma-separated: vigil, vigil-redis, vigil-inproc, vigil-uncoalesced, aedes, aedes-redis, mosquitto,
                    vigil-cluster, vigil-workers2, vigil-workers4,
                    an mqtt://host:port URL, or "all" (vigil,aedes,mosquitto if on PATH). Default: all
  --url URL         shorthand for --targets URL (a broker you started; no CPU/RSS readings)
  --reps N          repetitions per target (default 3)
  --json FILE       write JSON lines (one per run, then one per summary row)
  --html FILE       write a self-contained HTML report with SVG charts
  --workers N       spread publishers over N forked worker processes (fanin, fanout)
  --quiet           no progress on stderr

fanin:    --publishers 10 --qos 0 --payload 64 --rate 0 (msg/s total, 0 = flat out) --duration 5 --max-messages 200000
fanout:   --subscribers 50 --qos 0 --payload 64 --rate 1000 --duration 5 --max-messages 20000
          --shared 1: the subscribers are one MQTT 5 shared subscription group ($share/bench/...), each message to one
connect:  --clients 1000 --parallelism 50 --keepalive 60
retained: --messages 10000 --payload 64 --qos 1 --timeout 60
fleet:    --devices 200 --heartbeat 2 (s) --jitter 0.1 --keepalive 4 (s) --freeze 0.05 --drop 0.05 --vanish 0.05
          --graceful 0.05 --storm 0.05 --storm-reconnects 3 --parallelism 50 --warmup 6 --commands 50 --grace 3
sizing:   --fleet bench/fleets/smart-building.yaml --time-scale 1 --duration 20 --parallelism 100
storm:    --clients 3000 --rounds 3 --keepalive 30 --close-after 50 (ms) --birth 1 --settle-timeout 30 (s) --grace 1 (s)
subscribe-stall: --retained 20000 --filters 1000 --interval 20 (ms) --payload 64 --timeout 120 (s)
fuzz:     --cases 100000 --seed 14 --parallelism 32
cluster:  --publishers 10 --subscribers 4 --qos 0 --payload 64 --rate 0 --duration 5 --max-messages 100000
          (targets vigil-cluster: nodes A and B on one Redis; vigil-workers2/4: vigil --workers N)
scale:    --devices 60000 --procs 4 --parallelism 50 --keepalive 60 --heartbeat 15 (s) --silent-after 40 (s)
          --freeze 0.01 --kill 0.01 --connect-timeout 300 (s)   (meant for --targets vigil-workers4)
`

/** Options that take no value; every other option takes one. */
const BOOLEAN_OPTIONS = new Set(['quiet', 'help'])

/**
 * node:util parseArgs over every option any scenario knows (COMMON and KNOWN
 * below); which of them a scenario accepts is checked in runBench.
 */
export function parseArgs (argv: string[]): { scenario: string | null, flags: Flags } {
  const names = new Set([...COMMON, ...Object.values(KNOWN).flat()])
  const options = Object.fromEntries([...names].map((name) =>
    [name, { type: BOOLEAN_OPTIONS.has(name) ? 'boolean' as const : 'string' as const }]))
  let parsed
  try {
    parsed = parseNodeArgs({ args: argv, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new Error(`${(err as Error).message.replace(/\. To specify[^]*$/, '.')}\n${USAGE}`)
  }
  const [scenario, extra] = parsed.positionals
  if (extra !== undefined) throw new Error(`unexpected argument ${extra}`)
  return { scenario: scenario ?? null, flags: parsed.values as Flags }
}

const COMMON = new Set(['targets', 'url', 'reps', 'json', 'html', 'workers', 'quiet', 'help'])
const KNOWN: Record<string, string[]> = {
  fanin: ['publishers', 'qos', 'payload', 'rate', 'duration', 'max-messages'],
  fanout: ['subscribers', 'qos', 'payload', 'rate', 'duration', 'max-messages', 'shared'],
  connect: ['clients', 'parallelism', 'keepalive'],
  retained: ['messages', 'payload', 'qos', 'timeout'],
  fleet: ['devices', 'heartbeat', 'jitter', 'keepalive', 'freeze', 'drop', 'vanish', 'graceful', 'storm', 'storm-reconnects', 'parallelism', 'warmup', 'commands', 'grace'],
  sizing: ['fleet', 'time-scale', 'duration', 'parallelism'],
  storm: ['clients', 'rounds', 'keepalive', 'close-after', 'birth', 'settle-timeout', 'grace'],
  'subscribe-stall': ['retained', 'filters', 'interval', 'payload', 'timeout'],
  fuzz: ['cases', 'seed', 'parallelism'],
  cluster: ['publishers', 'subscribers', 'qos', 'payload', 'rate', 'duration', 'max-messages'],
  scale: ['devices', 'procs', 'parallelism', 'keepalive', 'heartbeat', 'silent-after', 'freeze', 'kill', 'connect-timeout']
}

export interface BenchOutcome { runs: RunResult[], rows: SummaryRow[], errors: string[] }

/** Runs are written without raw latency samples (a histogram and percentiles stand in). */
function jsonRun (r: RunResult): unknown {
  const { latencies, ...rest } = r
  return {
    type: 'run', ...rest,
    latency: latencies !== undefined ? { ...summarizeLatencies(latencies), histogram: logHistogram(latencies, 30) } : undefined,
    detectionCdf: r.detection !== undefined ? Object.fromEntries(Object.entries(r.detection).map(([k, v]) => [k, cdf(v, 50)])) : undefined
  }
}

export async function runBench (argv: string[], io: { out: (s: string) => void, err: (s: string) => void } = {
  out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s)
}): Promise<BenchOutcome> {
  const { scenario: name, flags } = parseArgs(argv)
  if (flags.help === true || name === null) { io.out(USAGE); return { runs: [], rows: [], errors: [] } }
  const scenario = SCENARIOS[name]
  if (scenario === undefined) throw new Error(`unknown scenario ${name}\n${USAGE}`)
  for (const k of Object.keys(flags)) {
    if (!COMMON.has(k) && !KNOWN[name]!.includes(k)) throw new Error(`unknown option --${k} for ${name}`)
  }
  const options = scenario.parse(flags)
  const reps = Number(flags.reps ?? 3)
  const workers = Number(flags.workers ?? 0)
  if (!Number.isInteger(reps) || reps < 1 || reps > 20) throw new Error('--reps must be an integer from 1 to 20')
  if (!Number.isInteger(workers) || workers < 0 || workers > 16) throw new Error('--workers must be an integer from 0 to 16')
  const rawTargets = typeof flags.url === 'string' ? flags.url : typeof flags.targets === 'string' ? flags.targets : 'all'
  const targets = rawTargets === 'all' ? availableTargets() : rawTargets.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const quiet = flags.quiet === true
  const progress = (msg: string): void => { if (!quiet) io.err(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`) }

  const runs: RunResult[] = []
  const errors: string[] = []
  const targetNotes = new Map<string, string[]>()
  for (let rep = 1; rep <= reps; rep++) {
    for (const spec of targets) {
      progress(`${name}: rep ${rep}/${reps}, target ${spec}: starting`)
      let target
      try {
        target = await startTarget(spec, { vigilConfig: scenario.vigilConfig?.(options) })
      } catch (err) {
        const msg = `${spec}: could not start: ${(err as Error).message}`
        errors.push(msg)
        progress(msg)
        continue
      }
      targetNotes.set(target.name, target.notes)
      try {
        const result = await scenario.run({ target, rep, progress, workers }, options)
        runs.push(result)
        progress(`${name}: rep ${rep}/${reps}, target ${spec}: done${result.selfCheck.flags.length > 0 ? ` (${result.selfCheck.flags.join('; ')})` : ''}`)
      } catch (err) {
        const msg = `${spec} rep ${rep}: ${(err as Error).message}`
        errors.push(msg)
        progress(`FAILED ${msg}`)
        runs.push({ scenario: name, target: target.name, rep, params: {}, metrics: {}, selfCheck: evaluate([], 0), notes: [`failed: ${(err as Error).message}`] })
      } finally {
        await target.stop().catch((err: Error) => errors.push(`${spec}: stop failed: ${err.message}`))
      }
    }
  }
  const rows = summarize(name, scenario.metrics, runs)
  io.out(renderConsole(name, rows, runs))
  if (errors.length > 0) io.out(`errors:\n${errors.map((e) => `  ${e}`).join('\n')}\n`)
  const command = `npm run bench -- ${argv.join(' ')}`
  if (typeof flags.json === 'string') {
    const lines = [...runs.map(jsonRun), ...rows.map((r) => ({ type: 'summary', ...r })), ...errors.map((e) => ({ type: 'error', message: e }))]
    writeFileSync(flags.json, lines.map((l) => JSON.stringify(l)).join('\n') + '\n')
    progress(`JSON lines written to ${flags.json}`)
  }
  if (typeof flags.html === 'string') {
    writeFileSync(flags.html, renderHtml([{ scenario: name, describe: scenario.describe, command, rows, runs, targetNotes }],
      { startedAt: new Date().toISOString(), host: hostname(), cores: cpus().length, node: process.version }))
    progress(`HTML report written to ${flags.html}`)
  }
  return { runs, rows, errors }
}

function invokedDirectly (): boolean {
  try { return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url)) } catch { return false }
}

if (invokedDirectly()) {
  process.on('SIGINT', () => process.exit(130))
  // SIGTERM too (timeout(1), CI): exiting runs the hook that kills the brokers it started.
  process.on('SIGTERM', () => process.exit(143))
  runBench(process.argv.slice(2)).then(
    (o) => { process.exit(o.errors.length > 0 ? 1 : 0) },
    (err: Error) => { process.stderr.write(`vigil-bench: ${err.message}\n`); process.exit(2) }
  )
}
