import { readFileSync } from 'node:fs'
import t from 'tap'
import { parse } from 'yaml'

const CONTRACT_METRICS = new Set(['vigil_clients_connected', 'vigil_devices', 'vigil_liveness_transitions_total',
  'vigil_wills_published_total', 'vigil_wills_suppressed_total', 'vigil_retained_messages', 'vigil_retained_expired_total',
  'vigil_messages_received_total', 'vigil_messages_delivered_total', 'vigil_bytes_received_total', 'vigil_bytes_sent_total',
  'vigil_connections_total', 'vigil_heartbeat_interval_seconds', 'vigil_commands_total', 'vigil_command_ack_seconds',
  'vigil_plugin_errors_total', 'vigil_device_restarts_total', 'vigil_clock_skew_seconds', 'vigil_devices_flapping',
  // section 9 (security)
  'vigil_auth_failures_total', 'vigil_acl_denied_total', 'vigil_messages_dropped_total'])

interface Rule { alert?: string, expr?: string, labels?: { severity?: string }, annotations?: { summary?: string } }

t.test('the example alert rules are well-formed and name only metrics of the contract', async (t) => {
  const doc = parse(readFileSync(new URL('../../config/alerts.yaml', import.meta.url), 'utf8')) as { groups: Array<{ name: string, rules: Rule[] }> }
  const rules = doc.groups.flatMap((g) => g.rules)
  const names = rules.map((r) => r.alert)
  for (const wanted of ['VigilDevicesSilent', 'VigilManyDevicesOffline', 'VigilCommandFailures', 'VigilPluginErrors',
    'VigilDeviceRestartBurst', 'VigilClockSkew', 'VigilDevicesFlapping', 'VigilAuthFailureBurst', 'VigilAclDenials']) {
    t.ok(names.includes(wanted), `${wanted} is there`)
  }
  t.equal(new Set(names).size, names.length, 'alert names are unique')
  for (const rule of rules) {
    t.ok(typeof rule.expr === 'string' && rule.expr.length > 0 && rule.labels?.severity !== undefined && rule.annotations?.summary !== undefined,
      `${rule.alert} has an expr, a severity and a summary`)
    for (const [metric] of (rule.expr ?? '').matchAll(/vigil_[a-z_]+/g)) {
      t.ok(CONTRACT_METRICS.has(metric.replace(/_(bucket|sum|count)$/, '')), `${rule.alert}: ${metric} is a contract metric`)
    }
    let depth = 0
    for (const ch of rule.expr ?? '') { depth += ch === '(' ? 1 : ch === ')' ? -1 : 0; if (depth < 0) break }
    t.equal(depth, 0, `${rule.alert}: parentheses balance`)
  }
})
