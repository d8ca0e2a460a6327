#!/usr/bin/env node
/**
 * What GET /api/devices costs at 100,000 devices, whole and paged (issue 15):
 * the route's own work on the fleet view's statuses (filter by kind, sort or
 * page, JSON.stringify as the route's serializer does), median of 9 runs.
 *
 *   node dist/bench/api-paging.js [devices] [limit]
 */
import { performance } from 'node:perf_hooks'
import { pageOf, sortedById } from '../plugins/api/paging.js'

const devices = Number(process.argv[2] ?? 100_000)
const limit = Number(process.argv[3] ?? 1000)
const now = Date.now()
// Statuses shaped as the liveness plugin publishes them (plugins/liveness/status.ts), in arrival order.
const statuses = Array.from({ length: devices }, (_, i) => {
  const n = (i * 7919) % devices
  return {
    clientId: `dev-${String(n).padStart(6, '0')}`, state: n % 17 === 0 ? 'silent' : 'online', since: now - n, connectedAt: now - n,
    lastHeartbeat: now - 500, lastPacket: now - 500, reason: null, epoch: 1 + (n % 5), node: 'node-a', kind: 'device',
    fw: '1.4.2', restarts: n % 3, lastRestart: null, clockSkewMs: 12, flapping: false, address: '10.0.0.1'
  }
})

function time (what: string, fn: () => string): void {
  const ms: number[] = []
  let bytes = 0
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now()
    bytes = fn().length
    ms.push(performance.now() - t0)
  }
  ms.sort((a, b) => a - b)
  process.stdout.write(`| ${what} | ${ms[4]!.toFixed(1)} | ${ms[0]!.toFixed(1)}..${ms[8]!.toFixed(1)} | ${(bytes / 2 ** 20).toFixed(2)} |\n`)
}

process.stdout.write(`${devices} devices, page of ${limit}\n\n| answer | median (ms) | min..max (ms) | body (MiB) |\n|---|---:|---:|---:|\n`)
const list = (): typeof statuses => statuses.filter((s) => s.kind === 'device')
time('whole list (`GET /api/devices`)', () => JSON.stringify({ devices: sortedById(list()) }))
time(`first page (\`?limit=${limit}\`)`, () => { const p = pageOf(list(), { limit, after: null }); return JSON.stringify({ devices: p.items, next: p.next }) })
time(`a middle page (\`?limit=${limit}&after=dev-050000\`)`, () => { const p = pageOf(list(), { limit, after: 'dev-050000' }); return JSON.stringify({ devices: p.items, next: p.next }) })
