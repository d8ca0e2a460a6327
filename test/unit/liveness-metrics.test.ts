import t from 'tap'
import { Registry } from 'prom-client'
import { registerLivenessMetrics } from '../../plugins/liveness/metrics.js'

t.test('liveness metrics: every series present at 0 from start-up, histogram in Prometheus form', async (t) => {
  const registry = new Registry()
  let counts = { online: 0, silent: 0, offline: 0 }
  const metrics = registerLivenessMetrics(registry, () => counts)
  let text = await registry.metrics()
  for (const state of ['online', 'silent', 'offline']) t.match(text, `vigil_devices{state="${state}"} 0`)
  for (const from of ['none', 'online', 'silent', 'offline']) {
    for (const to of ['online', 'silent', 'offline']) t.match(text, `vigil_liveness_transitions_total{from="${from}",to="${to}"} 0`)
  }
  t.match(text, '# TYPE vigil_heartbeat_interval_seconds histogram')
  t.match(text, 'vigil_heartbeat_interval_seconds_count 0')

  counts = { online: 3, silent: 1, offline: 2 }
  metrics.transition('none', 'online')
  metrics.heartbeatInterval(0.7)
  metrics.heartbeatInterval(29)
  metrics.heartbeatInterval(5000)
  text = await registry.metrics()
  t.match(text, 'vigil_devices{state="online"} 3', 'the gauge reads the fleet view at scrape time')
  t.match(text, 'vigil_devices{state="silent"} 1')
  t.match(text, 'vigil_liveness_transitions_total{from="none",to="online"} 1')
  t.match(text, 'vigil_heartbeat_interval_seconds_bucket{le="0.5"} 0')
  t.match(text, 'vigil_heartbeat_interval_seconds_bucket{le="1"} 1')
  t.match(text, 'vigil_heartbeat_interval_seconds_bucket{le="30"} 2')
  t.match(text, 'vigil_heartbeat_interval_seconds_bucket{le="3600"} 2')
  t.match(text, 'vigil_heartbeat_interval_seconds_bucket{le="+Inf"} 3')
  t.match(text, 'vigil_heartbeat_interval_seconds_sum 5029.7')
  t.match(text, 'vigil_heartbeat_interval_seconds_count 3')
})
