/**
 * From runs to the figures the report shows: per target and metric the
 * median/min/max over repetitions, and same-run ratios of medians vs bare
 * Aedes (with the same persistence) and vs Mosquitto.
 */
import type { MetricDef, RunResult } from './scenarios/common.js'
import { ratio, spread, type Spread } from './stats.js'

export interface SummaryRow extends Spread {
  scenario: string
  target: string
  metric: string
  label: string
  unit: string
  better: MetricDef['better']
  digits: number
  vsAedes: number
  vsMosquitto: number
}

/** The Aedes baseline with the same persistence as `target`. */
export function aedesBaselineFor (target: string, targets: readonly string[]): string | null {
  if (target.endsWith('-redis') && targets.includes('aedes-redis')) return 'aedes-redis'
  return targets.includes('aedes') ? 'aedes' : null
}

export function summarize (scenario: string, defs: readonly MetricDef[], runs: readonly RunResult[]): SummaryRow[] {
  const targets = [...new Set(runs.map((r) => r.target))]
  const med = (target: string, key: string): number => spread(runs.filter((r) => r.target === target).map((r) => r.metrics[key] ?? NaN)).median
  const rows: SummaryRow[] = []
  for (const target of targets) {
    const mine = runs.filter((r) => r.target === target)
    const aedes = aedesBaselineFor(target, targets)
    for (const d of defs) {
      const s = spread(mine.map((r) => r.metrics[d.key] ?? NaN))
      rows.push({
        scenario, target, metric: d.key, label: d.label, unit: d.unit, better: d.better, digits: d.digits ?? 2, ...s,
        vsAedes: aedes !== null && aedes !== target ? ratio(s.median, med(aedes, d.key)) : NaN,
        vsMosquitto: targets.includes('mosquitto') && target !== 'mosquitto' ? ratio(s.median, med('mosquitto', d.key)) : NaN
      })
    }
  }
  return rows
}

/** Self-check flags per target, each with the repetitions it was raised in. */
export function flagsByTarget (runs: readonly RunResult[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const r of runs) {
    const list = out.get(r.target) ?? []
    for (const f of r.selfCheck.flags) list.push(`rep ${r.rep}: ${f}`)
    for (const n of r.notes) if (!list.includes(n)) list.push(n)
    out.set(r.target, list)
  }
  return out
}

export function fmt (v: number, digits = 2): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? '-' : (v > 0 ? 'inf' : '-inf')
  const a = Math.abs(v)
  if (a >= 1e6) return v.toExponential(2)
  return v.toFixed(a >= 1000 ? 0 : digits)
}

export function fmtRatio (v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}x` : '-'
}
