/**
 * The Grafana dashboard and the alert rules, tested for real: Debian's
 * `prometheus` scrapes a real in-process Vigil carrying real MQTT traffic
 * (devices, heartbeats, a killed device and its will, a takeover, commands
 * acked, failed and timed out), then every panel query of
 * config/grafana/dashboards/vigil.json and every alert expression of
 * config/alerts.yaml is evaluated through Prometheus' HTTP API and must return
 * data: no panel or alert may name a metric or label that does not exist.
 * `promtool check rules` and `promtool test rules` (config/alerts.test.yaml:
 * each alert firing and not firing) run here too.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { startBroker } from '../helpers/broker.js'
import { connectClient, sleep, waitFor } from '../helpers/clients.js'
import { startPrometheus, type PromResult } from '../helpers/prometheus.js'
import { simDevice } from '../support/device.js'

const repoFile = (rel: string): string => fileURLToPath(new URL(`../../${rel}`, import.meta.url))
const SCRAPE_S = 1

interface Panel { type: string, title: string, id: number, datasource?: { uid: string }, targets?: Array<{ expr: string, refId: string }>, gridPos: { x: number, y: number, w: number, h: number } }
interface Dashboard { uid: string, panels: Panel[], templating: { list: Array<{ name: string, current?: { value: string } }> } }

const dashboard = JSON.parse(readFileSync(repoFile('config/grafana/dashboards/vigil.json'), 'utf8')) as Dashboard
const rules = (parse(readFileSync(repoFile('config/alerts.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string, expr: string }> }> })
  .groups.flatMap((g) => g.rules)

/** Grafana's variables as Grafana would fill them for one node selection of "All". */
const grafanaExpr = (expr: string): string => expr
  .replaceAll('$__rate_interval', `${4 * SCRAPE_S}s`)
  .replaceAll('$__interval', `${SCRAPE_S}s`)
  .replaceAll('$instance', '.+')

/** The alert's expression with every comparison made `bool`: it then returns its series whether or not it fires. */
export const boolForm = (expr: string): string => expr.replace(/(>=|<=|==|!=|>|<)(\s*)(?=[\d.])/g, '$1 bool$2')

const metricsOf = (expr: string): string[] => [...expr.matchAll(/\b(vigil_[a-z_]+|process_[a-z_]+|nodejs_[a-z_0-9]+|up)\b/g)].map((m) => m[1]!)
  .map((m) => m.replace(/_(bucket|sum|count)$/, ''))

const hasValue = (r: PromResult[]): boolean =>
  r.some((s) => (s.values ?? (s.value !== undefined ? [s.value] : [])).some(([, v]) => v !== 'NaN'))

t.test('the dashboard is well-formed and provisioned with the datasource its panels use', async (t) => {
  const ids = dashboard.panels.map((p) => p.id)
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  const datasources = parse(readFileSync(repoFile('config/grafana/provisioning/datasources/prometheus.yaml'), 'utf8')) as { datasources: Array<{ uid: string, type: string, url: string }> }
  const dsVar = dashboard.templating.list.find((v) => v.name === 'datasource')
  t.equal(dsVar?.current?.value, datasources.datasources[0]!.uid, 'the datasource variable defaults to the provisioned uid')
  t.equal(datasources.datasources[0]!.url, 'http://prometheus:9090', 'the compose service name')
  const providers = parse(readFileSync(repoFile('config/grafana/provisioning/dashboards/vigil.yaml'), 'utf8')) as { providers: Array<{ options: { path: string } }> }
  const compose = readFileSync(repoFile('docker-compose.yml'), 'utf8')
  t.ok(compose.includes(`./config/grafana/dashboards:${providers.providers[0]!.options.path}`), 'compose mounts the dashboards where the provider reads them')
  for (const image of compose.matchAll(/image:\s*(\S+)/g)) t.match(image[1], /:v?\d+\.\d+\.\d+/, `${image[1]} is pinned to a version`)
  for (const ports of compose.matchAll(/ports:\s*\[([^\]]*)\]/g)) {
    for (const p of ports[1]!.split(',')) t.match(p.trim(), /^"127\.0\.0\.1:/, `${p.trim()} is bound to loopback`)
  }
  t.equal(compose.match(/restart: unless-stopped/g)?.length, 4, 'every service restarts')
  for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
    t.equal(p.datasource?.uid, '${datasource}', `${p.title}: uses the datasource variable`)
    t.ok((p.targets ?? []).length > 0, `${p.title}: has a query`)
    t.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title}: fits the 24-column grid`)
  }
  const all = dashboard.panels.flatMap((p) => p.targets ?? []).map((q) => q.expr).join('\n')
  for (const metric of ['vigil_devices', 'vigil_liveness_transitions_total', 'vigil_wills_published_total', 'vigil_messages_received_total',
    'vigil_bytes_sent_total', 'vigil_commands_total', 'vigil_command_ack_seconds_bucket', 'vigil_plugin_errors_total', 'vigil_auth_failures_total']) {
    t.ok(all.includes(metric), `a panel shows ${metric}`)
  }
})

interface Case { alertname: string, exp_alerts: Array<{ exp_labels: Record<string, string> }> }

t.test('promtool checks the alert rules and their unit tests pass, each alert firing and not firing', async (t) => {
  const check = spawnSync('promtool', ['check', 'rules', repoFile('config/alerts.yaml')], { encoding: 'utf8' })
  t.equal(check.status, 0, `promtool check rules: ${check.stdout}${check.stderr}`)
  const alertNames = new Set(rules.map((r) => r.alert))
  const unitTests: Array<{ input_series: Array<{ series: string }>, alert_rule_test: Case[] }> = []
  for (const file of ['config/alerts.test.yaml', 'config/alerts-insights.test.yaml', 'config/alerts-security.test.yaml']) {
    const doc = parse(readFileSync(repoFile(file), 'utf8')) as { tests: typeof unitTests }
    const missing = [...new Set(doc.tests.flatMap((x) => x.alert_rule_test.map((c) => c.alertname)))].filter((a) => !alertNames.has(a))
    t.same(missing, [], `${file} tests only alerts that config/alerts.yaml defines`)
    const unit = spawnSync('promtool', ['test', 'rules', repoFile(file)], { encoding: 'utf8' })
    t.equal(unit.status, 0, `promtool test rules ${file}: ${unit.stdout}${unit.stderr}`)
    t.match(unit.stdout, /SUCCESS/)
    unitTests.push(...doc.tests)
  }
  // Each alert has a case where it fires and one where it does not: an empty exp_alerts, or a
  // second instance in the input series that the expected alerts leave out.
  for (const rule of rules) {
    let firing = false
    let quiet = false
    for (const test of unitTests) {
      const instances = new Set(test.input_series.map((s) => /instance="([^"]+)"/.exec(s.series)?.[1]).filter((i) => i !== undefined))
      for (const c of test.alert_rule_test.filter((c) => c.alertname === rule.alert)) {
        if (c.exp_alerts.length === 0) quiet = true
        else {
          firing = true
          const alerting = new Set(c.exp_alerts.map((a) => a.exp_labels.instance))
          if (!alerting.has(undefined as unknown as string) && [...instances].some((i) => !alerting.has(i))) quiet = true
        }
      }
    }
    t.ok(firing, `${rule.alert}: a firing case`)
    t.ok(quiet, `${rule.alert}: a not-firing case`)
  }
})

t.test('every panel query and every alert expression returns data from Prometheus scraping a real Vigil with traffic', async (t) => {
  const broker = await startBroker(t, { liveness: { rules: [{ clients: 'sleepy-*', silentAfter: '1s' }] }, commands: { timeout: '300ms', retries: 0 } })
  const started = Date.now()
  const prom = await startPrometheus(t, { targets: [`127.0.0.1:${broker.ports.http}`], ruleFiles: [repoFile('config/alerts.yaml')], scrapeIntervalS: SCRAPE_S })

  // A rate needs a sample before the traffic: wait for two scrapes of the idle broker first.
  await waitFor(async () => Number((await prom.query('count_over_time(up{job="vigil"}[1m])'))[0]?.value?.[1] ?? 0) >= 2, 30_000, 'two scrapes', 200)
    .catch((err: Error) => { throw new Error(`Prometheus does not scrape the broker: ${err.message}: ${prom.logs()}`) })

  // Traffic: heartbeating devices (with heartbeat_interval), a subscriber, QoS 0 and 1, retained.
  const sub = await connectClient(t, broker.url, { clientId: 'observer' })
  await sub.subscribeAsync('devices/#', { qos: 1 })
  const devices = await Promise.all([1, 2, 3].map((i) => connectClient(t, broker.url, {
    clientId: `dev-${i}`, will: { topic: `devices/dev-${i}/status`, payload: Buffer.from('{"state":"offline","ts":0}'), qos: 1, retain: true }
  })))
  for (let round = 0; round < 5; round++) {
    for (const [i, d] of devices.entries()) {
      d.publish(`devices/dev-${i + 1}/heartbeat`, JSON.stringify({ ts: Math.floor(Date.now() / 1000), uptime: round, heartbeat_interval: 5 }))
      await d.publishAsync(`devices/dev-${i + 1}/telemetry`, JSON.stringify({ t: round }), { qos: 1, retain: true })
    }
    await sleep(200) // pacing: the traffic spreads over a second, for the rate windows
  }
  // A device that goes silent, one killed (its will goes out), one taken over (its will suppressed).
  await connectClient(t, broker.url, { clientId: 'sleepy-1', keepalive: 1 })
  ;(devices[0] as unknown as { stream: { destroy(): void } }).stream.destroy()
  await connectClient(t, broker.url, { clientId: 'dev-2', will: { topic: 'devices/dev-2/status', payload: Buffer.from('{}'), qos: 1, retain: true } })
  // Commands: acked, failed by the device, timed out, refused for an offline device.
  const acker = await simDevice(t, broker.url, 'cmd-ok', () => [{ status: 'ok', result: { done: true } }])
  await simDevice(t, broker.url, 'cmd-err', () => [{ status: 'error', result: 'nope' }])
  await simDevice(t, broker.url, 'cmd-mute', () => null)
  const command = (id: string): Promise<number> => fetch(`${broker.httpUrl}/api/devices/${id}/commands`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ command: 'ping' })
  }).then((r) => r.status)
  for (let k = 0; k < 3; k++) t.equal(await command('cmd-ok'), 200)
  t.equal(await command('cmd-err'), 200)
  t.equal(await command('cmd-mute'), 504)
  t.equal(await command('dev-1'), 409)
  t.equal(acker.commands.length, 3)
  await waitFor(() => broker.services.need('liveness').get('sleepy-1')?.state === 'silent', 5000, 'sleepy-1 silent')

  // Enough scrapes after the traffic for every rate window.
  const trafficDone = Date.now()
  await waitFor(async () => {
    const r = await prom.query(`count_over_time(up{job="vigil"}[1m])`)
    const lastScrape = await prom.query('timestamp(up{job="vigil"})')
    return Number(r[0]?.value?.[1] ?? 0) >= 8 && Number(lastScrape[0]?.value?.[1] ?? 0) * 1000 > trafficDone + 5000
  }, 60_000, 'enough scrapes after the traffic', 500).catch((err: Error) => { throw new Error(`not enough scrapes: ${err.message}: ${prom.logs()}`) })
  const up = await prom.query('up{job="vigil"}')
  t.equal(up[0]?.value?.[1], '1', 'Prometheus scrapes the broker')

  const exported = new Set((await prom.query('count by (__name__) ({job="vigil"})')).map((r) => r.metric.__name__!.replace(/_(bucket|sum|count)$/, '')))
  for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
    for (const target of panel.targets ?? []) {
      for (const m of metricsOf(target.expr)) t.ok(exported.has(m) || m === 'up', `${panel.title}: ${m} is exported`)
      const result = await prom.queryRange(grafanaExpr(target.expr), started, Date.now(), SCRAPE_S)
      t.ok(hasValue(result), `${panel.title} ${target.refId}: data (${result.length} series)`)
    }
  }

  for (const rule of rules) {
    for (const m of metricsOf(rule.expr)) t.ok(exported.has(m) || m === 'up', `${rule.alert}: ${m} is exported`)
    const firing = await prom.query(rule.expr)
    const series = await prom.queryRange(boolForm(rule.expr), started, Date.now(), SCRAPE_S)
    t.ok(hasValue(series), `${rule.alert}: its expression returns data (${series.length} series; firing now: ${firing.length > 0})`)
  }
  // The rules are loaded by Prometheus itself, with no evaluation error.
  const loaded = await fetch(`${prom.url}/api/v1/rules`).then(async (r) => await r.json() as { data: { groups: Array<{ rules: Array<{ name: string, health: string, lastError?: string }> }> } })
  const health = loaded.data.groups.flatMap((g) => g.rules)
  t.equal(health.length, rules.length, 'Prometheus loaded every rule')
  for (const r of health) t.equal(r.health, 'ok', `${r.name} evaluates without error${r.lastError ? `: ${r.lastError}` : ''}`)
})
