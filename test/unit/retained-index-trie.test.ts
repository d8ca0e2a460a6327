import t from 'tap'
import { RetainedTrie, WALK_SLICE } from '../../broker/retained-trie.js'
import { topicMatches } from '../../broker/topic-match.js'

const SUBSCRIBE = { dollarRule: true }
const RAW = { dollarRule: false }

function trieOf (topics: readonly string[]): RetainedTrie<string> {
  const trie = new RetainedTrie<string>()
  for (const topic of topics) trie.set(topic, topic)
  return trie
}

/** What one walk yields, pause points counted apart. */
function run (trie: RetainedTrie<string>, filters: readonly string[], options = SUBSCRIBE): { topics: string[], pauses: number } {
  const topics: string[] = []
  let pauses = 0
  for (const value of trie.match(filters, options)) {
    if (value === null) pauses++
    else topics.push(value)
  }
  return { topics: topics.sort(), pauses }
}

const STORED = ['a', 'a/b', 'a/b/c', 'a/c', 'a//c', '/a', 'a/', 'x/y/z', '$SYS/n1/uptime', '$liveness/d1', '$liveness/d2']

t.test('literal, + and # filters match whole levels; a/# matches a itself; + matches an empty level [MQTT-4.7.1-2] [MQTT-4.7.1-3]', async (t) => {
  const trie = trieOf(STORED)
  t.same(run(trie, ['a/b']).topics, ['a/b'])
  t.same(run(trie, ['a/+']).topics, ['a/', 'a/b', 'a/c'], "'+' matches one level, the empty one after 'a/' included")
  t.same(run(trie, ['a/+/c']).topics, ['a//c', 'a/b/c'])
  t.same(run(trie, ['a/#']).topics, ['a', 'a/', 'a//c', 'a/b', 'a/b/c', 'a/c'], "'a/#' matches 'a' and everything below")
  t.same(run(trie, ['+']).topics, ['a'], "'+' alone: one-level topics, no '$' one")
  t.same(run(trie, ['+/a']).topics, ['/a'], "'+' matches the empty first level of '/a'")
  t.same(run(trie, ['x/y']).topics, [], 'an inner level holding no message matches nothing')
  t.same(run(trie, ['a/b/c/#']).topics, ['a/b/c'])
  t.same(run(trie, ['nothing/here', 'a/b/c/d']).topics, [])
})

t.test("a filter starting with a wildcard never reaches a '$' topic; a '$' filter does [MQTT-4.7.2-1]", async (t) => {
  const trie = trieOf(STORED)
  const plain = STORED.filter((topic) => !topic.startsWith('$')).sort()
  t.same(run(trie, ['#']).topics, plain, "'#': every topic but the '$' ones")
  t.same(run(trie, ['+/+']).topics, ['/a', 'a/', 'a/b', 'a/c'])
  t.same(run(trie, ['$liveness/+']).topics, ['$liveness/d1', '$liveness/d2'])
  t.same(run(trie, ['#', '$SYS/#']).topics, [...plain, '$SYS/n1/uptime'].sort(), "'#' does not swallow a '$SYS/#' beside it")
  t.same(run(trie, ['#'], RAW).topics, [...STORED].sort(), 'without the rule (enumeration) # is everything')
})

t.test('each topic once per walk, however many filters match it', async (t) => {
  const trie = trieOf(STORED)
  const { topics } = run(trie, ['a/b', 'a/+', '+/b', 'a/#', '#', '+/+/#', 'a/b/#'])
  t.same(topics, [...new Set(topics)], 'no duplicates')
  t.same(topics, STORED.filter((topic) => !topic.startsWith('$')).sort())
})

t.test('set replaces, delete removes and prunes, size counts topics', async (t) => {
  const trie = new RetainedTrie<string>()
  trie.set('a/b/c', 'one')
  trie.set('a/b/c', 'two')
  trie.set('a/b', 'parent')
  t.equal(trie.size, 2, 'a replaced entry is counted once')
  t.equal(trie.get('a/b/c'), 'two')
  t.equal(trie.get('a'), undefined, 'an inner level is no topic')
  t.equal(trie.delete('a/b/c'), true)
  t.equal(trie.delete('a/b/c'), false, 'deleting twice finds nothing the second time')
  t.equal(trie.delete('a'), false, 'an inner level cannot be deleted')
  t.equal(trie.size, 1)
  t.same(run(trie, ['a/#']).topics, ['parent'], 'the parent survives its child')
  t.equal(trie.delete('a/b'), true)
  t.same(run(trie, ['#']).topics, [], 'empty again')
  trie.set('z', 'z')
  trie.clear()
  t.equal(trie.size, 0)
  t.equal(trie.get('z'), undefined)
})

t.test('an entry deleted while a walk is paused is not yielded after the deletion', async (t) => {
  const trie = new RetainedTrie<string>()
  for (let i = 0; i < 3 * WALK_SLICE; i++) trie.set(`d/${i}`, `d/${i}`)
  const walk = trie.match(['d/+'], SUBSCRIBE)
  const got = new Set<string>()
  let deleted = false
  const late: string[] = []
  for (const value of walk) {
    if (value === null) {
      if (!deleted) {
        // Delete everything not yielded yet.
        for (let i = 0; i < 3 * WALK_SLICE; i++) if (!got.has(`d/${i}`)) trie.delete(`d/${i}`)
        deleted = true
      }
      continue
    }
    if (deleted && trie.get(value) === undefined) late.push(value)
    got.add(value)
  }
  t.same(late, [], 'nothing yielded after its deletion')
  t.ok(deleted, 'the walk paused at least once')
  t.ok(got.size < 3 * WALK_SLICE, 'the deleted entries did not come')
})

t.test('1,000 filters that match nothing cost nothing per retained message: no pause point over 20,000 topics', async (t) => {
  const topics: string[] = []
  for (let i = 0; i < 20_000; i++) topics.push(`$liveness/device-${i}`, `devices/device-${i}/telemetry`)
  const trie = trieOf(topics)
  const filters = Array.from({ length: 1000 }, (_, i) => `nomatch/${i}/+`)
  const { topics: found, pauses } = run(trie, filters)
  t.same(found, [])
  t.equal(pauses, 0, `fewer than ${WALK_SLICE} levels visited for 40,000 stored topics`)
  const one = run(trie, ['devices/device-7/#', '$liveness/device-7'])
  t.same(one.topics, ['$liveness/device-7', 'devices/device-7/telemetry'])
  t.equal(one.pauses, 0, 'two exact lookups visit a handful of levels')
  const all = run(trie, ['$liveness/+'])
  t.equal(all.topics.length, 20_000, 'a filter matching 20,000 topics gets them all')
  t.ok(all.pauses >= Math.floor(20_000 / WALK_SLICE), 'with pause points in between')
})

t.test('agrees with the reference matcher on random topics and filters', async (t) => {
  // Deterministic pseudo-random (no Math.random: a failure must replay).
  let seed = 15
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
  const names = ['a', 'b', '', '$x', 'c']
  const topicOf = (): string => Array.from({ length: 1 + next(4) }, () => names[next(names.length)]).join('/')
  const filterOf = (): string => {
    const levels = Array.from({ length: 1 + next(4) }, () => ['a', 'b', '', '+', '$x'][next(5)]!)
    if (next(3) === 0) levels.push('#')
    return levels.join('/')
  }
  for (let round = 0; round < 2000; round++) {
    const topics = [...new Set(Array.from({ length: 30 }, topicOf))]
    const trie = trieOf(topics)
    const filters = Array.from({ length: 1 + next(4) }, filterOf)
    const wanted = topics.filter((topic) => filters.some((filter) => topicMatches(filter, topic))).sort()
    const found = run(trie, filters).topics
    if (JSON.stringify(found) !== JSON.stringify(wanted)) {
      t.same(found, wanted, `filters ${JSON.stringify(filters)} over ${JSON.stringify(topics)}`)
      return
    }
  }
  t.pass('2,000 random rounds agree with broker/topic-match.ts')
})
