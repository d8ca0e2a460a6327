/**
 * Loading order: schema defaults, then the file (--config or VIGIL_CONFIG),
 * then VIGIL_* environment overrides named from the key path
 * (liveness.silentAfter -> VIGIL_LIVENESS_SILENT_AFTER).
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import type { z } from 'zod'
import { formatDuration } from './duration.js'
import { configSchema, securedConfigSchema, type VigilConfig, type VigilConfigInput } from './schema.js'
import { VigilError } from '../broker/errors.js'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type ZodDef = { type: string, innerType?: z.ZodType, in?: z.ZodType, shape?: Record<string, z.ZodType> }

const def = (schema: z.ZodType): ZodDef => (schema as unknown as { _zod: { def: ZodDef } })._zod.def

/** Unwrap default/nullable/optional/pipe layers down to the schema that says what a value is. */
function unwrap (schema: z.ZodType): ZodDef {
  let d = def(schema)
  for (;;) {
    if (d.innerType !== undefined) d = def(d.innerType)
    else if (d.type === 'pipe' && d.in !== undefined) d = def(d.in)
    else return d
  }
}

export interface EnvKey { name: string, path: string[], textual: boolean }

/** Every settable leaf of the schema with its environment variable name. */
export function envKeys (schema: z.ZodType = configSchema, path: string[] = []): EnvKey[] {
  const d = unwrap(schema)
  const name = 'VIGIL_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')
  if (d.type === 'object' && d.shape !== undefined) {
    const children = Object.entries(d.shape).flatMap(([key, child]) => envKeys(child, [...path, key]))
    // A nullable section (mqtt.ws, mqtt.tls) can be switched off or set whole: VIGIL_MQTT_WS=null.
    return isNullable(schema) ? [{ name, path, textual: false }, ...children] : children
  }
  return [{ name, path, textual: d.type === 'string' || d.type === 'enum' }]
}

function isNullable (schema: z.ZodType): boolean {
  for (let d = def(schema); ; d = def(d.innerType!)) {
    if (d.type === 'nullable') return true
    if (d.innerType === undefined) return false
  }
}

function setPath (target: Record<string, Json>, path: string[], value: Json): void {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {}
    node = node[key] as Record<string, Json>
  }
  node[path[path.length - 1]!] = value
}

function valueAt (input: unknown, path: readonly PropertyKey[]): unknown {
  let node = input
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<PropertyKey, unknown>)[key]
  }
  return node
}

function describe (value: unknown): string {
  if (value === undefined) return '(missing)'
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 80 ? text.slice(0, 77) + '...' : text
}

/** Where each value came from: a key path ("mqtt.port") set by an environment variable -> its name. */
export type EnvOrigins = ReadonlyMap<string, string>

/**
 * Validate a raw config object. On failure every problem is reported at once,
 * one line each, naming the key, the value and what is allowed; a value set by
 * an environment variable is reported under the variable's name, not the file's.
 */
export function parseConfig (raw: unknown, source = 'config', origins: EnvOrigins = new Map(), earlier: readonly string[] = []): VigilConfig {
  const result = securedConfigSchema.safeParse(raw ?? {})
  if (result.success && earlier.length === 0) return result.data
  const lines = [...earlier]
  for (const issue of result.success ? [] : result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const unknown of issue.keys) {
        const key = [...issue.path, unknown].join('.')
        const parent = unwrapAt(issue.path)
        const near = parent !== null ? nearest(unknown, parent) : null
        const allowed = parent !== null ? `allowed here: ${parent.join(', ')}` : ''
        const hint = near !== null ? ` (did you mean ${near}? ${allowed})` : parent !== null ? ` (${allowed})` : ''
        lines.push(`${source}: unknown key ${key}${hint}`)
      }
      continue
    }
    const key = issue.path.length > 0 ? issue.path.join('.') : '(root)'
    const value = describe(valueAt(raw, issue.path))
    const from = originOf(issue.path, origins)
    lines.push(`${from !== undefined ? `environment ${from}` : source}: ${key} = ${value} is invalid: expected ${issue.message}`)
  }
  throw new ConfigError(lines)
}

/** Every problem of a config, one line each; `message` is all of them, one per line. */
export class ConfigError extends VigilError {
  readonly problems: readonly string[]
  constructor (problems: readonly string[]) {
    super('VIGIL_E_CONFIG', problems.join('\n'))
    this.problems = problems
  }
}

/** The variable that set `path` or a section above it (VIGIL_MQTT_WS sets all of mqtt.ws). */
function originOf (path: readonly PropertyKey[], origins: EnvOrigins): string | undefined {
  for (let n = path.length; n > 0; n--) {
    const name = origins.get(path.slice(0, n).join('.'))
    if (name !== undefined) return name
  }
  return undefined
}

/** Edit distance, case-insensitive: how far a typo is from a real key. */
export function editDistance (a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  let previous = Array.from({ length: y.length + 1 }, (_, i) => i)
  for (let i = 1; i <= x.length; i++) {
    const current = [i]
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[y.length]!
}

/** The candidate closest to `word`, if close enough to be a typo of it (a third of its length, at least 2 edits). */
export function nearest (word: string, candidates: readonly string[]): string | null {
  let best: string | null = null
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1
  for (const candidate of candidates) {
    const d = editDistance(word, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

function unwrapAt (path: readonly PropertyKey[]): string[] | null {
  let d = unwrap(configSchema)
  for (const key of path) {
    if (typeof key !== 'string') continue
    const child = d.shape?.[key]
    if (child === undefined) return null
    d = unwrap(child)
    if (d.type === 'array') d = unwrap((d as unknown as { element: z.ZodType }).element)
  }
  return d.shape !== undefined ? Object.keys(d.shape) : null
}

export function readConfigFile (file: string): VigilConfigInput {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new VigilError('VIGIL_E_CONFIG', `config file ${file} cannot be read: ${(err as Error).message}`, err)
  }
  try {
    // YAML is a superset of JSON, so one parser serves both formats.
    const parsed: unknown = parseYaml(text)
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new Error('the top level must be a mapping of keys')
    }
    return (parsed ?? {}) as VigilConfigInput
  } catch (err) {
    throw new VigilError('VIGIL_E_CONFIG', `config file ${file} is not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`, err)
  }
}

export interface EnvApplied {
  input: VigilConfigInput
  /** Key path -> the variable that set it. */
  origins: Map<string, string>
  /** Unknown VIGIL_* variables, one line each. */
  problems: string[]
}

/** Apply VIGIL_* overrides, noting which variable set which key; unknown names are problems, like unknown keys. */
export function applyEnvOverrides (base: VigilConfigInput, env: NodeJS.ProcessEnv): EnvApplied {
  const keys = new Map(envKeys().map((k) => [k.name, k]))
  const out = structuredClone(base) as Record<string, Json>
  const origins = new Map<string, string>()
  const problems: string[] = []
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('VIGIL_') || name === 'VIGIL_CONFIG' || raw === undefined) continue
    const key = keys.get(name)
    if (key === undefined) {
      const near = nearest(name, [...keys.keys()])
      problems.push(`environment: unknown variable ${name}${near !== null ? ` (did you mean ${near}?)` : ' (see config/default.yaml for the keys)'}`)
      continue
    }
    let value: Json
    if (raw === 'null' || raw === '') value = null
    else if (key.textual) value = raw
    else {
      try { value = parseYaml(raw) as Json } catch { value = raw }
    }
    setPath(out, key.path, value)
    origins.set(key.path.join('.'), name)
  }
  return { input: out as VigilConfigInput, origins, problems }
}

/** Apply VIGIL_* overrides; unknown VIGIL_* names are an error, like unknown keys in a file. */
export function applyEnv (base: VigilConfigInput, env: NodeJS.ProcessEnv): VigilConfigInput {
  const applied = applyEnvOverrides(base, env)
  if (applied.problems.length > 0) throw new ConfigError(applied.problems)
  return applied.input
}

export interface LoadOptions { file?: string | undefined, env?: NodeJS.ProcessEnv }

export function loadConfig ({ file, env = process.env }: LoadOptions = {}): VigilConfig {
  const path = file ?? env.VIGIL_CONFIG
  const fromFile = path !== undefined && path !== '' ? readConfigFile(path) : {}
  const applied = applyEnvOverrides(fromFile, env)
  return parseConfig(applied.input, path !== undefined && path !== '' ? path : 'config', applied.origins, applied.problems)
}

/** The effective config as YAML, durations written back in their short form. */
export function formatConfig (config: VigilConfig): string {
  const durationKeys = new Set(['connectTimeout', 'silentAfter', 'kickSilentAfter', 'forgetAfter', 'delay',
    'maxAge', 'sweepInterval', 'timeout', 'per', 'window', 'ban'])
  const visit = (value: unknown, key: string): unknown => {
    if (Array.isArray(value)) return value.map((v) => visit(v, ''))
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visit(v, k)]))
    }
    if (typeof value === 'number' && durationKeys.has(key)) return formatDuration(value)
    return value
  }
  const printable = visit(config, '') as Record<string, { token?: string | null, readToken?: string | null } | null>
  if (printable.http?.token) printable.http.token = '<redacted>'
  if (printable.http?.readToken) printable.http.readToken = '<redacted>'
  return stringifyYaml(printable)
}
