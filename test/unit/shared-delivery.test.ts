/**
 * The table of a shared subscription group across nodes (broker/aedes/
 * shared-delivery.ts, Redis mode): which member a message goes to as members
 * join, leave, move and are read back from Redis. The emitter, the session
 * store and the other nodes are stand-ins that record what they are asked;
 * the sockets and Redis are exercised in
 * test/integration/shared-subscriptions-cluster.test.ts.
 */
import t from 'tap'
import { Counter, Registry } from 'prom-client'
import type { AedesPublishPacket, Client } from 'aedes'
import { SharedGroups, type Deliver } from '../../broker/aedes/shared-delivery.js'
import { memberKey, type SharedCluster } from '../../broker/shared-cluster.js'

const GROUP = '$share/g/t'

interface Rig {
  groups: SharedGroups
  /** Where each dispatched message went: `local:<id>` or `<node>:<id>`. */
  went: string[]
  announced: string[]
  listening: () => Deliver | undefined
  dropped: Counter
  queued: Counter
  local (id: string, qos?: number): { client: Client, func: Deliver }
  publish (payload: string, brokerId?: string): void
}

function rig (): Rig {
  const registry = new Registry()
  const dropped = new Counter({ name: 'd', help: 'd', registers: [registry] })
  const queued = new Counter({ name: 'q', help: 'q', registers: [registry] })
  const went: string[] = []
  const announced: string[] = []
  let listener: Deliver | undefined
  const groups = new SharedGroups({
    brokerId: 'me',
    store: { outgoingEnqueueCombi: async () => {} },
    listen: (_filter, fn, done) => { listener = fn; done?.() },
    unlisten: (_filter, _fn, done) => { listener = undefined; done?.() },
    nextCounter: null,
    dropped,
    queued,
    onError: (err) => { throw err }
  })
  const cluster: SharedCluster = {
    node: 'me',
    ready: Promise.resolve(),
    set: (group, clientId, _qos, online) => { announced.push(`+${online ? 'on' : 'off'}:${clientId}`) },
    delete: (group, clientId) => { announced.push(`-:${clientId}`) },
    direct: async (node, _group, clientId) => { went.push(`${node}:${clientId}`); return true },
    close: async () => {}
  }
  groups.attach(cluster)
  return {
    groups,
    went,
    announced,
    listening: () => listener,
    dropped,
    queued,
    local (id, qos = 1) {
      const client = { id, clean: true, closed: false } as unknown as Client
      const func: Deliver = (_p, done) => { went.push(`local:${id}`); done() }
      groups.join(GROUP, client, func, qos)
      return { client, func }
    },
    publish (payload, brokerId = 'me') {
      listener?.({ topic: 't', payload: Buffer.from(payload), qos: 1, brokerId, brokerCounter: 1 } as unknown as AedesPublishPacket, () => {})
    }
  }
}

const remote = (node: string, clientId: string, online = true) => ({ node, clientId, qos: 1, online, persistent: false })

t.test('local and remote members share the turn; only messages published here are dispatched', async (t) => {
  const r = rig()
  r.local('a')
  r.groups.set(GROUP, remote('n2', 'b'))
  for (let i = 0; i < 4; i++) r.publish(`m${i}`)
  r.publish('theirs', 'n2')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(r.went, ['local:a', 'n2:b', 'local:a', 'n2:b'], 'in turn; the message published on n2 is n2\'s to dispatch')
  t.same(r.announced, ['+on:a'], 'the local member was announced')
})

t.test('a reload does not undo what was announced while it read', async (t) => {
  const r = rig()
  r.local('a')
  r.groups.set(GROUP, remote('n2', 'b'))
  // The snapshot was read before b joined (so it lacks b) and before c left (so it has c).
  r.groups.set(GROUP, remote('n2', 'c'))
  r.groups.delete(GROUP, 'n2', 'c')
  const snapshot = new Map([[GROUP, [remote('n2', 'c')]]])
  r.groups.replace(snapshot, new Set([memberKey(GROUP, 'n2', 'b'), memberKey(GROUP, 'n2', 'c')]))
  for (let i = 0; i < 4; i++) r.publish(`m${i}`)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(r.went, ['local:a', 'n2:b', 'local:a', 'n2:b'], 'b kept, c not brought back')
})

t.test('a reload drops the members another node no longer has', async (t) => {
  const r = rig()
  r.local('a')
  r.groups.set(GROUP, remote('n2', 'b'))
  r.groups.replace(new Map(), new Set())
  for (let i = 0; i < 2; i++) r.publish(`m${i}`)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(r.went, ['local:a', 'local:a'])
})

t.test('an offline entry from a node does not replace the member connected on another', async (t) => {
  const r = rig()
  r.local('a')
  r.groups.set(GROUP, remote('n3', 'b'))
  r.groups.set(GROUP, remote('n2', 'b', false))
  for (let i = 0; i < 2; i++) r.publish(`m${i}`)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(r.went, ['local:a', 'n3:b'], 'b still reached on n3')
})

t.test('a local member taken over on another node becomes that node\'s when its connection here leaves', async (t) => {
  const r = rig()
  const a = r.local('a')
  r.local('x')
  r.groups.set(GROUP, remote('n2', 'a'))
  ;(a.client as unknown as { closed: boolean, clean: boolean }).closed = true
  ;(a.client as unknown as { clean: boolean }).clean = false
  r.groups.leave(GROUP, a.func, () => true)
  t.same(r.announced.slice(-1), ['-:a'], 'no offline entry kept here')
  for (let i = 0; i < 2; i++) r.publish(`m${i}`)
  await new Promise((resolve) => setImmediate(resolve))
  t.same([...r.went].sort(), ['local:x', 'n2:a'], 'a is reached on n2')
})

t.test('the last member leaving ends the group and its listener; with nobody connected a QoS 1 message waits in an offline member\'s session', async (t) => {
  const r = rig()
  const a = r.local('a', 0)
  t.ok(r.listening(), 'listening while the group has a member')
  r.groups.leave(GROUP, a.func, () => false)
  t.equal(r.listening(), undefined, 'listener gone with the group')
  r.groups.set(GROUP, remote('n2', 'b', false))
  r.publish('to nobody online')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(r.went, [], 'not handed to anyone live')
  t.equal((await r.queued.get()).values[0]?.value, 1, 'queued in b\'s session')
  t.equal((await r.dropped.get()).values[0]?.value ?? 0, 0, 'not dropped')
})
