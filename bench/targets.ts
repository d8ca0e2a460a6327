/**
 * The brokers under test. A target is either a URL the user points at, or one
 * the harness starts itself on free loopback ports and always stops: Vigil (a
 * child process running dist/broker/main.js, so the harness's CPU is not the
 * broker's; or in-process for tests), Vigil on a private redis-server, bare
 * Aedes with the same persistence, and Mosquitto when it is on PATH.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const TARGET_KINDS = ['vigil', 'vigil-redis', 'vigil-inproc', 'vigil-uncoalesced', 'aedes', 'aedes-redis', 'mosquitto', 'vigil-cluster', 'vigil-workers2', 'vigil-workers4'] as const
export type TargetKind = typeof TARGET_KINDS[number] | 'url'

export interface Target {
  /** Name in tables and JSON: the kind, or the URL. */
  readonly name: string
  readonly kind: TargetKind
  readonly url: string
  /** Every node's URL when the target is several nodes (vigil-cluster): node A first. */
  readonly urls?: string[]
  /** Each broker process by name (node, worker, redis), for per-process CPU and RSS. */
  processes?(): Array<{ name: string, pid: number }>
  /** Whether the broker publishes `$liveness/<clientId>` (Vigil does). */
  readonly liveness: boolean
  /** Whether it stamps will `ts` (Vigil's wills plugin). */
  readonly stampsWills: boolean
  /** Processes whose CPU and RSS count as the broker's (redis-server included in Redis mode). */
  pids(): number[]
  /** Notes for the report (e.g. Mosquitto's queue setting). */
  readonly notes: string[]
  stop(): Promise<void>
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

export function onPath (cmd: string): boolean {
  return spawnSync(cmd, ['--help'], { stdio: 'ignore' }).error === undefined
}

/** The package root (works from bench/*.ts under a TS loader and from dist/bench/*.js). */
export function packageRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url))
    dir = up
  }
  return dir
}

async function waitForPort (port: number, child: ChildProcess | null, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exited: string | null = null
  child?.once('exit', (code, signal) => { exited = `${what} exited (${code ?? signal}) before listening` })
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(exited)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`)
}

/** Every child is tracked so an interrupted run still kills them. */
const children = new Set<ChildProcess>()
let exitHookInstalled = false
function track (child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => { for (const c of children) c.kill('SIGKILL') })
  }
  return child
}

async function stopChild (child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL') }, graceMs)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    child.kill('SIGTERM')
  })
}

/** The child's environment without VIGIL_* (Vigil refuses unknown VIGIL_ variables, and the user's must not leak in). */
function cleanEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VIGIL_')) env[k] = v
  return { ...env, ...extra }
}

function spawnLogged (cmd: string, args: string[], env: NodeJS.ProcessEnv, what: string): ChildProcess {
  const child = track(spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] }))
  let tail = ''
  child.stderr?.on('data', (d: Buffer) => { tail = (tail + d.toString()).slice(-2000) })
  child.once('exit', (code, signal) => {
    if (code !== 0 && code !== null && signal === null) process.stderr.write(`bench: ${what} exited with ${code}: ${tail}\n`)
  })
  return child
}

async function startRedis (): Promise<{ url: string, child: ChildProcess }> {
  if (!onPath('redis-server')) throw new Error('redis-server is not on PATH (needed for the *-redis targets)')
  const port = await freePort()
  const child = spawnLogged('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--loglevel', 'warning'], process.env, 'redis-server')
  await waitForPort(port, child, 'redis-server')
  return { url: `redis://127.0.0.1:${port}`, child }
}

export interface StartOptions {
  /** Vigil config overrides (e.g. liveness/wills settings for fleet). */
  vigilConfig?: Record<string, unknown>
}

async function startVigilChild (redisUrl: string | null, options: StartOptions, mqttExtra: Record<string, unknown> = {}, nodeId = `bench-${process.pid}`, args: string[] = []): Promise<{ url: string, child: ChildProcess, dir: string }> {
  const root = packageRoot()
  const main = join(root, 'dist', 'broker', 'main.js')
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first`)
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'))
  const config = {
    node: { id: nodeId },
    mqtt: { host: '127.0.0.1', port, ws: null, ...mqttExtra },
    http: null,
    persistence: { redis: redisUrl },
    log: { level: 'warn' },
    ...options.vigilConfig
  }
  writeFileSync(join(dir, 'vigil.json'), JSON.stringify(config, null, 2))
  const child = spawnLogged(process.execPath, [main, '--config', join(dir, 'vigil.json'), ...args], cleanEnv(), 'vigil')
  // A primary forks its workers before any listens: on a loaded 2-core machine that took over 15 s.
  await waitForPort(port, child, 'vigil', args.includes('--workers') ? 60_000 : 15_000)
  return { url: `mqtt://127.0.0.1:${port}`, child, dir }
}

export async function startTarget (spec: string, options: StartOptions = {}): Promise<Target> {
  if (/^(mqtt|tcp):\/\//.test(spec)) {
    return { name: spec, kind: 'url', url: spec, liveness: true, stampsWills: true, pids: () => [], notes: ['external broker: no CPU/RSS readings'], stop: async () => {} }
  }
  switch (spec) {
    case 'vigil':
    case 'vigil-uncoalesced':
    case 'vigil-redis': {
      const redis = spec === 'vigil-redis' ? await startRedis() : null
      try {
        // vigil-uncoalesced: the same Vigil writing one packet per write (the write coalescing's baseline, issue 15).
        const v = await startVigilChild(redis?.url ?? null, options, spec === 'vigil-uncoalesced' ? { coalesceWrites: false } : {})
        const notes = ['Vigil child process (dist/broker/main.js), all default plugins, wills.tsUnit as configured by the scenario']
        if (redis !== null) notes.push('private redis-server; its CPU and RSS are added to the broker\'s')
        return {
          name: spec, kind: spec, url: v.url, liveness: true, stampsWills: true, notes,
          pids: () => [v.child.pid, redis?.child.pid].filter((p): p is number => p !== undefined),
          stop: async () => {
            await stopChild(v.child, 9000)
            if (redis !== null) await stopChild(redis.child)
            rmSync(v.dir, { recursive: true, force: true })
          }
        }
      } catch (err) {
        if (redis !== null) await stopChild(redis.child)
        throw err
      }
    }
    case 'vigil-inproc': {
      // Imported lazily: the other targets must not pay for loading the broker.
      const { createVigil } = await import('../broker/server.js')
      const { parseConfig } = await import('../config/load.js')
      const vigil = createVigil(parseConfig({
        node: { id: `bench-inproc-${process.pid}` },
        mqtt: { host: '127.0.0.1', port: 0, ws: null },
        http: null,
        log: { level: 'silent' },
        ...options.vigilConfig
      } as never))
      await vigil.start()
      return {
        name: spec, kind: spec, url: `mqtt://127.0.0.1:${vigil.ports.mqtt}`, liveness: true, stampsWills: true,
        notes: ['in-process Vigil: broker and harness share one CPU'], pids: () => [process.pid],
        stop: async () => { await vigil.close() }
      }
    }
    case 'aedes':
    case 'aedes-redis': {
      const redis = spec === 'aedes-redis' ? await startRedis() : null
      const script = join(packageRoot(), 'dist', 'bench', 'aedes-main.js')
      if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`)
      const port = await freePort()
      const child = spawnLogged(process.execPath, [script], cleanEnv({ BENCH_PORT: String(port), BENCH_REDIS: redis?.url ?? '' }), 'aedes')
      try {
        await waitForPort(port, child, 'aedes')
      } catch (err) {
        child.kill('SIGKILL')
        if (redis !== null) await stopChild(redis.child)
        throw err
      }
      return {
        name: spec, kind: spec, url: `mqtt://127.0.0.1:${port}`, liveness: false, stampsWills: false,
        notes: ['bare Aedes.createBroker() with Vigil\'s persistence and emitter, no plugins'],
        pids: () => [child.pid, redis?.child.pid].filter((p): p is number => p !== undefined),
        stop: async () => {
          await stopChild(child)
          if (redis !== null) await stopChild(redis.child)
        }
      }
    }
    case 'mosquitto': {
      if (!onPath('mosquitto')) throw new Error('mosquitto is not on PATH')
      const port = await freePort()
      const dir = mkdtempSync(join(tmpdir(), 'mosquitto-bench-'))
      // max_queued_messages 0 = unbounded: the default (1000) drops QoS 1/2 messages
      // queued for a slow subscriber, which would make loss figures unfair to Aedes.
      writeFileSync(join(dir, 'mosquitto.conf'), [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'max_queued_messages 0',
        'max_inflight_messages 0',
        'log_dest stderr',
        'log_type error',
        ''
      ].join('\n'))
      const child = spawnLogged('mosquitto', ['-c', join(dir, 'mosquitto.conf')], process.env, 'mosquitto')
      try {
        await waitForPort(port, child, 'mosquitto')
      } catch (err) {
        child.kill('SIGKILL')
        throw err
      }
      return {
        name: spec, kind: spec, url: `mqtt://127.0.0.1:${port}`, liveness: false, stampsWills: false,
        notes: ['mosquitto with a generated config: max_queued_messages 0 and max_inflight_messages 0 (unbounded), persistence off'],
        pids: () => child.pid !== undefined ? [child.pid] : [],
        stop: async () => { await stopChild(child); rmSync(dir, { recursive: true, force: true }) }
      }
    }
    case 'vigil-cluster':
    case 'vigil-workers2':
    case 'vigil-workers4':
      return await startVigilCluster(spec, options)
    default:
      throw new Error(`unknown target ${spec} (one of ${TARGET_KINDS.join(', ')}, or an mqtt:// URL)`)
  }
}

/** Targets named "all": what this machine can run. */
export function availableTargets (): string[] {
  const out = ['vigil', 'aedes']
  if (onPath('mosquitto')) out.push('mosquitto')
  return out
}

/** The children of a process (a primary's workers), from /proc; empty elsewhere. */
export function childPids (pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/**
 * Several Vigil nodes on one private redis-server: `vigil-cluster` is two
 * processes (nodes A and B, each its own port); `vigil-workersN` is one
 * `vigil --workers N` (N processes sharing one port). Redis counts as the broker's.
 */
async function startVigilCluster (spec: 'vigil-cluster' | 'vigil-workers2' | 'vigil-workers4', options: StartOptions): Promise<Target> {
  const redis = await startRedis()
  const nodes: Array<{ url: string, child: ChildProcess, dir: string }> = []
  try {
    if (spec === 'vigil-cluster') {
      for (const name of ['a', 'b']) nodes.push(await startVigilChild(redis.url, options, {}, `bench-${process.pid}-${name}`))
    } else {
      const n = spec === 'vigil-workers2' ? 2 : 4
      nodes.push(await startVigilChild(redis.url, options, {}, `bench-${process.pid}`, ['--workers', String(n)]))
      // The port answers once the first worker listens: wait for all of them.
      const deadline = Date.now() + 20_000
      while (childPids(nodes[0]!.child.pid!).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
      await new Promise((r) => setTimeout(r, 1000))
    }
  } catch (err) {
    for (const node of nodes) await stopChild(node.child, 9000)
    await stopChild(redis.child)
    throw err
  }
  const processes = (): Array<{ name: string, pid: number }> => {
    const out: Array<{ name: string, pid: number }> = []
    if (spec === 'vigil-cluster') nodes.forEach((n, i) => { if (n.child.pid !== undefined) out.push({ name: `node ${'AB'[i]}`, pid: n.child.pid }) })
    else {
      const primary = nodes[0]!.child.pid
      if (primary !== undefined) {
        out.push({ name: 'primary', pid: primary })
        childPids(primary).forEach((pid, i) => out.push({ name: `worker ${i + 1}`, pid }))
      }
    }
    if (redis.child.pid !== undefined) out.push({ name: 'redis', pid: redis.child.pid })
    return out
  }
  return {
    name: spec, kind: spec, url: nodes[0]!.url, urls: nodes.map((n) => n.url), liveness: true, stampsWills: true,
    notes: [spec === 'vigil-cluster'
      ? 'two Vigil processes (nodes A and B) on one private redis-server; CPU and RSS are the sum of both and Redis'
      : `vigil --workers ${spec.slice(-1)} on one private redis-server; CPU and RSS are the sum of primary, workers and Redis`],
    pids: () => processes().map((p) => p.pid),
    processes,
    stop: async () => {
      for (const node of nodes) await stopChild(node.child, 12_000)
      await stopChild(redis.child)
      for (const node of nodes) rmSync(node.dir, { recursive: true, force: true })
    }
  }
}
