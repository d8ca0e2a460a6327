/**
 * The end of a connection is one fact with one owner: liveness announces each
 * end once (`liveness.onEnded`), with its reason, time of death, epoch, who
 * displaced it and the will it leaves; the wills plugin consumes it.
 */
import t from 'tap'
import { startBroker } from '../helpers/broker.js'
import { waitFor } from '../helpers/clients.js'
import type { ConnectionEnded } from '../../plugins/liveness/service.js'
import { dropConnection, JSON_WILL, nextOn, watch, willClient } from './wills-helpers.js'

t.test('each end is announced once: a takeover names the connection that displaced it, a drop names its will', async (t) => {
  const broker = await startBroker(t)
  const liveness = broker.services.need('liveness')
  const ended: ConnectionEnded[] = []
  t.teardown(liveness.onEnded((end) => ended.push(end)))
  const w = await watch(t, broker.url, 'devices/+/status')
  await willClient(t, broker.url, 'twin', { topic: 'devices/twin/status', payload: JSON_WILL })
  const second = await willClient(t, broker.url, 'twin', { topic: 'devices/twin/status', payload: JSON_WILL })
  await waitFor(() => ended.length === 1 ? true : null, 3000, 'the first connection ended')
  const [first] = ended
  t.equal(first?.reason, 'takeover')
  t.equal(first?.displacedBy?.local, true, 'displaced by a connection on this node')
  t.equal(first?.epoch, 1)
  t.equal(first?.local, true)
  t.not(first?.will, null, 'the will it leaves (suppressed by the wills plugin)')

  const diedAt = dropConnection(second)
  const will = await nextOn(w, 'devices/twin/status')
  t.equal(ended.length, 2, 'one more end, announced once')
  const last = ended[1]!
  t.equal(last.reason, 'connection_lost')
  t.equal(last.epoch, 2)
  t.equal(last.displacedBy, null)
  t.ok(Math.abs(last.at - diedAt) <= 1000, 'time of death')
  t.equal((JSON.parse(will.payload.toString()) as { reason: string }).reason, 'connection_lost', 'the will went out, stamped from that end')
  t.equal(w.received.filter((m) => m.topic === 'devices/twin/status').length, 1, 'the displaced connection\'s will never went out')
})
