/**
 * A real `vigil` process (dist/broker/main.js, built by `npm test`'s pretest),
 * configured only by the VIGIL_* variables given, for tests that kill a node
 * (SIGKILL) or check exit codes. Killed with the test.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { connectClient } from './clients.js'

import type { Teardown } from '../support/teardown.js'
import { waitFor } from '../support/wait.js'

export const VIGIL_MAIN = fileURLToPath(new URL('../../dist/broker/main.js', import.meta.url))

/** This process's environment without any VIGIL_* variable (each would be a config key to the child). */
export const envWithoutVigil = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')))

/**
 * `command args` as [file, args] that start it without the NODE_OPTIONS tap gives every child
 * process of a test (an --import of its processinfo hook, which also re-adds itself to any
 * environment a spawn passes): in each Node process that hook runs a loader thread and writes a
 * record for coverage, which this project does not collect (package.json: disable-coverage; a
 * coverage run, `npx tap --no-disable-coverage`, leaves these processes out).
 * It nearly doubled the CPU a vigil process needs to start (0.46 -> 0.86 s). `env` execs the
 * command in place, so the pid, signals and exit code are the command's own.
 */
export function withoutTapHooks (command: string, args: string[]): [string, string[]] {
  return ['/usr/bin/env', ['-u', 'NODE_OPTIONS', command, ...args]]
}

/**
 * Start vigil with `vars` and resolve once its MQTT port (VIGIL_MQTT_PORT) accepts a client.
 * `nodeArgs` go to node before the script (e.g. V8 flags, which NODE_OPTIONS refuses).
 */
export async function startVigilProcess (t: Teardown, vars: Record<string, string>, nodeArgs: string[] = []): Promise<{ child: ChildProcess, url: string, stderr(): string }> {
  const child = spawn(...withoutTapHooks(process.execPath, [...nodeArgs, VIGIL_MAIN]), { env: { ...envWithoutVigil(), ...vars }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const url = `mqtt://127.0.0.1:${vars.VIGIL_MQTT_PORT}`
  let failure: unknown = null
  const up = await waitFor(() => connectClient(t, url, { clientId: `probe-${process.pid}` }).then((p) => { p.end(true); return true }, (err: unknown) => { failure = err; return false }),
    20_000, 'vigil to start', 200).catch(() => false)
  if (!up) throw new Error(`vigil did not start: ${stderr} ${String(failure)}`)
  return { child, url, stderr: () => stderr }
}
