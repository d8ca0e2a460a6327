#!/usr/bin/env node
/**
 * Self time of a `node --cpu-prof` profile, summed per file (or per function
 * with --functions), largest first, as a share of all samples and of the busy
 * (non-idle) ones.
 *
 *   node dist/bench/cpu-breakdown.js FILE.cpuprofile [--functions] [top]
 */
import { readFileSync } from 'node:fs'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

export function selfTimes (p: Profile, byFunction: boolean): { rows: Array<{ key: string, ms: number }>, totalMs: number, idleMs: number } {
  const keyOf = new Map<number, string>()
  for (const n of p.nodes) {
    const file = n.callFrame.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, 'vigil:')
    const where = file === '' ? `(${n.callFrame.functionName || 'native'})` : file
    keyOf.set(n.id, byFunction ? `${n.callFrame.functionName || '(anonymous)'} ${where}:${n.callFrame.lineNumber + 1}` : where)
  }
  const ms = new Map<string, number>()
  let total = 0
  for (let i = 0; i < p.samples.length; i++) {
    const d = (p.timeDeltas[i] ?? 0) / 1000
    total += d
    const k = keyOf.get(p.samples[i]!) ?? '?'
    ms.set(k, (ms.get(k) ?? 0) + d)
  }
  const idleMs = ms.get('((idle))') ?? 0
  return { rows: [...ms].map(([key, v]) => ({ key, ms: v })).sort((a, b) => b.ms - a.ms), totalMs: total, idleMs }
}

if (process.argv[1]?.endsWith('cpu-breakdown.js') === true) {
  const args = process.argv.slice(2)
  const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a))
  if (file === undefined) { process.stderr.write('usage: cpu-breakdown FILE.cpuprofile [--functions] [top]\n'); process.exit(2) }
  const top = Number(args.find((a) => /^\d+$/.test(a)) ?? 30)
  const r = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as Profile, args.includes('--functions'))
  const busy = r.totalMs - r.idleMs
  process.stdout.write(`${(r.totalMs / 1000).toFixed(1)} s sampled, idle ${(100 * r.idleMs / r.totalMs).toFixed(1)} %\n\n| self time in | ms | % of busy |\n|---|---:|---:|\n`)
  for (const row of r.rows.filter((x) => x.key !== '((idle))').slice(0, top)) {
    process.stdout.write(`| ${row.key} | ${row.ms.toFixed(0)} | ${(100 * row.ms / busy).toFixed(1)} |\n`)
  }
}
