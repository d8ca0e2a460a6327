/**
 * For the auth tests: a real Mosquitto 2 with a given config (the same password
 * and ACL files as Vigil), on a free port, killed with the test; temp dirs; and
 * running mosquitto_passwd / mosquitto_pub / mosquitto_sub.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectClient, sleep } from './clients.js'
import { freePort } from './redis.js'

import type { Teardown } from '../support/teardown.js'

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
  for (let i = 0; ; i++) {
    try {
      const c = await connectClient(t, url, { clientId: `probe-${i}`, ...probe })
      c.end(true)
      return { port, url }
    } catch (err) {
      if (i > 50) throw new Error(`mosquitto did not start: ${String(err)}`)
      await sleep(100)
    }
  }
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
