/**
 * Benchmark (not a test): what auth and the ACL cost (issue 14), as same-run ratios.
 *
 * 1. ACL per PUBLISH: QoS 0 fan-in through a real broker (load forked, as in
 *    liveness-overhead.ts: bench/fanin-load.ts), the auth plugin with a
 *    100-line ACL file ("on") against the auth plugin with no ACL ("off"),
 *    alternating pairs. Every publisher's PUBLISH passes the ACL write check;
 *    the subscriber's filter is fully covered, so deliveries need no check.
 * 2. Auth per CONNECT: N CONNECT/CONNACK/DISCONNECT round trips over real
 *    sockets, P in parallel, with a mosquitto_passwd-style file (PBKDF2-SHA512,
 *    101 iterations, one user per client: every CONNECT verifies a hash) and
 *    again with the cache warm, against anonymous CONNECTs.
 * 3. The ACL check alone, ns per call (cached topic and a changing topic).
 *
 *   npx tsc -p tsconfig.json && node --expose-gc dist/bench/security-overhead.js [messages] [pairs] [connects]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqttPacket from 'mqtt-packet'
import { createVigil } from '../broker/server.js'
import { parseConfig } from '../config/load.js'
import type { VigilConfigInput } from '../config/schema.js'
import { parseAclFile } from '../plugins/auth/acl-file.js'
import { compileClientAcl } from '../plugins/auth/acl.js'
import { authPlugin } from '../plugins/auth/index.js'
import { hashPassword } from '../plugins/auth/password-file.js'
import { FaninLoadProcess } from './fanin-load-process.js'

const MESSAGES = Number(process.argv[2] ?? 200_000)
const PAIRS = Number(process.argv[3] ?? 7)
const CONNECTS = Number(process.argv[4] ?? 2000)
const PARALLEL = 20
const gc = (globalThis as { gc?: () => void }).gc

/** 100 lines: 10 anonymous (the fan-in's own grant last), 10 patterns, 80 under 20 users. */
export function hundredLineAcl (): string {
  const lines: string[] = []
  for (let i = 0; i < 6; i++) lines.push(`topic read site/${i}/#`)
  for (let i = 0; i < 3; i++) lines.push(`topic deny devices/+/secret${i}/#`)
  lines.push('topic readwrite devices/+/telemetry')
  for (let i = 0; i < 10; i++) lines.push(`pattern readwrite p${i}/%c/#`)
  for (let u = 0; u < 20; u++) {
    lines.push(`user user-${u}`)
    for (let r = 0; r < 3; r++) lines.push(`topic readwrite users/${u}/${r}/#`)
  }
  if (lines.length !== 100) throw new Error(`ACL has ${lines.length} lines`)
  return lines.join('\n') + '\n'
}

let run = 0
const startVigil = async (auth: VigilConfigInput['auth']): Promise<ReturnType<typeof createVigil>> => {
  const vigil = createVigil(parseConfig({ node: { id: `bench-${process.pid}-${++run}` }, mqtt: { port: 0, ws: null }, http: null, log: { level: 'silent' }, auth }),
    { plugins: [authPlugin] })
  await vigil.start()
  return vigil
}

async function fanin (load: FaninLoadProcess, auth: VigilConfigInput['auth']): Promise<{ rate: number, cpuUs: number }> {
  const vigil = await startVigil(auth)
  try {
    const ready = await load.request({ type: 'setup', port: vigil.ports.mqtt, messages: MESSAGES, publishers: 10 })
    const messages = (ready as { messages: number }).messages
    gc?.()
    const started = process.hrtime.bigint()
    const cpu0 = process.cpuUsage()
    await load.request({ type: 'go' })
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const cpu = process.cpuUsage(cpu0)
    await load.request({ type: 'close' })
    return { rate: messages / seconds, cpuUs: (cpu.user + cpu.system) / messages }
  } finally {
    await vigil.close()
  }
}

/** CONNECTs per second and process CPU (hashing threads included, client side too) per CONNECT, in us. */
async function connects (port: number, count: number, credentials: (i: number) => { username?: string, password?: Buffer }): Promise<{ rate: number, cpuUs: number }> {
  let next = 0
  const one = async (i: number): Promise<void> => {
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    const code = await new Promise<number>((resolve, reject) => {
      socket.once('data', (data: Buffer) => resolve(data[3] ?? -1))
      socket.once('close', () => reject(new Error('closed before CONNACK')))
      socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `c-${i}`, keepalive: 60, ...credentials(i) }))
    })
    socket.destroy()
    if (code !== 0) throw new Error(`CONNACK ${code}`)
  }
  const started = process.hrtime.bigint()
  const cpu0 = process.cpuUsage()
  await Promise.all(Array.from({ length: PARALLEL }, async () => { while (next < count) await one(next++) }))
  const cpu = process.cpuUsage(cpu0)
  return { rate: count / (Number(process.hrtime.bigint() - started) / 1e9), cpuUs: (cpu.user + cpu.system) / count }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const spread = (values: number[], digits: number): string => {
  const s = [...values].sort((a, b) => a - b)
  return `median ${median(values).toFixed(digits)} (min ${s[0]!.toFixed(digits)}, max ${s.at(-1)!.toFixed(digits)})`
}

const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-auth-'))
try {
  const aclFile = join(dir, 'acl')
  writeFileSync(aclFile, hundredLineAcl())
  const passwordFile = join(dir, 'passwd')
  const lines: string[] = []
  for (let i = 0; i < CONNECTS; i++) lines.push(`c-${i}:${await hashPassword(Buffer.from(`pw-${i}`))}`)
  writeFileSync(passwordFile, lines.join('\n') + '\n')

  // 1. ACL per PUBLISH
  const load = new FaninLoadProcess()
  const on: Array<{ rate: number, cpuUs: number }> = []
  const off: typeof on = []
  try {
    await fanin(load, {})
    await fanin(load, { aclFile, allowAnonymous: true })
    for (let i = 0; i < PAIRS; i++) {
      if (i % 2 === 0) { off.push(await fanin(load, {})); on.push(await fanin(load, { aclFile, allowAnonymous: true })) } else { on.push(await fanin(load, { aclFile, allowAnonymous: true })); off.push(await fanin(load, {})) }
    }
  } finally {
    load.stop()
  }
  const rateRatio = on.map((r, i) => r.rate / off[i]!.rate)
  const cpuRatio = on.map((r, i) => r.cpuUs / off[i]!.cpuUs)
  console.log(`ACL per PUBLISH: QoS 0 fan-in, 10 publishers -> 1 subscriber, ~${MESSAGES} msgs/run, ${PAIRS} pairs, 100-line ACL vs no ACL (node ${process.version})`)
  console.log(`  throughput no ACL:  ${spread(off.map((r) => r.rate), 0)} msg/s`)
  console.log(`  throughput ACL:     ${spread(on.map((r) => r.rate), 0)} msg/s`)
  console.log(`  throughput ACL/none per pair: ${spread(rateRatio, 3)}`)
  console.log(`  broker CPU/msg ACL/none per pair: ${spread(cpuRatio, 3)}`)

  // 2. Auth per CONNECT, the three kinds interleaved in every repetition
  const anon: Array<{ rate: number, cpuUs: number }> = []
  const cold: typeof anon = []
  const warm: typeof anon = []
  const creds = (i: number): { username: string, password: Buffer } => ({ username: `c-${i}`, password: Buffer.from(`pw-${i}`) })
  for (let rep = 0; rep < 5; rep++) {
    const open = await startVigil({})
    anon.push(await connects(open.ports.mqtt, CONNECTS, () => ({})))
    await open.close()
    const auth = await startVigil({ passwordFile, failureBan: null })
    cold.push(await connects(auth.ports.mqtt, CONNECTS, creds))
    warm.push(await connects(auth.ports.mqtt, CONNECTS, creds))
    await auth.close()
  }
  const ratio = (a: typeof anon, b: typeof anon, key: 'rate' | 'cpuUs'): number[] => a.map((r, i) => r[key] / b[i]![key])
  console.log(`Auth per CONNECT: ${CONNECTS} CONNECT/CONNACK round trips, ${PARALLEL} in parallel, 5 interleaved reps, client in this process`)
  console.log(`  anonymous:                  ${spread(anon.map((r) => r.rate), 0)} CONNECT/s, ${spread(anon.map((r) => r.cpuUs), 0)} us CPU/CONNECT`)
  console.log(`  password, hash each (cold): ${spread(cold.map((r) => r.rate), 0)} CONNECT/s, ${spread(cold.map((r) => r.cpuUs), 0)} us CPU/CONNECT`)
  console.log(`  password, cached (warm):    ${spread(warm.map((r) => r.rate), 0)} CONNECT/s, ${spread(warm.map((r) => r.cpuUs), 0)} us CPU/CONNECT`)
  console.log(`  CPU per CONNECT cold/anonymous per rep: ${spread(ratio(cold, anon, 'cpuUs'), 3)}; warm/anonymous: ${spread(ratio(warm, anon, 'cpuUs'), 3)}`)
  console.log(`  CONNECT/s cold/anonymous per rep: ${spread(ratio(cold, anon, 'rate'), 3)}; warm/anonymous: ${spread(ratio(warm, anon, 'rate'), 3)}`)

  // 3. The hook path alone: the composed authorizePublish + authorizeForward Aedes calls for one
  // PUBLISH delivered to one subscriber, called directly on a real connected client, ACL vs none.
  const hookNs = async (auth: VigilConfigInput['auth']): Promise<number> => {
    const vigil = await startVigil(auth)
    try {
      const socket = connect(vigil.ports.mqtt, '127.0.0.1')
      await new Promise<void>((resolve) => socket.once('connect', resolve))
      const acked = new Promise<void>((resolve) => socket.once('data', () => resolve()))
      socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'bench-pub-001', keepalive: 60 }))
      await acked
      const broker = vigil.broker as unknown as { clients: Record<string, unknown>, authorizePublish(c: unknown, p: unknown, cb: (e?: Error | null) => void): void, authorizeForward(c: unknown, p: unknown): unknown }
      const client = broker.clients['bench-pub-001']
      const packet = { cmd: 'publish', topic: 'devices/pub-001/telemetry', payload: Buffer.from('{"t":21.5}'), qos: 0, retain: false, dup: false }
      let refused = 0
      const done = (err?: Error | null): void => { if (err) refused++ }
      const calls = 2_000_000
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < calls; i++) { broker.authorizePublish(client, packet, done); if (broker.authorizeForward(client, packet) === null) refused++ }
      const ns = Number(process.hrtime.bigint() - t0) / calls
      socket.destroy()
      if (refused > 0) throw new Error('the hook path refused the fan-in publish')
      return ns
    } finally {
      await vigil.close()
    }
  }
  const hooksOff: number[] = []
  const hooksOn: number[] = []
  for (let i = 0; i < 5; i++) { hooksOff.push(await hookNs({})); hooksOn.push(await hookNs({ aclFile, allowAnonymous: true })) }
  console.log(`Hook path per message (authorizePublish + authorizeForward, 2,000,000 calls, 5 reps): no ACL ${spread(hooksOff, 1)} ns, ` +
    `100-line ACL ${spread(hooksOn, 1)} ns; added ${(median(hooksOn) - median(hooksOff)).toFixed(1)} ns per message`)

  // 4. The check alone
  const acl = compileClientAcl(parseAclFile(hundredLineAcl()), { clientId: 'bench-pub-001', username: undefined },
    { alwaysReadable: ['$liveness/#'], alwaysWritable: ['devices/bench-pub-001/commands/ack'] })
  const topics = ['devices/pub-001/telemetry', 'devices/pub-002/telemetry']
  for (const [label, pick] of [['same topic (cached)', () => topics[0]!], ['alternating topics', (i: number) => topics[i & 1]!]] as const) {
    const calls = 2_000_000
    let allowed = 0
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) if (acl.canWrite(pick(i))) allowed++
    const ns = Number(process.hrtime.bigint() - t0) / calls
    if (allowed !== calls) throw new Error('the ACL refused the fan-in topic')
    console.log(`  ACL write check, ${label}: ${ns.toFixed(1)} ns/call`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
