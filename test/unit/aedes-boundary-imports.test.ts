/**
 * The Aedes boundary holds: no source under broker/ or plugins/ outside
 * broker/aedes/ reads an Aedes internal or casts an Aedes value. Each finding
 * is named file:line with the rule it breaks; the fix is an accessor in
 * broker/aedes/ (client-fields.ts, broker-fields.ts) used from the file.
 * test/unit/aedes-boundary.test.ts pins what the boundary itself relies on.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

interface Rule { name: string, why: string, test(line: string): boolean }

const BROKERISH = String.raw`(?:broker|aedes|ctx\.broker|#ctx\.broker|this\.broker|deps\.broker)`
const AEDES_WORDS = /\b(?:client|broker|aedes|Client|Aedes|\w*Internals|clients|mq|persistence|will|conn|req)\b/

const RULES: Rule[] = [
  {
    name: 'underscore member',
    why: 'an Aedes, mqtt-packet or mqemitter private (`_will`, `_disconnected`, `_parser`, `_do`, ...)',
    test: (line) => /[\w)\]]\??\._[A-Za-z]\w*/.test(line)
  },
  {
    name: 'client internal',
    why: 'a client field the .d.ts does not declare (`will`, `subscriptions`, `errored`, `duplicates`, `deliverQoS`)',
    // `will` is also a field of Vigil's own records (a delayed end's will): only a client's counts.
    test: (line) => /[\w)\]]\??\.(?:subscriptions|errored|duplicates|deliverQoS)\b/.test(line) ||
      /(?:\b\w*[cC]lient\w*|\bc|\bcurrent|\bold|\)|\])\??\.will\b/.test(line)
  },
  {
    name: 'broker internal',
    why: '`persistence`, `clients` or `mq` read on the broker',
    test: (line) => new RegExp(String.raw`\b${BROKERISH}\??\.(?:persistence|clients|mq)\b`).test(line) ||
      new RegExp(String.raw`\b${BROKERISH}\b[^;]*\)\??\.(?:persistence|clients|mq)\b`).test(line)
  },
  {
    name: 'aedes cast',
    why: 'a Client or Aedes value cast to another shape',
    test: (line) => [...line.matchAll(/([\w.#[\]]+)\)?\s+as unknown as\s+([^)=;,]*)/g)].some(([, subject, target]) =>
      AEDES_WORDS.test(subject!) || AEDES_WORDS.test(target!)) ||
      new RegExp(String.raw`\b(?:client|${BROKERISH})\)?\s+as\s+(?:\{|Record<|\w*Internals\b)`).test(line)
  }
]


function sources (dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`
    if (entry.isDirectory()) out.push(...sources(path))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

/** The code of a line, without its comment (a comment may name an internal to explain it). */
function codeOf (line: string, inBlock: { open: boolean }): string {
  let code = line
  if (!inBlock.open && /^\s*\*/.test(code)) return '' // a JSDoc continuation line
  if (inBlock.open) {
    const end = code.indexOf('*/')
    if (end < 0) return ''
    code = code.slice(end + 2)
    inBlock.open = false
  }
  code = code.replace(/\/\*.*?\*\//g, '')
  const start = code.indexOf('/*')
  if (start >= 0) {
    inBlock.open = true
    code = code.slice(0, start)
  }
  return code.replace(/(^|[^:'"`])\/\/.*$/, '$1')
}

function findings (path: string, text: string): string[] {
  const out: string[] = []
  const inBlock = { open: false }
  text.split('\n').forEach((line, i) => {
    const code = codeOf(line, inBlock)
    for (const rule of RULES) if (rule.test(code)) out.push(`${path}:${i + 1}: ${rule.name} (${rule.why}): ${line.trim()}`)
  })
  return out
}

t.test('the rules catch what they are for, and leave the boundary\'s users alone', async (t) => {
  const bad = [
    'const will = (client as unknown as ClientInternals)._will',
    'if (internals._disconnected === true) return',
    'const parser = c._parser',
    'const clients = (broker as unknown as { clients: Record<string, Client> }).clients',
    'const p = this.#ctx.broker.persistence',
    'const mq = broker.mq',
    '(broker as { clients: Record<string, Client | undefined> }).clients',
    'const s = client.subscriptions',
    'if (current.will != null) publish()',
    'const w = (client as Internals).will',
    'if (newClient.will === packet) return',
    'const c = client as { closed?: boolean }',
    'e._messageQueue.unshift(message)'
  ]
  for (const line of bad) t.ok(findings('x.ts', line).length > 0, `caught: ${line}`)
  const good = [
    'const will = pendingWill(client)',
    'const client = liveClient(broker, clientId)',
    'for await (const packet of persistenceOf(broker).createRetainedStream(topic)) {',
    'persistence: bundle.persistence,',
    'mq: bundle.mq,',
    'return JSON.stringify({ ...will, payload: will.payload.toString(\'base64\') })',
    'const merged = { will: part.will ?? existing.will }',
    'const hasWill = (end: DelayedEnd): end is WithWill => end.will !== null',
    '// client._will is read by broker/aedes/client-fields.ts',
    ' * `broker.persistence` is the boundary\'s',
    "registry.registerMetric(skew as unknown as Metric)",
    'persistence: (memoryPersistence as unknown as typeof memoryPersistence.default)(),'
  ]
  for (const line of good) t.same(findings('x.ts', line), [], `left alone: ${line}`)
  t.same(findings('x.ts', '/*\n client._will\n*/\nok()'), [], 'block comments are skipped')
})

t.test('no file outside broker/aedes/ reads an Aedes internal or casts an Aedes value', async (t) => {
  const files = [...sources('broker'), ...sources('plugins')]
    .filter((path) => !path.startsWith('broker/aedes/'))
  t.ok(files.length > 50, `${files.length} source files scanned`)
  const found: string[] = []
  for (const path of files) {
    found.push(...findings(relative(ROOT, join(ROOT, path)), readFileSync(join(ROOT, path), 'utf8')))
  }
  t.same(found, [], 'every Aedes internal is reached through broker/aedes/')
})
