/**
 * A strict parser of the Prometheus text exposition format (0.0.4), enough to
 * prove a /metrics scrape is well-formed and to read sample values.
 */
export interface Sample { name: string, labels: Record<string, string>, value: number }
export interface Scrape {
  samples: Sample[]
  types: Map<string, string>
  help: Map<string, string>
  /** Value of the one sample with this name and exactly these labels; undefined if absent. */
  value(name: string, labels?: Record<string, string>): number | undefined
  /** Every family name declared by # TYPE. */
  families(): string[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseValue (text: string, line: string): number {
  // Prometheus parses these case-insensitively (prom-client writes "Nan").
  const lower = text.toLowerCase()
  if (lower === '+inf' || lower === 'inf') return Infinity
  if (lower === '-inf') return -Infinity
  if (lower === 'nan') return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad sample value ${JSON.stringify(text)} in: ${line}`)
  return Number(text)
}

function parseLabels (text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let i = 0
  while (i < text.length) {
    const eq = text.indexOf('=', i)
    if (eq < 0) throw new Error(`bad labels in: ${line}`)
    const name = text.slice(i, eq).trim()
    if (!LABEL.test(name)) throw new Error(`bad label name ${JSON.stringify(name)} in: ${line}`)
    if (text[eq + 1] !== '"') throw new Error(`label value not quoted in: ${line}`)
    let j = eq + 2
    let value = ''
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j]
        value += next === 'n' ? '\n' : next
      } else {
        value += text[j]
      }
    }
    if (j >= text.length) throw new Error(`unterminated label value in: ${line}`)
    if (name in labels) throw new Error(`label ${name} twice in: ${line}`)
    labels[name] = value
    i = j + 1
    if (text[i] === ',') i++
    else if (i < text.length) throw new Error(`expected , between labels in: ${line}`)
  }
  return labels
}

export function parsePrometheusText (text: string): Scrape {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  const help = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (m === null) continue
      const [, kind, name, rest] = m as unknown as [string, string, string, string]
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`)
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`bad type in: ${line}`)
        if (types.has(name)) throw new Error(`TYPE twice for ${name}`)
        types.set(name, rest)
      } else {
        help.set(name, rest)
      }
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${line}`)
    samples.push({ name: m[1]!, labels: m[3] !== undefined ? parseLabels(m[3], line) : {}, value: parseValue(m[4]!, line) })
  }
  for (const sample of samples) {
    const family = [...types.keys()].find((f) => sample.name === f || (sample.name.startsWith(f + '_') &&
      ['_bucket', '_sum', '_count', '_total', '_created'].some((s) => sample.name === f + s)))
    if (family === undefined) throw new Error(`sample ${sample.name} has no # TYPE`)
  }
  const same = (a: Record<string, string>, b: Record<string, string>): boolean =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v)
  return {
    samples,
    types,
    help,
    value (name, labels = {}) {
      const found = samples.filter((s) => s.name === name && same(s.labels, labels))
      if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} appears ${found.length} times`)
      return found[0]?.value
    },
    families: () => [...types.keys()]
  }
}

/** Anything that renders one metric family in the text format (a prom-client Registry does). */
export interface MetricSource { getSingleMetricAsString(name: string): Promise<string> }

/**
 * The value of one sample of a registry's metric family `name`: the sample
 * named `sample` (default `name`) whose labels include `labels`. NaN when none
 * matches; an error when more than one does (the caller must say which).
 */
export async function metricValue (registry: MetricSource, name: string, labels: Record<string, string> = {}, sample = name): Promise<number> {
  const scrape = parsePrometheusText(await registry.getSingleMetricAsString(name))
  const found = scrape.samples.filter((s) => s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (found.length > 1) throw new Error(`${sample} ${JSON.stringify(labels)} matches ${found.length} samples`)
  return found[0]?.value ?? NaN
}
