import { request as httpRequest } from 'node:http'
import t from 'tap'
import type { ClientStatus } from '../../plugins/liveness/service.js'
import { waitFor } from '../helpers/clients.js'
import { api, device, insightScenarios, startInsights, until } from './insights-scenarios.js'

// Every case has its own broker (and Redis) and mostly waits: four at a time.
t.jobs = 4
insightScenarios(t, 'memory')

t.test('[memory] the liveness events of GET /api/events carry the insight fields too', async (t) => {
  const broker = await startInsights(t, 'memory')
  let text = ''
  const req = httpRequest(`${broker.httpUrl}/api/events`, (res) => {
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => { text += chunk })
  })
  req.on('error', () => {})
  req.end()
  t.teardown(() => req.destroy())
  await waitFor(() => text.includes(': connected'), 3000, 'the stream open')
  await device(t, broker, 'sse-1', { fw: '4.5.6', boot: 2 })
  const events = (): ClientStatus[] => text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as ClientStatus)
  const withFw = await waitFor(() => events().find((e) => e.clientId === 'sse-1' && e.fw === '4.5.6'), 3000, 'an event with fw')
  t.equal(withFw.state, 'online')
  t.equal(withFw.restarts, 0)
  t.equal(withFw.address, '127.0.0.1')
  t.equal(withFw.kind, 'device')
})

t.test('[memory] insights.enabled: false: plain statuses, and the insight routes say 501', async (t) => {
  const broker = await startInsights(t, 'memory', { insights: { enabled: false } })
  const d = await device(t, broker, 'plain-1', { fw: '1.0.0', boot: 1 })
  await d.publishAsync('devices/plain-1/heartbeat', '{"ts":1763700000,"uptime":5}', { qos: 1 })
  const status = await until(broker, 'plain-1', (s) => s.state === 'online', 'online')
  t.equal(status.fw, undefined, 'no fw')
  t.equal(status.restarts, undefined, 'no restarts')
  t.equal((await api(broker, '/api/fleet')).status, 501)
  t.equal((await api(broker, '/api/devices/plain-1/history')).status, 501)
  const one = await api<Record<string, unknown>>(broker, '/api/devices/plain-1')
  t.equal(one.status, 200)
  t.notOk('availability' in one.body, 'no availability without insights')
})
