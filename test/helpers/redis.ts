/**
 * A private redis-server for the Redis tests: free loopback port, no disk
 * persistence (unless `aof`), killed with the test. Never touches a Redis it did not start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { Teardown } from '../support/teardown.js'
import { freePort } from '../support/ports.js'

export interface TestRedis {
  readonly url: string
  readonly port: number
  /** A client for assertions; closed at teardown. */
  client(): Redis
  /** Stop the server (to test Redis going away). */
  stop(): Promise<void>
  /** Start it again on the same port: empty, or with what the AOF kept (`aof`). */
  restart(): Promise<void>
}

export interface RedisOptions {
  /** appendonly yes + appendfsync always in a private directory: a SIGKILL loses nothing Redis acknowledged. */
  aof?: boolean
}

export function redisAvailable (): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
}

/**
 * A test's own connections: after disconnect() ioredis waits up to disconnectTimeout (2 s by
 * default, on a timer that keeps the process alive) for a socket 'close' that never comes when
 * the socket had already failed (a probe before the server listens, a client of a stopped server):
 * each such wait held a test file's exit up to 2 s.
 */
export const TEST_CONNECTION = { disconnectTimeout: 100 } as const

function launch (port: number, dir: string | null): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const persistence = dir === null
      ? ['--appendonly', 'no']
      : ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
      ...persistence, '--protected-mode', 'yes', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${port}: ${output}`)), 10_000)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`redis-server is needed for the Redis tests and was not found on PATH (${err.message}); ` +
        'install it (Debian: apt-get install redis-server)'))
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`redis-server exited with ${code}: ${output}`))
    })
    const probe = setInterval(() => {
      const conn = new Redis({ ...TEST_CONNECTION, port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      conn.on('error', () => {})
      conn.connect().then(async () => {
        await conn.ping()
        conn.disconnect()
        clearInterval(probe)
        clearTimeout(timer)
        child.removeAllListeners('exit')
        resolve(child)
      }, () => conn.disconnect())
    }, 50)
    child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
    child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
    timer.unref()
  })
}

export async function startRedis (t: Teardown, options: RedisOptions = {}): Promise<TestRedis> {
  const port = await freePort()
  const dir = options.aof === true ? mkdtempSync(join(tmpdir(), 'vigil-redis-')) : null
  let child = await launch(port, dir)
  const clients: Redis[] = []
  const stopChild = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    })
  }
  t.teardown(async () => {
    for (const c of clients) c.disconnect()
    await stopChild()
    if (dir !== null) rmSync(dir, { recursive: true, force: true })
  })
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    client () {
      const c = new Redis({ ...TEST_CONNECTION, port, host: '127.0.0.1' })
      c.on('error', () => {})
      clients.push(c)
      return c
    },
    stop: stopChild,
    async restart () {
      await stopChild()
      child = await launch(port, dir)
    }
  }
}
