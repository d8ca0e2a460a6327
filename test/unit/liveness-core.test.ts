import t from 'tap'
import { Conn, LivenessCore, type Decision, type Transition } from '../../plugins/liveness/core.js'

const T0 = 1_763_700_000_000
const RES = 250

function setup (options: { kickSilentAfter?: number | null } = {}) {
  const core = new LivenessCore({ kickSilentAfter: options.kickSilentAfter ?? null, resolutionMs: RES }, T0)
  const sweep = (now: number): Decision[] => {
    const out: Decision[] = []
    core.sweep(now, out)
    return out
  }
  const transitions = (decisions: Decision[]): Array<[string, string, string]> =>
    decisions.filter((d): d is Transition => 'conn' in d).map((d) => [d.conn.clientId, d.from, d.to])
  return { core, sweep, transitions }
}

t.test('a CONNECT makes a client online, the CONNECT counting as its first heartbeat', async (t) => {
  const { core } = setup()
  const conn = new Conn('dev-1', 1, T0, 90_000, false)
  const transition = core.open(conn, T0)
  t.same([transition.from, transition.to], ['none', 'online'])
  t.equal(conn.since, T0)
  t.equal(conn.lastHeartbeat, T0)
  t.equal(core.size, 1)
})

t.test('an online client with no heartbeat for silentAfter goes silent, not before', async (t) => {
  const { core, sweep, transitions } = setup()
  const conn = new Conn('dev-1', 1, T0, 10_000, false)
  core.open(conn, T0)
  t.same(transitions(sweep(T0 + 9_999)), [], 'not silent before the threshold')
  const out = transitions(sweep(T0 + 10_000 + RES))
  t.same(out, [['dev-1', 'online', 'silent']])
  t.equal(conn.state, 'silent')
  t.equal(conn.since, T0 + 10_000 + RES, 'since is when the broker noticed')
  t.same(transitions(sweep(T0 + 60_000)), [], 'silent is reported once')
})

t.test('PINGREQs and other packets keep lastPacket fresh but do not keep a client online', async (t) => {
  const { core, sweep, transitions } = setup()
  const conn = new Conn('dev-1', 1, T0, 10_000, false)
  core.open(conn, T0)
  for (let at = T0 + 1000; at < T0 + 12_000; at += 1000) core.packet(conn, at)
  t.equal(conn.lastPacket, T0 + 11_000)
  t.same(transitions(sweep(T0 + 12_000)), [['dev-1', 'online', 'silent']])
})

t.test('heartbeats keep a client online; each one moves the deadline', async (t) => {
  const { core, sweep, transitions } = setup()
  const conn = new Conn('dev-1', 1, T0, 10_000, false)
  core.open(conn, T0)
  for (let at = T0 + 5000; at <= T0 + 60_000; at += 5000) {
    t.equal(core.heartbeat(conn, at), null, 'no transition while online')
    t.same(transitions(sweep(at)), [])
  }
  t.same(transitions(sweep(T0 + 60_000 + 10_000 + RES)), [['dev-1', 'online', 'silent']])
})

t.test('a silent client is online again on its next heartbeat', async (t) => {
  const { core, sweep } = setup()
  const conn = new Conn('dev-1', 1, T0, 10_000, false)
  core.open(conn, T0)
  sweep(T0 + 11_000)
  t.equal(conn.state, 'silent')
  const transition = core.heartbeat(conn, T0 + 20_000)
  t.same(transition && [transition.from, transition.to], ['silent', 'online'])
  t.equal(conn.since, T0 + 20_000)
  t.same(sweep(T0 + 29_000), [], 'the new deadline counts from that heartbeat')
  t.equal(sweep(T0 + 30_500).length, 1)
})

t.test('the end of a connection is offline with its reason and time, once', async (t) => {
  const { core, sweep } = setup()
  for (const [from, reason] of [['online', 'graceful'], ['silent', 'keepalive_timeout']] as const) {
    const conn = new Conn(`dev-${reason}`, 3, T0, 10_000, false)
    core.open(conn, T0)
    if (from === 'silent') sweep(T0 + 11_000)
    const transition = core.end(conn, reason, T0 + 12_000)
    t.same(transition && [transition.from, transition.to], [from, 'offline'])
    t.equal(conn.reason, reason)
    t.equal(conn.since, T0 + 12_000)
    t.equal(core.end(conn, 'connection_lost', T0 + 13_000), null, 'a second end changes nothing')
    t.equal(conn.reason, reason)
  }
  t.equal(core.size, 0)
  t.equal(core.scheduled, 0, 'ended connections leave the wheel')
  t.same(sweep(T0 + 1_000_000), [])
})

t.test('an announced heartbeat_interval sets the threshold to 2.5 x, at once when that is earlier', async (t) => {
  const { core, sweep, transitions } = setup()
  const conn = new Conn('dev-1', 1, T0, 90_000, false)
  core.open(conn, T0)
  core.heartbeat(conn, T0 + 1000)
  t.equal(core.announce(conn, 4000, T0 + 1000), true)
  t.equal(conn.threshold, 10_000)
  t.same(transitions(sweep(T0 + 10_999)), [])
  t.same(transitions(sweep(T0 + 11_000 + RES)), [['dev-1', 'online', 'silent']], 'silent at 2.5 x 4 s, not at 90 s')
})

t.test('a longer announced interval postpones silence (threshold raised)', async (t) => {
  const { core, sweep, transitions } = setup()
  const conn = new Conn('dev-1', 1, T0, 10_000, false)
  core.open(conn, T0)
  core.announce(conn, 60_000, T0)
  t.same(transitions(sweep(T0 + 20_000)), [], 'the old threshold no longer applies')
  t.same(transitions(sweep(T0 + 149_000)), [])
  t.same(transitions(sweep(T0 + 150_000 + RES)), [['dev-1', 'online', 'silent']])
})

t.test('a threshold set by a rule is not changed by an announced interval', async (t) => {
  const { core, sweep, transitions } = setup()
  const conn = new Conn('dev-1', 1, T0, 30_000, true)
  core.open(conn, T0)
  t.equal(core.announce(conn, 1000, T0), false)
  t.equal(conn.threshold, 30_000)
  t.same(transitions(sweep(T0 + 20_000)), [])
  t.same(transitions(sweep(T0 + 30_000 + RES)), [['dev-1', 'online', 'silent']])
})

t.test('kickSilentAfter: a client silent that long is to be kicked; a heartbeat before that saves it', async (t) => {
  const { core, sweep } = setup({ kickSilentAfter: 20_000 })
  const kept = new Conn('kept', 1, T0, 10_000, false)
  const kicked = new Conn('kicked', 1, T0, 10_000, false)
  core.open(kept, T0)
  core.open(kicked, T0)
  sweep(T0 + 10_000)
  t.equal(kicked.state, 'silent')
  t.equal(kept.state, 'silent')
  core.heartbeat(kept, T0 + 25_000)
  t.equal(kept.state, 'online')
  t.same(sweep(T0 + 29_000), [], 'not before kickSilentAfter')
  const decisions = sweep(T0 + 30_000 + RES)
  t.same(decisions.map((d) => 'kick' in d ? d.kick.clientId : null), ['kicked'], 'only the silent one is kicked')
  t.equal(kept.state, 'online')
})

t.test('the sweep touches only connections that are due', async (t) => {
  const { core } = setup()
  const conns: Conn[] = []
  for (let i = 0; i < 1000; i++) {
    const conn = new Conn(`d${i}`, 1, T0, 10_000 + i * 100, false)
    core.open(conn, T0)
    conns.push(conn)
  }
  const out: Decision[] = []
  t.equal(core.sweep(T0 + 5000, out), 0, 'nothing due, nothing visited')
  const visited = core.sweep(T0 + 10_000 + 50 * 100, out)
  t.ok(visited >= 50 && visited <= 53, `visited ${visited} of 1000`)
  t.equal(out.length, visited)
  t.equal(core.scheduled, 1000 - visited)
})
