/**
 * Redis set-ups beyond one plain server, for the cluster tests: a TLS server, and
 * a master + replica watched by a Sentinel. Every process is started here on
 * free loopback ports, with its own directory, and killed with the test.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis, type RedisOptions } from 'ioredis'
import { TEST_CONNECTION } from './redis.js'
import type { Teardown } from '../support/teardown.js'
import { waitFor } from '../support/wait.js'
import { freePort } from '../support/ports.js'

function run (t: Teardown, args: string[], dir: string): ChildProcess {
  const child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.resume()
  child.stderr?.resume()
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return child
}

async function answers (options: RedisOptions, what: string, ms = 10_000): Promise<void> {
  const pings = async (): Promise<boolean> => {
    const conn = new Redis({ ...TEST_CONNECTION, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...options })
    conn.on('error', () => {})
    try {
      await conn.connect()
      await conn.ping()
      return true
    } catch {
      return false
    } finally {
      conn.disconnect()
    }
  }
  await waitFor(pings, ms, 'a PING', 50).catch(() => { throw new Error(`${what} did not answer within ${ms} ms`) })
}

function workDir (t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-redis-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A redis-server that speaks TLS only, with the given certificate. */
export async function startTlsRedis (t: Teardown, cert: string, key: string): Promise<{ url: string, port: number }> {
  const port = await freePort()
  run(t, ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', cert, '--tls-key-file', key,
    '--tls-auth-clients', 'no', '--save', '', '--appendonly', 'no'], workDir(t))
  await answers({ host: '127.0.0.1', port, tls: { rejectUnauthorized: false } }, 'TLS redis-server')
  return { url: `rediss://localhost:${port}`, port }
}

export interface SentinelSet {
  /** redis+sentinel:// URL for Vigil. */
  readonly url: string
  readonly masterName: string
  /** Port of the server that is master now (asked of the sentinel). */
  masterPort(): Promise<number>
  /** SIGKILL the current master. */
  killMaster(): Promise<number>
  /** Resolves once the sentinel names a master other than `oldPort` and it answers as master. */
  failedOver(oldPort: number, ms?: number): Promise<number>
}

/**
 * A master and one replica, both with appendonly yes and appendfsync always (so
 * what a server acknowledged is on its disk), and one Sentinel with a quorum of
 * 1 that fails over 1 s after the master stops answering.
 */
export async function startSentinelSet (t: Teardown): Promise<SentinelSet> {
  const masterName = 'vigilmaster'
  const ports = [await freePort(), await freePort()]
  const servers = new Map<number, ChildProcess>()
  for (const [i, port] of ports.entries()) {
    const dir = workDir(t)
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
      '--dir', dir, '--protected-mode', 'no']
    if (i === 1) args.push('--replicaof', '127.0.0.1', String(ports[0]))
    servers.set(port, run(t, args, dir))
    await answers({ host: '127.0.0.1', port }, `redis-server ${port}`)
  }
  const sentinelPort = await freePort()
  const dir = workDir(t)
  const conf = join(dir, 'sentinel.conf')
  writeFileSync(conf, [
    `port ${sentinelPort}`,
    'bind 127.0.0.1',
    'protected-mode no',
    `dir ${dir}`,
    `sentinel monitor ${masterName} 127.0.0.1 ${ports[0]} 1`,
    `sentinel down-after-milliseconds ${masterName} 1000`,
    `sentinel failover-timeout ${masterName} 10000`,
    `sentinel parallel-syncs ${masterName} 1`,
    ''
  ].join('\n'))
  run(t, [conf, '--sentinel'], dir)
  await answers({ host: '127.0.0.1', port: sentinelPort }, 'redis-sentinel')
  const sentinel = new Redis({ host: '127.0.0.1', port: sentinelPort })
  sentinel.on('error', () => {})
  t.teardown(() => sentinel.disconnect())
  const masterPort = async (): Promise<number> => {
    const [, port] = await sentinel.call('SENTINEL', 'get-master-addr-by-name', masterName) as [string, string]
    return Number(port)
  }
  // Wait until the replica has synced, so a failover has a replica to promote.
  const replica = new Redis({ host: '127.0.0.1', port: ports[1]! })
  replica.on('error', () => {})
  t.teardown(() => replica.disconnect())
  await waitFor(async () => /master_link_status:up/.test(await replica.info('replication')), 10_000, 'the replica to sync', 50)
  return {
    url: `redis+sentinel://127.0.0.1:${sentinelPort}/${masterName}`,
    masterName,
    masterPort,
    async killMaster () {
      const port = await masterPort()
      servers.get(port)?.kill('SIGKILL')
      return port
    },
    async failedOver (oldPort, ms = 20_000) {
      const promoted = async (): Promise<number | null> => {
        const port = await masterPort().catch(() => oldPort)
        if (port === oldPort) return null
        const conn = new Redis({ ...TEST_CONNECTION, host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
        conn.on('error', () => {})
        try {
          await conn.connect()
          return /role:master/.test(await conn.info('replication')) ? port : null
        } catch {
          return null // not yet
        } finally {
          conn.disconnect()
        }
      }
      return await waitFor(promoted, ms, 'the failover', 100).catch(() => { throw new Error(`no failover within ${ms} ms`) })
    }
  }
}
