/**
 * A real Mosquitto for side-by-side conformance tests: private loopback port,
 * anonymous, no persistence, killed with the test.
 */
import { spawn, spawnSync } from 'node:child_process'
import { connect } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Teardown } from '../support/teardown.js'
import { waitFor } from '../support/wait.js'
import { freePort } from '../support/ports.js'

export function mosquittoAvailable (): boolean {
  return spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error === undefined
}

export function mosquittoVersion (): string {
  const out = spawnSync('mosquitto', ['-h'], { encoding: 'utf8' })
  return /mosquitto version (\S+)/.exec(out.stdout + out.stderr)?.[1] ?? 'unknown'
}

export async function startMosquitto (t: Teardown): Promise<{ port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-mosquitto-'))
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest none', ''].join('\n'))
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' })
  t.teardown(() => { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }) })
  const accepts = (): Promise<boolean> => new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
  const up = await waitFor(async () => child.exitCode !== null ? 'exited' : await accepts(), 10_000, 'mosquitto to start', 50).catch(() => false)
  if (up !== true) throw new Error(`mosquitto did not start on ${port}`)
  return { port }
}

/**
 * Debian's mosquitto_sub as an MQTT 5 subscriber on `devices/#` (QoS 1), printing each message
 * with `format` (mosquitto_sub -F). Resolves once it is subscribed: a probe published on
 * `devices/probe` came back through it. `output()` is everything it printed so far.
 */
export async function mosquittoSubV5 (t: Teardown, port: number, clientId: string, format: string,
  publishProbe: () => Promise<unknown>): Promise<{ output(): string }> {
  const sub = spawn('mosquitto_sub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(port), '-i', clientId, '-q', '1', '-t', 'devices/#', '-F', format], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { sub.kill() })
  let out = ''
  sub.stdout.on('data', (d: Buffer) => { out += d.toString() })
  for (let i = 0; i < 100 && !out.includes('devices/probe'); i++) {
    await publishProbe()
    await waitFor(() => out.includes('devices/probe'), 100, 'the probe').catch(() => {})
  }
  return { output: () => out }
}
