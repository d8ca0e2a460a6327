/**
 * The real firmware/build/vigil-agent (built by `make -C firmware`, which
 * .ci/run runs before `npm test`) as a child process, killed with the test,
 * with its own temporary --state-dir.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import type { Teardown } from '../support/teardown.js'

/** FIRMWARE_AGENT_BIN overrides it, e.g. with firmware/build/vigil-agent-san (`make -C firmware agent-san`). */
export const AGENT_BIN = process.env.FIRMWARE_AGENT_BIN ?? fileURLToPath(new URL('../../firmware/build/vigil-agent', import.meta.url))
export const ENCODE_SAMPLE_BIN = fileURLToPath(new URL('../../firmware/build/encode-sample', import.meta.url))

/** The path of a firmware build output, or an error saying how to build it (never a silent skip). */
export function firmwareBinary (path: string): string {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build the firmware first with \`make -C firmware\` ` +
      '(needs g++, make, libmosquitto-dev and doctest-dev; .ci/run installs them)')
  }
  return path
}

export interface AgentOptions {
  id: string
  port: number
  host?: string
  /** --interval, seconds. */
  interval?: number
  keepalive?: number
  stateDir?: string
  extra?: string[]
}

export interface Agent {
  child: ChildProcess
  stateDir: string
  stderr(): string
  /** Resolves with the exit code (or signal name) once the process ends. */
  exited: Promise<number | string>
}

export function startAgent (t: Teardown, options: AgentOptions): Agent {
  const bin = firmwareBinary(AGENT_BIN)
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'vigil-agent-'))
  const args = ['--id', options.id, '--host', options.host ?? '127.0.0.1', '--port', String(options.port),
    '--interval', String(options.interval ?? 1), '--state-dir', stateDir,
    '--keepalive', String(options.keepalive ?? 10), ...(options.extra ?? [])]
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
    if (options.stateDir === undefined) rmSync(stateDir, { recursive: true, force: true })
  })
  return { child, stateDir, stderr: () => stderr, exited }
}
