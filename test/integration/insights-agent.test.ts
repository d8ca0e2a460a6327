/**
 * Device insights with the real vigil-agent (firmware/linux): its birth gives
 * fw, its heartbeats a clock skew near zero (a synced clock, ts in seconds),
 * and its `restart` command (re-exec, boot + 1) one reboot.
 */
import t from 'tap'
import { startAgent } from '../helpers/agent.js'
import { startBroker } from '../helpers/broker.js'
import { api, metric, until } from './insights-scenarios.js'

t.test('the real agent: fw from its birth, skew near 0, address; its restart command is one reboot, in the history', async (t) => {
  const broker = await startBroker(t)
  startAgent(t, { id: 'gw-ins', port: broker.ports.mqtt, interval: 1 })
  const known = await until(broker, 'gw-ins', (s) => s.fw !== undefined && typeof s.clockSkewMs === 'number', 'fw and a skew', 8000)
  t.equal(known.fw, '0.1.0')
  t.equal(known.kind, 'device')
  t.equal(known.restarts, 0)
  t.equal(known.address, '127.0.0.1')
  t.ok(Math.abs(known.clockSkewMs!) <= 1500, `a synced clock with ts in seconds: skew ${known.clockSkewMs} ms`)
  const started = Date.now()
  const res = await broker.http.inject({ method: 'POST', url: '/api/devices/gw-ins/commands', payload: { command: 'restart', timeout: '5s' } })
  t.equal(res.statusCode, 200, 'the restart was acked')
  const rebooted = await until(broker, 'gw-ins', (s) => s.restarts === 1, 'one reboot', 8000)
  t.ok(rebooted.lastRestart! >= started - 1000, 'lastRestart is the restart just made')
  t.equal(await metric(broker, 'vigil_device_restarts_total'), 1)
  const history = await api<{ transitions: Array<{ state: string, epoch: number }> }>(broker, '/api/devices/gw-ins/history')
  t.ok(history.body.transitions.filter((e) => e.state === 'online').length >= 2, 'both connections are in the history')
  const fleet = await api<{ firmware: Record<string, number>, devices: number }>(broker, '/api/fleet')
  t.same(fleet.body.firmware, { '0.1.0': 1 })
})
