import { fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { MqttClient } from 'mqtt'
import { startBroker } from '../helpers/broker.js'
import { connectClient } from '../helpers/clients.js'
import { tempDir } from '../helpers/mosquitto-auth.js'
import { hashPassword } from '../../plugins/auth/password-file.js'

// Longer than tap's default 30 s per file: the flood runs 20 s, the fuzz about 30 s on a loaded machine.
t.setTimeout(120000)

const FLOOD = fileURLToPath(new URL('../support/connect-flood.ts', import.meta.url))
const DEVICES = 100

t.test('a CONNECT flood with wrong passwords (1,000/s for 20 s): no honest device goes silent, the event loop lag stays low', async (t) => {
  const file = join(tempDir(t), 'passwd')
  const lines: string[] = []
  for (let i = 0; i < DEVICES; i++) lines.push(`dev-${i}:${await hashPassword(Buffer.from(`right-${i}`))}`)
  writeFileSync(file, lines.join('\n') + '\n')
  // No ban: every flood CONNECT costs a full PBKDF2 verification, the worst case.
  const broker = await startBroker(t, { auth: { passwordFile: file, failureBan: null }, liveness: { silentAfter: '3s' } })
  const liveness = broker.services.need('liveness')
  const devices: MqttClient[] = []
  for (let i = 0; i < DEVICES; i++) {
    devices.push(await connectClient(t, broker.url, { clientId: `dev-${i}`, username: `dev-${i}`, password: `right-${i}` }))
  }
  const bad: string[] = []
  const off = liveness.onTransition((status) => {
    if (status.clientId.startsWith('dev-') && status.state !== 'online') bad.push(`${status.clientId} ${status.state}`)
  })
  t.teardown(off)
  const beat = setInterval(() => { for (const d of devices) d.publish(`devices/${d.options.clientId}/heartbeat`, '{"uptime":1}') }, 1000)
  t.teardown(() => clearInterval(beat))
  // The same machine's lag without the flood (this VM is shared: its own noise is the baseline).
  const quiet = monitorEventLoopDelay({ resolution: 10 })
  quiet.enable()
  await new Promise((resolve) => setTimeout(resolve, 3000)) // a measuring window, not a wait
  quiet.disable()
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()
  const child = fork(FLOOD, [String(broker.ports.mqtt), '1000', '20'], { stdio: 'inherit' })
  const report = await new Promise<{ sent: number, codes: Record<string, number> }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { sent: number, codes: Record<string, number> }))
    child.once('exit', (code) => reject(new Error(`flood exited ${code}`)))
  })
  lag.disable()
  const quietAfter = monitorEventLoopDelay({ resolution: 10 })
  quietAfter.enable()
  await new Promise((resolve) => setTimeout(resolve, 3000)) // a measuring window, not a wait
  quietAfter.disable()
  clearInterval(beat)
  const quietP99 = Math.max(quiet.percentile(99), quietAfter.percentile(99))
  const ms = (ns: number): string => (ns / 1e6).toFixed(1)
  t.comment(`flood: ${report.sent} CONNECTs, CONNACKs ${JSON.stringify(report.codes)}; event loop delay p50 ${ms(lag.percentile(50))} ms, ` +
    `p99 ${ms(lag.percentile(99))} ms, max ${ms(lag.max)} ms (10 ms timer resolution); without the flood (3 s before, 3 s after) p99 ${ms(quietP99)} ms, ` +
    `max ${ms(Math.max(quiet.max, quietAfter.max))} ms; load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`)
  t.ok(report.sent >= 19_500, `${report.sent} CONNECTs sent`)
  t.ok((report.codes['4'] ?? 0) + (report.codes['3'] ?? 0) >= report.sent * 0.95, 'refused with CONNACK 4 (or 3 when verification is saturated)')
  t.same(bad, [], 'no honest device went silent or offline')
  for (const d of devices) t.equal(liveness.get(d.options.clientId!)?.state, 'online')
  // Hashing runs in the thread pool, so the flood must not stall the loop. A stalled loop (hashing on
  // it, or anything else that waits per CONNECT) shows as delays of seconds: asserted always. The
  // 50 ms p99 bound is asserted when the machine is not already overloaded by other work (this suite
  // shares 2 cores with other jobs; a neighbour's burst moves p99 by more than the flood does).
  const p99 = lag.percentile(99)
  t.ok(lag.max < 1e9, `event loop never stalled for a second (max ${ms(lag.max)} ms)`)
  const perCore = loadavg()[0]! / cpus().length
  if (perCore < 2 && quietP99 < 30e6) t.ok(p99 < 50e6, `event loop delay p99 ${ms(p99)} ms < 50 ms`)
  else t.comment(`p99 < 50 ms not asserted: load ${perCore.toFixed(1)} per core, quiet p99 ${ms(quietP99)} ms`)
  t.match(await broker.metrics.getSingleMetricAsString('vigil_auth_failures_total'), /reason="bad_credentials"\} \d{4,}/)
})
