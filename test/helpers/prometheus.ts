/**
 * A real Prometheus (Debian's `prometheus` from PATH) on a private loopback
 * port with its own data directory, scraping the targets a test gives it and
 * loading the rule files it names. Killed and removed with the test.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Teardown } from '../support/teardown.js'
import { waitFor } from '../support/wait.js'
import { freePort } from '../support/ports.js'

export interface PromResult { metric: Record<string, string>, value?: [number, string], values?: Array<[number, string]> }

export interface TestPrometheus {
  readonly url: string
  query(expr: string): Promise<PromResult[]>
  queryRange(expr: string, start: number, end: number, stepS: number): Promise<PromResult[]>
  logs(): string
}

export function havePrometheus (): boolean {
  return spawnSync('prometheus', ['--version']).status === 0
}

export async function startPrometheus (t: Teardown, opts: { targets: string[], ruleFiles: string[], scrapeIntervalS: number }): Promise<TestPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-prometheus-'))
  const config = {
    global: { scrape_interval: `${opts.scrapeIntervalS}s`, evaluation_interval: `${opts.scrapeIntervalS}s`, scrape_timeout: `${opts.scrapeIntervalS}s` },
    rule_files: opts.ruleFiles,
    scrape_configs: [{ job_name: 'vigil', metrics_path: '/metrics', static_configs: [{ targets: opts.targets }] }]
  }
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config))
  const port = await freePort()
  const child = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let logs = ''
  child.stderr.on('data', (d: Buffer) => { logs = (logs + d.toString()).slice(-20_000) })
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
    rmSync(dir, { recursive: true, force: true })
  })
  const url = `http://127.0.0.1:${port}`
  const ready = async (): Promise<boolean> => {
    if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${logs}`)
    return await fetch(`${url}/-/ready`).then((res) => res.ok, () => false)
  }
  await waitFor(ready, 30_000, 'prometheus to be ready', 100).catch((err: Error) => { throw new Error(`${err.message}: ${logs}`) })
  const api = async (path: string, params: Record<string, string>): Promise<PromResult[]> => {
    const res = await fetch(`${url}${path}`, { method: 'POST', body: new URLSearchParams(params) })
    const body = await res.json() as { status: string, error?: string, data?: { resultType: string, result: PromResult[] | [number, string] } }
    if (body.status !== 'success') throw new Error(`${params.query}: ${body.error ?? res.status}`)
    const result = body.data!.result
    // A scalar answers as one bare [t, v] pair: keep one shape for callers.
    return body.data!.resultType === 'scalar' ? [{ metric: {}, value: result as [number, string] }] : result as PromResult[]
  }
  return {
    url,
    query: (expr) => api('/api/v1/query', { query: expr }),
    queryRange: (expr, start, end, stepS) => api('/api/v1/query_range', { query: expr, start: String(start / 1000), end: String(end / 1000), step: String(stepS) }),
    logs: () => logs
  }
}
