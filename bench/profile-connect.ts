#!/usr/bin/env node
/**
 * Profiles a broker holding N idle clients with wills (issue 15): starts
 * Vigil (or bare Aedes) as a child with --heapsnapshot-signal and an
 * inspector port, takes a heap snapshot before the clients and one with them
 * all connected and idle, and prints RSS and the JS heap per connection.
 * With --cpu-prof, a CPU profile (over the inspector) of the connect phase
 * alone, or, with --run CMD, of that command instead (`{url}` in it is the
 * broker's URL), e.g. a fan-in run against the profiled broker.
 *
 *   node dist/bench/profile-connect.js --target vigil|aedes --clients 10000 --parallelism 50 --out DIR [--cpu-prof] [--no-heap]
 *   node dist/bench/profile-connect.js --target vigil --out DIR --cpu-prof --no-heap \
 *     --run 'node dist/bench/cli.js fanin --url {url} --reps 1 --publishers 10 --duration 3'
 *
 * Then: node dist/bench/heap-breakdown.js DIR/before.heapsnapshot DIR/after.heapsnapshot 10000
 *  and: node dist/bench/cpu-breakdown.js DIR/connect.cpuprofile [--functions]
 */
import { execSync, spawn } from 'node:child_process'
import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { ConnectLoadProcess } from './connect-load-process.js'
import { splitLoad } from './scenarios/connect.js'
import { readProc } from './proc-stats.js'
import { freePort } from './targets.js'

const { values } = parseArgs({ options: { target: { type: 'string', default: 'vigil' }, clients: { type: 'string', default: '10000' }, parallelism: { type: 'string', default: '50' }, out: { type: 'string', default: '/tmp/vigil-profile' }, 'cpu-prof': { type: 'boolean', default: false }, 'no-heap': { type: 'boolean', default: false }, run: { type: 'string' } } })
const clients = Number(values.clients)
const out = values.out!
mkdirSync(out, { recursive: true })
const port = await freePort()
const dist = fileURLToPath(new URL('..', import.meta.url))
const inspectPort = await freePort()
const flags = ['--heapsnapshot-signal=SIGUSR2', `--inspect=127.0.0.1:${inspectPort}`]
let args: string[]
let env: NodeJS.ProcessEnv = { ...process.env }
if (values.target === 'aedes') {
  args = [...flags, join(dist, 'bench', 'aedes-main.js')]
  env = { ...env, BENCH_PORT: String(port) }
} else {
  const cfg = join(out, 'vigil.json')
  writeFileSync(cfg, JSON.stringify({ node: { id: 'profile' }, mqtt: { host: '127.0.0.1', port, ws: null }, http: null, log: { level: 'warn' } }))
  args = [...flags, join(dist, 'broker', 'main.js'), '--config', cfg]
}
const child = spawn(process.execPath, args, { cwd: out, env, stdio: ['ignore', 'ignore', 'inherit'] })
const rssOf = (pid: number): number | null => readProc(pid)?.rssBytes ?? null
const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))
await sleep(2500)

async function snapshot (name: string): Promise<void> {
  const known = new Set(readdirSync(out))
  child.kill('SIGUSR2')
  for (;;) {
    await sleep(500)
    const fresh = readdirSync(out).find((f) => f.endsWith('.heapsnapshot') && !known.has(f))
    if (fresh === undefined) continue
    const size = statSync(join(out, fresh)).size
    await sleep(1000)
    if (statSync(join(out, fresh)).size !== size) continue
    renameSync(join(out, fresh), join(out, `${name}.heapsnapshot`))
    return
  }
}

/** The inspector's Profiler domain: start now, stop() returns the profile. */
async function profiler (): Promise<{ stop(): Promise<unknown> }> {
  const list = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json() as Array<{ webSocketDebuggerUrl: string }>
  const ws = new WebSocket(list[0]!.webSocketDebuggerUrl)
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  let id = 0
  const call = async (method: string, params: Record<string, unknown> = {}): Promise<any> => await new Promise((resolve) => {
    const mine = ++id
    const onMessage = (data: Buffer): void => {
      const m = JSON.parse(data.toString()) as { id?: number, result?: unknown }
      if (m.id === mine) { ws.off('message', onMessage); resolve(m.result) }
    }
    ws.on('message', onMessage)
    ws.send(JSON.stringify({ id: mine, method, params }))
  })
  await call('Profiler.enable')
  await call('Profiler.setSamplingInterval', { interval: 200 })
  await call('Profiler.start')
  return { stop: async () => { const r = await call('Profiler.stop'); ws.close(); return r.profile } }
}

const heap = values['no-heap'] !== true
const cpu = values['cpu-prof'] === true
if (values.run !== undefined) {
  const prof = await profiler()
  const t0 = Date.now()
  execSync(values.run.replaceAll('{url}', `mqtt://127.0.0.1:${port}`), { stdio: 'inherit' })
  writeFileSync(join(out, 'run.cpuprofile'), JSON.stringify(await prof.stop()))
  process.stdout.write(`profiled \`${values.run}\` for ${Date.now() - t0} ms: ${join(out, 'run.cpuprofile')}\n`)
  child.kill('SIGINT')
  await new Promise((r) => child.once('exit', r))
  process.exit(0)
}

if (heap) await snapshot('before')
await sleep(500)
const rssBefore = rssOf(child.pid!)
const shares = splitLoad(clients, Number(values.parallelism))
const loads = shares.map(() => new ConnectLoadProcess())
const prof = cpu ? await profiler() : null
const t0 = Date.now()
const replies = await Promise.all(loads.map(async (l, i) => await l.request({ type: 'connect', host: '127.0.0.1', port, prefix: 'prof', keepalive: 600, ...shares[i]! })))
const ms = Date.now() - t0
if (prof !== null) writeFileSync(join(out, 'connect.cpuprofile'), JSON.stringify(await prof.stop()))
const connected = replies.reduce((s, r) => s + (r.type === 'connected' ? r.latencies.length : 0), 0)
await sleep(3000)
const rssAfter = rssOf(child.pid!)
if (heap) await snapshot('after')
process.stdout.write(`${values.target}: ${connected}/${clients} connected in ${ms} ms (${(connected / ms * 1000).toFixed(0)}/s); ` +
  `RSS ${((rssBefore ?? 0) / 2 ** 20).toFixed(1)} -> ${((rssAfter ?? 0) / 2 ** 20).toFixed(1)} MiB, ` +
  `${(((rssAfter ?? 0) - (rssBefore ?? 0)) / connected / 1024).toFixed(1)} KiB per connection\n`)
// Shut the broker down with every client still connected (its shutdown wills included), timed.
const s0 = Date.now()
child.kill('SIGINT')
await new Promise((r) => child.once('exit', r))
process.stdout.write(`${values.target}: shutdown with ${connected} clients connected took ${Date.now() - s0} ms\n`)
await Promise.all(loads.map(async (l) => await l.request({ type: 'close' })))
for (const l of loads) l.stop()
