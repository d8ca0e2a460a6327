/**
 * The self-contained HTML report: summary tables with spread and ratios,
 * inline SVG charts (headline metric per target, latency histograms,
 * detection-latency CDFs, self-check timelines) and every flag raised.
 */
import { flagsByTarget, fmt, fmtRatio, type SummaryRow } from './aggregate.js'
import type { RunResult } from './scenarios/common.js'
import { cdf, logHistogram } from './stats.js'
import { barChart, esc, lineChart, type Series } from './svg.js'

export interface Section { scenario: string, describe: string, command: string, rows: SummaryRow[], runs: RunResult[], targetNotes: Map<string, string[]> }

function summaryTable (rows: SummaryRow[]): string {
  const body = rows.map((r) => `<tr><td>${esc(r.target)}</td><td>${esc(r.label)}${r.unit !== '' ? ` <span class="u">(${esc(r.unit)})</span>` : ''}</td>` +
    `<td class="n"><b>${fmt(r.median, r.digits)}</b></td><td class="n">${fmt(r.min, r.digits)} .. ${fmt(r.max, r.digits)}</td>` +
    `<td class="n">${fmtRatio(r.vsAedes)}</td><td class="n">${fmtRatio(r.vsMosquitto)}</td></tr>`).join('')
  return `<table><thead><tr><th>target</th><th>metric</th><th>median</th><th>min .. max</th><th>vs Aedes</th><th>vs Mosquitto</th></tr></thead><tbody>${body}</tbody></table>`
}

function barsFor (rows: SummaryRow[], metric: string): string {
  const mine = rows.filter((r) => r.metric === metric)
  if (mine.length === 0) return ''
  const first = mine[0]!
  return barChart(`${first.label} per target (median, min-max whiskers)`, first.unit, mine.map((r) => ({ label: r.target, value: r.median, min: r.min, max: r.max })))
}

function latencyHistogram (runs: RunResult[]): string {
  const targets = [...new Set(runs.map((r) => r.target))]
  const series: Series[] = targets.map((t) => {
    const samples = runs.filter((r) => r.target === t).flatMap((r) => r.latencies ?? [])
    const bins = logHistogram(samples, 40)
    const total = samples.length || 1
    return { label: t, points: bins.map((b) => [Math.sqrt(b.lo * b.hi), 100 * b.count / total] as [number, number]) }
  }).filter((s) => s.points.length > 0)
  if (series.length === 0) return ''
  return lineChart('Latency histogram (all repetitions)', 'latency, ms', '% of messages', series, { logX: true })
}

function detectionCdfs (runs: RunResult[]): string {
  const faults = [...new Set(runs.flatMap((r) => Object.keys(r.detection ?? {})))]
  const targets = [...new Set(runs.map((r) => r.target))]
  return faults.map((f) => {
    const series: Series[] = targets.map((t) => ({
      label: t,
      points: cdf(runs.filter((r) => r.target === t).flatMap((r) => r.detection?.[f] ?? []), 120).map(([x, y]) => [x / 1000, y * 100] as [number, number])
    }))
    return lineChart(`Detection latency CDF: ${f}`, 'seconds after the fault', '% detected', series, { yMax: 100, xMin: 0, step: true })
  }).join('')
}

/** fleet: share of each fault's devices detected, per target (frozen devices on brokers without $liveness: 0%). */
function detectedShare (runs: RunResult[]): string {
  const targets = [...new Set(runs.map((r) => r.target))]
  const faults = [...new Set(runs.flatMap((r) => Object.keys((r.details?.perFault ?? {}) as object)))]
  if (faults.length === 0) return ''
  const bars = faults.flatMap((f) => targets.map((t, ti) => {
    const per = runs.filter((r) => r.target === t).map((r) => (r.details?.perFault as Record<string, { devices: number, detected: number }> | undefined)?.[f])
      .filter((v): v is { devices: number, detected: number } => v !== undefined && v.devices > 0).map((v) => 100 * v.detected / v.devices)
    return { label: t, sub: f, colorIndex: ti, value: per.length > 0 ? per.reduce((a, b) => a + b, 0) / per.length : NaN, min: Math.min(...per), max: Math.max(...per) }
  }))
  return `<div class="wide">${barChart('Faulty devices detected (% per fault and target, mean of reps)', '%', bars, Math.max(640, bars.length * 70), 280, 100)}</div>`
}

function timelines (runs: RunResult[]): string {
  const firstRep = runs.filter((r) => r.rep === 1)
  const cpu: Series[] = firstRep.map((r) => ({ label: `${r.target} broker`, points: r.selfCheck.windows.filter((w) => w.brokerCpu !== null).map((w) => [w.t / 1000, w.brokerCpu! * 100] as [number, number]) }))
  const elu: Series[] = firstRep.map((r) => ({ label: `${r.target} harness ELU`, points: r.selfCheck.windows.map((w) => [w.t / 1000, w.harnessElu * 100] as [number, number]) }))
  return lineChart('Broker CPU per window (rep 1)', 'seconds', '% of one core', cpu, { xMin: 0 }) +
    lineChart('Harness event-loop utilisation (rep 1)', 'seconds', '%', elu, { yMax: 100, xMin: 0 })
}

function fleetTable (runs: RunResult[]): string {
  const rows: string[] = []
  for (const r of runs) {
    const per = (r.details?.perFault ?? {}) as Record<string, { devices: number, detected: number, missed: number, late: number, boundMs: number, p50: number, p99: number, max: number, wrongReason: number }>
    for (const [f, v] of Object.entries(per)) {
      rows.push(`<tr><td>${esc(r.target)}</td><td class="n">${r.rep}</td><td>${esc(f)}</td><td class="n">${v.devices}</td><td class="n">${v.detected}</td>` +
        `<td class="n${v.missed > 0 ? ' bad' : ''}">${v.missed}</td><td class="n">${v.late}</td><td class="n">${fmt(v.p50, 0)}</td><td class="n">${fmt(v.p99, 0)}</td><td class="n">${fmt(v.max, 0)}</td><td class="n">${fmt(v.boundMs, 0)}</td><td class="n">${v.wrongReason}</td></tr>`)
    }
  }
  if (rows.length === 0) return ''
  return '<h3>Per fault and repetition (ms)</h3><table><thead><tr><th>target</th><th>rep</th><th>fault</th><th>devices</th><th>detected</th><th>missed</th><th>late</th><th>p50</th><th>p99</th><th>max</th><th>bound</th><th>wrong reason</th></tr></thead><tbody>' + rows.join('') + '</tbody></table>'
}

function flagsList (section: Section): string {
  const items: string[] = []
  for (const [t, notes] of section.targetNotes) for (const n of notes) items.push(`<li><b>${esc(t)}</b>: ${esc(n)}</li>`)
  for (const [t, flags] of flagsByTarget(section.runs)) {
    for (const f of flags) items.push(`<li class="${/SATURATED/.test(f) ? 'bad' : ''}"><b>${esc(t)}</b>: ${esc(f)}</li>`)
  }
  return items.length === 0 ? '<p>No self-check flags: neither the harness nor the machine was saturated.</p>' : `<ul>${items.join('')}</ul>`
}

export function renderHtml (sections: Section[], meta: { startedAt: string, host: string, cores: number, node: string }): string {
  const body = sections.map((s) => {
    const headline = s.rows[0]?.metric ?? ''
    return `<section><h2>${esc(s.scenario)}</h2><p>${esc(s.describe)}</p><pre>${esc(s.command)}</pre>` +
      `<div class="charts">${barsFor(s.rows, headline)}${s.rows.some((r) => r.metric === 'p99') ? barsFor(s.rows, 'p99') : ''}${latencyHistogram(s.runs)}${detectedShare(s.runs)}${detectionCdfs(s.runs)}${timelines(s.runs)}</div>` +
      summaryTable(s.rows) + fleetTable(s.runs) + `<h3>Self-check and notes</h3>${flagsList(s)}</section>`
  }).join('')
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Vigil benchmark report</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#111;max-width:1800px}
h1{margin:0 0 4px}h2{border-bottom:2px solid #e5e7eb;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0 16px;display:block;max-width:100%;overflow-x:auto}td,th{border:1px solid #e5e7eb;padding:3px 8px}th{background:#f9fafb;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.u{color:#6b7280}.bad{color:#b91c1c;font-weight:600}
pre{background:#f3f4f6;padding:6px 10px;white-space:pre-wrap}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,520px),1fr));gap:16px;align-items:start}
.charts svg{border:1px solid #eceef1;display:block;height:auto}.charts .wide{grid-column:1/-1}
</style></head><body><h1>Vigil benchmark report</h1><p>${esc(meta.startedAt)} on ${esc(meta.host)} (${meta.cores} cores, Node ${esc(meta.node)}).
Every figure is the median over repetitions with its min..max; ratios are medians measured in the same run.</p>${body}</body></html>`
}
