import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseAclFile } from '../../plugins/auth/acl-file.js'
import { compileClientAcl, covers, intersects, matchesLevels } from '../../plugins/auth/acl.js'
import { CredentialCache } from '../../plugins/auth/credential-cache.js'
import { anonymousAllowed, decideConnect, type ConnectFacts } from '../../plugins/auth/decide.js'
import { FailureBan } from '../../plugins/auth/failure-ban.js'
import { hashPassword, parseHash, parsePasswordFile, updatePasswordFile, verifyPassword } from '../../plugins/auth/password-file.js'
import { mosquittoAvailable, tempDir } from '../helpers/mosquitto-auth.js'

const pw = (s: string): Buffer => Buffer.from(s, 'utf8')

t.test('a file mosquitto_passwd wrote ($7$ and $6$) verifies the right passwords only', { skip: !mosquittoAvailable() }, async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'pw')
  execFileSync('mosquitto_passwd', ['-c', '-b', file, 'alice', 'wonder land'])
  execFileSync('mosquitto_passwd', ['-b', file, 'bob', 'p@ss:wörd'])
  execFileSync('mosquitto_passwd', ['-H', 'sha512', '-b', file, 'old', 'legacy'])
  const parsed = parsePasswordFile(readFileSync(file, 'utf8'))
  t.same(parsed.problems, [])
  t.equal(parsed.users.get('alice')?.kind, 'pbkdf2')
  t.equal(parsed.users.get('old')?.kind, 'sha512')
  t.ok(await verifyPassword(parsed.users.get('alice')!, pw('wonder land')))
  t.notOk(await verifyPassword(parsed.users.get('alice')!, pw('wonder lanD')))
  t.ok(await verifyPassword(parsed.users.get('bob')!, pw('p@ss:wörd')))
  t.ok(await verifyPassword(parsed.users.get('old')!, pw('legacy')))
  t.notOk(await verifyPassword(parsed.users.get('old')!, pw('legacy ')))
})

t.test('hashes Vigil writes use the iteration count they carry and verify', async (t) => {
  const field = await hashPassword(pw('s3cret'), 1000)
  t.match(field, /^\$7\$1000\$[A-Za-z0-9+/=]{16}\$[A-Za-z0-9+/=]{88}$/)
  const entry = parseHash(field)
  t.not(typeof entry, 'string')
  if (typeof entry === 'string') return
  t.ok(await verifyPassword(entry, pw('s3cret')))
  t.notOk(await verifyPassword(entry, pw('s3cres')))
})

t.test('unreadable lines are reported by number, the rest of the file still loads', async (t) => {
  const good = await hashPassword(pw('x'))
  const parsed = parsePasswordFile(`# comment\n\nplain:text\nnocolon\na:${good}\nb:$5$abc$def\n`)
  t.same(parsed.problems.map((p) => p.line), [3, 4, 6])
  t.same([...parsed.users.keys()], ['a'])
})

t.test('updating a user keeps every other line; deleting removes only that user', async (t) => {
  const text = '# fleet\na:$7$1$AA==$AA==\nb:$7$1$AA==$BB==\n'
  t.same(updatePasswordFile(text, 'a', 'NEW'), { text: '# fleet\na:NEW\nb:$7$1$AA==$BB==\n', existed: true })
  t.same(updatePasswordFile(text, 'c', 'C'), { text: text + 'c:C\n', existed: false })
  t.same(updatePasswordFile(text, 'b', null), { text: '# fleet\na:$7$1$AA==$AA==\n', existed: true })
})

t.test('the credential cache answers only for the same password against the same entry', async (t) => {
  const cache = new CredentialCache(2)
  const entry = parseHash(await hashPassword(pw('p'))) as Exclude<ReturnType<typeof parseHash>, string>
  const other = parseHash(await hashPassword(pw('p'))) as typeof entry
  cache.remember('u', entry, pw('p'))
  t.ok(cache.has('u', entry, pw('p')))
  t.notOk(cache.has('u', entry, pw('q')), 'another password misses')
  t.notOk(cache.has('u', other, pw('p')), 'a reloaded entry misses')
  t.notOk(cache.has('v', entry, pw('p')), 'another user misses')
  cache.remember('v', entry, pw('p'))
  cache.remember('w', entry, pw('p'))
  t.equal(cache.size, 2, 'bounded, oldest out')
  t.notOk(cache.has('u', entry, pw('p')))
})

t.test('the failure ban bans an address after `attempts` failures in the window, for `ban`', async (t) => {
  const ban = new FailureBan({ attempts: 3, window: 10_000, ban: 60_000 })
  t.notOk(ban.failed('1.2.3.4', 0))
  t.notOk(ban.failed('1.2.3.4', 5_000))
  t.notOk(ban.banned('1.2.3.4', 5_000))
  t.ok(ban.failed('1.2.3.4', 9_000), 'the third failure in 10 s bans')
  t.ok(ban.banned('1.2.3.4', 9_001))
  t.notOk(ban.banned('5.6.7.8', 9_001), 'other addresses are not touched')
  t.ok(ban.banned('1.2.3.4', 68_999))
  t.notOk(ban.banned('1.2.3.4', 69_000), 'the ban ends')
  const slow = new FailureBan({ attempts: 3, window: 10_000, ban: 60_000 })
  slow.failed('a', 0); slow.failed('a', 6_000)
  t.notOk(slow.failed('a', 12_000), 'failures older than the window do not count')
  slow.sweep(100_000)
  t.equal(slow.size, 0, 'swept once nothing is left to remember')
})

const facts = (over: Partial<ConnectFacts>): ConnectFacts => ({
  clientId: 'dev-1', username: undefined, certificateName: null, passwordOk: null, anonymousAllowed: false, clientIdMustMatch: null, ...over
})

t.test('CONNECT decisions: 4 for bad credentials, 5 for anonymous, 2 for a clientId the identity rule forbids', async (t) => {
  t.match(decideConnect(facts({ username: 'u', passwordOk: false })), { ok: false, returnCode: 4, reason: 'bad_credentials' })
  t.match(decideConnect(facts({})), { ok: false, returnCode: 5, reason: 'anonymous' })
  t.match(decideConnect(facts({ username: 'u', passwordOk: null })), { ok: false, returnCode: 5, reason: 'anonymous' }, 'a username nobody can check is anonymous')
  t.same(decideConnect(facts({ username: 'u', passwordOk: true })), { ok: true, username: 'u' })
  t.same(decideConnect(facts({ anonymousAllowed: true })), { ok: true, username: undefined })
  t.same(decideConnect(facts({ certificateName: 'dev-1', username: 'ignored', passwordOk: null })), { ok: true, username: 'dev-1' }, 'the CN is the username')
  t.match(decideConnect(facts({ username: 'dev-2', passwordOk: true, clientIdMustMatch: 'username' })), { ok: false, returnCode: 2, reason: 'client_id' })
  t.match(decideConnect(facts({ username: 'dev-1', passwordOk: true, clientIdMustMatch: 'username' })), { ok: true })
  t.match(decideConnect(facts({ certificateName: 'dev-9', clientIdMustMatch: 'certificate' })), { ok: false, returnCode: 2 })
  t.match(decideConnect(facts({ anonymousAllowed: true, clientIdMustMatch: 'username' })), { ok: false, returnCode: 2 })
})

t.test('anonymous is allowed by default only with no other auth and loopback listeners', async (t) => {
  t.equal(anonymousAllowed(null, false, false, true), true)
  t.equal(anonymousAllowed(null, true, false, true), false)
  t.equal(anonymousAllowed(null, false, true, true), false)
  t.equal(anonymousAllowed(null, false, false, false), false)
  t.equal(anonymousAllowed(true, true, false, false), true)
  t.equal(anonymousAllowed(false, false, false, true), false)
})

t.test('topic matching follows MQTT, and $ topics never match a leading wildcard', async (t) => {
  const m = (f: string, topic: string): boolean => matchesLevels(f.split('/'), topic)
  t.ok(m('a/#', 'a')); t.ok(m('a/#', 'a/b/c')); t.ok(m('a/+', 'a/')); t.ok(m('+/+', 'a/b'))
  t.notOk(m('a/+', 'a')); t.notOk(m('a/+', 'a/b/c')); t.notOk(m('a/b', 'a/bc')); t.notOk(m('a/b', 'ab'))
  t.notOk(m('#', '$SYS/x')); t.notOk(m('+/x', '$SYS/x')); t.ok(m('$SYS/#', '$SYS/x'))
  const l = (f: string): string[] => f.split('/')
  t.ok(intersects(l('devices/+/status'), l('devices/a/#'))); t.notOk(intersects(l('devices/a/#'), l('devices/b/#')))
  t.ok(intersects(l('a/#'), l('a'))); t.notOk(intersects(l('#'), l('$SYS/#')))
  t.ok(covers(l('devices/#'), l('devices/+/x'))); t.notOk(covers(l('devices/+/x'), l('devices/#')))
  t.ok(covers(l('a/#'), l('a'))); t.notOk(covers(l('a/+'), l('a/#'))); t.notOk(covers(l('#'), l('$SYS/x')))
})

const ACL = `
# anonymous
topic read public/#
user alice
topic readwrite devices/#
topic deny devices/secret/#
user bob
topic read devices/bob/#
topic write devices/bob/up
pattern readwrite own/%c/#
pattern write up/%u
`

t.test('ACL rules: user blocks, anonymous block, patterns with %c/%u, deny wins', async (t) => {
  const acl = parseAclFile(ACL)
  const broker = { alwaysReadable: ['$liveness/#'], alwaysWritable: ['devices/bob-1/commands/ack'] }
  const anon = compileClientAcl(acl, { clientId: 'anon-1', username: undefined }, broker)
  t.ok(anon.canRead('public/x')); t.notOk(anon.canWrite('public/x')); t.notOk(anon.canRead('devices/a'))
  t.ok(anon.canWrite('own/anon-1/x'), '%c pattern'); t.notOk(anon.canWrite('up/'), '%u pattern skipped without a username')
  const alice = compileClientAcl(acl, { clientId: 'a-1', username: 'alice' }, broker)
  t.ok(alice.canWrite('devices/x/y')); t.notOk(alice.canWrite('devices/secret/y'), 'deny wins over readwrite')
  t.notOk(alice.canRead('public/x'), 'the anonymous block is not a user\'s')
  t.ok(alice.canWrite('up/alice')); t.notOk(alice.canWrite('up/bob'))
  const bob = compileClientAcl(acl, { clientId: 'bob-1', username: 'bob' }, broker)
  t.ok(bob.canRead('devices/bob/x')); t.notOk(bob.canWrite('devices/bob/x')); t.ok(bob.canWrite('devices/bob/up'))
  t.ok(bob.canWrite('devices/bob-1/commands/ack'), 'own ack topic, whatever the ACL')
  t.ok(bob.canRead('$liveness/anything'), 'the status space, whatever the ACL')
  t.equal(bob.subscribe('devices/bob/#'), 'full')
  t.equal(bob.subscribe('devices/#'), 'partial')
  t.equal(bob.subscribe('other/#'), 'denied')
  t.equal(bob.subscribe('$SYS/#'), 'denied')
  t.equal(bob.subscribe('$liveness/#'), 'full')
  t.equal(alice.subscribe('devices/secret/#'), 'denied', 'a filter a deny rule covers')
  t.equal(alice.subscribe('devices/+/x'), 'partial', 'granted, checked per delivery (deny touches it)')
  const sneaky = compileClientAcl(acl, { clientId: 'x/#', username: 'a+b' }, broker)
  t.notOk(sneaky.canWrite('own/x/#'), 'a clientId with / or # never fills %c')
})

t.test('ACL syntax errors name the line', async (t) => {
  t.throws(() => parseAclFile('user alice\ntopic read a/#/b\n'), /line 2/)
  t.throws(() => parseAclFile('bogus x\n'), /line 1: unknown keyword/)
  t.same(parseAclFile('topic a b\n').anonymous, [{ access: 'readwrite', topic: 'a b' }], 'topics may hold spaces')
})

t.test('config/acl.example: each device its own subtree, a dashboard that reads everything, the command path', async (t) => {
  const acl = parseAclFile(readFileSync(new URL('../../config/acl.example', import.meta.url), 'utf8'))
  const broker = (id: string): { alwaysReadable: string[], alwaysWritable: string[] } =>
    ({ alwaysReadable: ['$liveness/#'], alwaysWritable: [`devices/${id}/commands/ack`] })
  const dev = compileClientAcl(acl, { clientId: 'dev-1', username: 'dev-1' }, broker('dev-1'))
  t.ok(dev.canWrite('devices/dev-1/heartbeat')); t.ok(dev.canWrite('devices/dev-1/status'))
  t.ok(dev.canRead('devices/dev-1/commands')); t.equal(dev.subscribe('devices/dev-1/commands'), 'full')
  t.notOk(dev.canWrite('devices/dev-2/status'), 'no other device\'s status'); t.notOk(dev.canRead('devices/dev-2/commands'), 'no other device\'s commands')
  t.equal(dev.subscribe('devices/+/commands'), 'partial'); t.equal(dev.subscribe('$SYS/#'), 'denied')
  const anon = compileClientAcl(acl, { clientId: 'x', username: undefined }, broker('x'))
  t.equal(anon.subscribe('public/#'), 'denied'); t.notOk(anon.canRead('devices/dev-1/status')); t.ok(anon.canRead('$liveness/dev-1'))
  const dash = compileClientAcl(acl, { clientId: 'dash', username: 'dashboard' }, broker('dash'))
  t.equal(dash.subscribe('devices/#'), 'full'); t.equal(dash.subscribe('$SYS/#'), 'full'); t.notOk(dash.canWrite('devices/dev-1/commands'))
  const cmd = compileClientAcl(acl, { clientId: 'backend', username: 'commander' }, broker('backend'))
  t.ok(cmd.canWrite('devices/dev-1/commands')); t.equal(cmd.subscribe('devices/+/commands/ack'), 'full')
  t.notOk(cmd.canWrite('devices/dev-1/commands/ack'), 'acks only from the device')
})
