import { parseConfig } from '../../config/load.js'
import type { VigilConfig, VigilConfigInput } from '../../config/schema.js'

type Plain = Record<string, unknown>
const isPlain = (v: unknown): v is Plain => v !== null && typeof v === 'object' && !Array.isArray(v)

export function deepMerge<T> (base: T, override: unknown): T {
  if (!isPlain(base) || !isPlain(override)) return (override === undefined ? base : override) as T
  const out: Plain = { ...base }
  for (const [key, value] of Object.entries(override)) out[key] = deepMerge(out[key], value)
  return out as T
}

let nodeCounter = 0

/** A config for tests: every port 0 (free), logs silent, a unique node id. */
export function testConfig (override: VigilConfigInput = {}): VigilConfig {
  const base: VigilConfigInput = {
    node: { id: `test-${process.pid}-${++nodeCounter}` },
    mqtt: { port: 0, ws: { port: 0 } },
    http: { port: 0 },
    log: { level: (process.env.VIGIL_TEST_LOG as 'info' | undefined) ?? 'silent' }
  }
  return parseConfig(deepMerge(base, override))
}
