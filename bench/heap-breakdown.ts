#!/usr/bin/env node
/**
 * What a broker's JS heap holds per connection: reads two V8 heap snapshots
 * (.heapsnapshot, e.g. from `node --heapsnapshot-signal=SIGUSR2`), one before
 * the clients connect and one with N of them idle, and prints the difference
 * of self size and count per constructor, divided by N, largest first.
 *
 *   node dist/bench/heap-breakdown.js before.heapsnapshot after.heapsnapshot 10000 [top]
 *
 * Self sizes, not retained sizes: they add up to the heap's growth without
 * double counting, and the constructor names say who owns them (Socket,
 * WriteState, Client, Parser, Timeout, closures by function name...).
 */
import { readFileSync } from 'node:fs'

interface Snapshot {
  snapshot: { meta: { node_fields: string[], node_types: [string[], ...unknown[]], edge_fields: string[], edge_types: [string[], ...unknown[]] } }
  nodes: number[]
  edges: number[]
  strings: string[]
}

/** Names that say who owns a block: a class instance (Socket, Client...), not a plain container. */
const ANONYMOUS = new Set(['Object', 'Array', 'Map', 'Set', 'system / Context', 'system / PropertyArray', '(object shape)', ''])
const isOwnerName = (name: string): boolean => /^[A-Z]/.test(name) && !ANONYMOUS.has(name)

/**
 * Each node's owner: the nearest class instance up its first strong retainer
 * path (up to 8 steps), e.g. the Socket that holds a WritableState's buffer
 * array. "(string)", "(array)" and closures are attributed this way too.
 */
export function ownersOf (snap: Snapshot): Map<string, Bucket> {
  const { node_fields: nf, node_types: nt, edge_fields: ef, edge_types: et } = snap.snapshot.meta
  const nw = nf.length
  const ew = ef.length
  const iType = nf.indexOf('type'); const iName = nf.indexOf('name'); const iSize = nf.indexOf('self_size'); const iEdges = nf.indexOf('edge_count')
  const eType = ef.indexOf('type'); const eTo = ef.indexOf('to_node')
  const weak = et[0].indexOf('weak'); const shortcut = et[0].indexOf('shortcut')
  const count = snap.nodes.length / nw
  const parent = new Int32Array(count).fill(-1)
  let e = 0
  for (let n = 0; n < count; n++) {
    const edges = snap.nodes[n * nw + iEdges]!
    for (let k = 0; k < edges; k++, e += ew) {
      const t = snap.edges[e + eType]
      if (t === weak || t === shortcut) continue
      const to = snap.edges[e + eTo]! / nw
      if (parent[to] === -1 && to !== n) parent[to] = n
    }
  }
  const types = nt[0]
  const nameOf = (n: number): string => snap.strings[snap.nodes[n * nw + iName]!] ?? '?'
  const out = new Map<string, Bucket>()
  for (let n = 0; n < count; n++) {
    let owner = n
    let key = ''
    for (let d = 0; d < 8 && owner !== -1; d++) {
      const type = types[snap.nodes[owner * nw + iType]!]
      if (type === 'object' && isOwnerName(nameOf(owner))) { key = nameOf(owner); break }
      if (type === 'closure' && d > 0) { key = `closure ${nameOf(owner) || '(anonymous)'}`; break }
      owner = parent[owner]!
    }
    if (key === '') key = '(unattributed)'
    const size = snap.nodes[n * nw + iSize]!
    const b = out.get(key)
    if (b === undefined) out.set(key, { count: 1, bytes: size })
    else { b.count++; b.bytes += size }
  }
  return out
}

export interface Bucket { count: number, bytes: number }

/** Self size and count per "type:name" (closures keep their function name, strings are one bucket). */
export function bucketsOf (snap: Snapshot): Map<string, Bucket> {
  const fields = snap.snapshot.meta.node_fields
  const width = fields.length
  const iType = fields.indexOf('type')
  const iName = fields.indexOf('name')
  const iSize = fields.indexOf('self_size')
  const types = snap.snapshot.meta.node_types[0]
  const out = new Map<string, Bucket>()
  const nodes = snap.nodes
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + iType]!]!
    let key: string
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') key = '(string)'
    else if (type === 'number') key = '(heap number)'
    else if (type === 'closure') key = `closure ${snap.strings[nodes[i + iName]!] || '(anonymous)'}`
    else if (type === 'object' || type === 'native') key = snap.strings[nodes[i + iName]!] ?? '?'
    else key = `(${type})`
    const b = out.get(key)
    const size = nodes[i + iSize]!
    if (b === undefined) out.set(key, { count: 1, bytes: size })
    else { b.count++; b.bytes += size }
  }
  return out
}

export function diff (before: Map<string, Bucket>, after: Map<string, Bucket>, n: number): Array<{ key: string, count: number, bytes: number }> {
  const rows = []
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, bytes: 0 }
    rows.push({ key, count: (a.count - b.count) / n, bytes: (a.bytes - b.bytes) / n })
  }
  return rows.sort((x, y) => y.bytes - x.bytes)
}

if (process.argv[1]?.endsWith('heap-breakdown.js') === true) {
  const [beforeFile, afterFile, nRaw, topRaw] = process.argv.slice(2)
  if (beforeFile === undefined || afterFile === undefined || nRaw === undefined) {
    process.stderr.write('usage: heap-breakdown before.heapsnapshot after.heapsnapshot N [top]\n')
    process.exit(2)
  }
  const before = JSON.parse(readFileSync(beforeFile, 'utf8')) as Snapshot
  const after = JSON.parse(readFileSync(afterFile, 'utf8')) as Snapshot
  const top = Number(topRaw ?? 40)
  const table = (title: string, rows: ReturnType<typeof diff>): void => {
    const total = rows.reduce((s, r) => s + r.bytes, 0)
    process.stdout.write(`\n${title}: ${total.toFixed(0)} B per connection\n\n| ${title.split(' ')[0]} | objects per conn | bytes per conn |\n|---|---:|---:|\n`)
    for (const r of rows.slice(0, top)) {
      if (Math.abs(r.bytes) < 8) continue
      process.stdout.write(`| ${r.key.replace(/\|/g, '\\|')} | ${r.count.toFixed(2)} | ${r.bytes.toFixed(0)} |\n`)
    }
  }
  const n = Number(nRaw)
  table('constructor (self size)', diff(bucketsOf(before), bucketsOf(after), n))
  table('owner (nearest class instance on the first retainer path)', diff(ownersOf(before), ownersOf(after), n))
}
