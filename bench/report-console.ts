/**
 * The console table: one line per target and metric, median [min..max] over
 * repetitions, same-run ratios, then the self-check flags.
 */
import { flagsByTarget, fmt, fmtRatio, type SummaryRow } from './aggregate.js'
import type { RunResult } from './scenarios/common.js'

function table (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

export function renderConsole (scenario: string, rows: SummaryRow[], runs: RunResult[]): string {
  const reps = Math.max(0, ...runs.map((r) => r.rep))
  const out: string[] = [`\n== ${scenario} (${reps} repetition${reps === 1 ? '' : 's'}; median [min..max]) ==`]
  out.push(table(['target', 'metric', 'median', 'min..max', 'vs aedes', 'vs mosquitto'], rows.map((r) => [
    r.target, `${r.label}${r.unit !== '' ? ` (${r.unit})` : ''}`, fmt(r.median, r.digits), `${fmt(r.min, r.digits)}..${fmt(r.max, r.digits)}`,
    fmtRatio(r.vsAedes), fmtRatio(r.vsMosquitto)
  ])))
  const sc = runs.map((r) => [r.target, String(r.rep), `${(r.selfCheck.harnessCpuMax * 100).toFixed(0)}%`, `${(r.selfCheck.harnessEluMax * 100).toFixed(0)}%`,
    r.selfCheck.brokerCpuMax === null ? 'n/a' : `${(r.selfCheck.brokerCpuMax * 100).toFixed(0)}%`,
    r.selfCheck.machineBusyMax === null ? 'n/a' : `${(r.selfCheck.machineBusyMax * 100).toFixed(0)}%`,
    r.selfCheck.flags.length === 0 ? 'ok' : 'FLAGGED'])
  out.push('\nself-check (peak per window):')
  out.push(table(['target', 'rep', 'harness CPU', 'harness ELU', 'broker CPU', 'machine', 'verdict'], sc))
  for (const [target, flags] of flagsByTarget(runs)) for (const f of flags) out.push(`  ${target}: ${f}`)
  return out.join('\n') + '\n'
}
