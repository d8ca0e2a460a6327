import t from 'tap'
import { parseRedisUrl } from '../../broker/redis-url.js'
import { parseConfig } from '../../config/load.js'

t.test('redis:// gives host, port and database', async (t) => {
  t.same(parseRedisUrl('redis://127.0.0.1:6380/2').options, { host: '127.0.0.1', port: 6380, db: 2 })
  t.same(parseRedisUrl('redis://redis').options, { host: 'redis', port: 6379 })
  t.same(parseRedisUrl('redis://[::1]:7000').options, { host: '::1', port: 7000 })
})

t.test('credentials are taken and never shown', async (t) => {
  const target = parseRedisUrl('redis://vigil:s%40cret@db.example:6379/0')
  t.same(target.options, { host: 'db.example', port: 6379, db: 0, username: 'vigil', password: 's@cret' })
  t.notMatch(target.safe, /cret/)
  t.same(parseRedisUrl('redis://:pw@h').options, { host: 'h', port: 6379, password: 'pw' })
})

t.test('rediss:// turns TLS on, checked against the host name', async (t) => {
  t.same(parseRedisUrl('rediss://cache.internal:6380').options, { host: 'cache.internal', port: 6380, tls: {} })
})

t.test('redis+sentinel:// lists the sentinels, names the master, takes a database', async (t) => {
  t.same(parseRedisUrl('redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster/3').options, {
    sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26380 }], name: 'mymaster', db: 3
  })
  t.same(parseRedisUrl('redis+sentinel://s1/main').options, { sentinels: [{ host: 's1', port: 26379 }], name: 'main' })
  t.same(parseRedisUrl('redis+sentinel://:pw@s1:1/main').options, {
    sentinels: [{ host: 's1', port: 1 }], name: 'main', password: 'pw', sentinelPassword: 'pw'
  })
})

t.test('malformed URLs are refused with what is wrong', async (t) => {
  t.throws(() => parseRedisUrl('http://x'), { name: 'RedisUrlError', message: /redis:\/\/, rediss:\/\/ or redis\+sentinel/ })
  t.throws(() => parseRedisUrl('redis://h:0'), /bad port/)
  t.throws(() => parseRedisUrl('redis://h:99999'), /bad port/)
  t.throws(() => parseRedisUrl('redis://h/x'), /database/)
  t.throws(() => parseRedisUrl('redis://h/1/2'), /unexpected path/)
  t.throws(() => parseRedisUrl('redis+sentinel://s1:26379'), /names the master/)
  t.throws(() => parseRedisUrl('redis+sentinel://s1:26379,/m'), /bad host/)
})

t.test('config accepts the three forms and refuses others (exit-2 path)', async (t) => {
  for (const url of ['redis://127.0.0.1:6379/0', 'rediss://h:6380', 'redis+sentinel://a:26379,b:26379/mymaster']) {
    t.equal(parseConfig({ persistence: { redis: url } }).persistence.redis, url)
  }
  t.throws(() => parseConfig({ persistence: { redis: 'mongodb://x' } }), /persistence\.redis = "mongodb:\/\/x" is invalid/)
})

t.test('cluster.workers: 1 by default; more than 1 needs persistence.redis', async (t) => {
  t.equal(parseConfig({}).cluster.workers, 1)
  t.equal(parseConfig({ cluster: { workers: 4 }, persistence: { redis: 'redis://h' } }).cluster.workers, 4)
  t.throws(() => parseConfig({ cluster: { workers: 2 } }), /cluster\.workers = 2 is invalid: expected 1 unless persistence\.redis is set/)
  t.throws(() => parseConfig({ cluster: { workers: 0 } }), /cluster\.workers/)
})
