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

/** Validate a raw config object; one line naming key, value and what is allowed on failure. */
export function parseConfig (raw: unknown, source = 'config'): VigilConfig {
  const result = securedConfigSchema.safeParse(raw ?? {})
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  if (issue.code === 'unrecognized_keys') {
    const key = [...issue.path, issue.keys[0]].join('.')
    const parent = unwrapAt(issue.path)
    const allowed = parent !== null ? ` (allowed here: ${parent.join(', ')})` : ''
    throw new VigilError('VIGIL_E_CONFIG', `${source}: unknown key ${key}${allowed}`)
  }
  const key = issue.path.length > 0 ? issue.path.join('.') : '(root)'
  const value = describe(valueAt(raw, issue.path))
  throw new VigilError('VIGIL_E_CONFIG', `${source}: ${key} = ${value} is invalid: expected ${issue.message}`)
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

/** Apply VIGIL_* overrides; unknown VIGIL_* names are an error, like unknown keys in a file. */
export function applyEnv (base: VigilConfigInput, env: NodeJS.ProcessEnv): VigilConfigInput {
  const keys = new Map(envKeys().map((k) => [k.name, k]))
  const out = structuredClone(base) as Record<string, Json>
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('VIGIL_') || name === 'VIGIL_CONFIG' || raw === undefined) continue
    const key = keys.get(name)
    if (key === undefined) {
      throw new VigilError('VIGIL_E_CONFIG', `environment: unknown variable ${name} (see config/default.yaml for the keys)`)
    }
    let value: Json
    if (raw === 'null' || raw === '') value = null
    else if (key.textual) value = raw
    else {
      try { value = parseYaml(raw) as Json } catch { value = raw }
    }
    setPath(out, key.path, value)
  }
  return out as VigilConfigInput
}

export interface LoadOptions { file?: string | undefined, env?: NodeJS.ProcessEnv }

export function loadConfig ({ file, env = process.env }: LoadOptions = {}): VigilConfig {
  const path = file ?? env.VIGIL_CONFIG
  const fromFile = path !== undefined && path !== '' ? readConfigFile(path) : {}
  return parseConfig(applyEnv(fromFile, env), path !== undefined && path !== '' ? path : 'config')
}

/** The effective config as YAML, durations written back in their short form. */
export function formatConfig (config: VigilConfig): string {
  const durationKeys = new Set(['connectTimeout', 'silentAfter', 'kickSilentAfter', 'forgetAfter', 'delay',
    'maxAge', 'sweepInterval', 'timeout', 'window', 'ban'])
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
