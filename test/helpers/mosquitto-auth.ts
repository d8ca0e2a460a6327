/**
 * For the auth tests: a real Mosquitto 2 with a given config (the same password
 * and ACL files as Vigil), on a free port, killed with the test; temp dirs; and
 * running mosquitto_passwd / mosquitto_pub / mosquitto_sub.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectClient } from './clients.js'
import type { Teardown } from '../support/teardown.js'
import { waitFor } from '../support/wait.js'
import { freePort } from '../support/ports.js'

export { mosquittoAvailable } from './mosquitto.js'

export function tempDir (t: Teardown, prefix = 'vigil-auth-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Start mosquitto with these config lines (a listener line is added); resolves once it accepts. */
export async function startMosquittoWith (t: Teardown, lines: string[], probe: { username?: string, password?: string } = {}): Promise<{ port: number, url: string }> {
  const dir = tempDir(t, 'vigil-mosq-')
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  // As root, mosquitto drops to user "mosquitto", which cannot read the test's private temp files.
  const asRoot = process.getuid?.() === 0 ? ['user root'] : []
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, ...asRoot, ...lines, ''].join('\n'))
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const url = `mqtt://127.0.0.1:${port}`
  let i = 0
  let failure: unknown = null
  const up = await waitFor(() => connectClient(t, url, { clientId: `probe-${i++}`, ...probe }).then((c) => { c.end(true); return true }, (err: unknown) => { failure = err; return false }),
    10_000, 'mosquitto to start', 100).catch(() => false)
  if (!up) throw new Error(`mosquitto did not start: ${String(failure)}`)
  return { port, url }
}

export interface Run { code: number | null, stdout: string, stderr: string }

export function run (cmd: string, args: string[], input?: string, timeoutMs = 10_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
    if (input !== undefined) child.stdin?.end(input)
  })
}
