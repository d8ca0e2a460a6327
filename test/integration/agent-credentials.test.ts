/**
 * --username / --password-file against a broker that requires them. Vigil's
 * password file support lives in plugins/auth; this test uses Mosquitto (a
 * third-party broker, from PATH) so the agent's side is checked on its own.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startAgent } from '../helpers/agent.js'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { freePort } from '../support/ports.js'

t.test('with --username and --password-file the agent logs in; a wrong password is refused and retried', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-agent-cred-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const passwords = join(dir, 'passwd')
  execFileSync('mosquitto_passwd', ['-b', '-c', passwords, 'gw', 's3cret pass'], { stdio: 'ignore' })
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  // `user`: started as root, Mosquitto would switch to its own user, which cannot read our temp dir.
  writeFileSync(conf, `user ${userInfo().username}\nlistener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${passwords}\npersistence false\n`)
  let log = ''
  const mosquitto = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  mosquitto.stderr.on('data', (d: Buffer) => { log += d.toString() })
  t.teardown(() => { mosquitto.kill('SIGKILL') })
  const url = `mqtt://127.0.0.1:${port}`
  let failure: unknown = null
  const obs = await waitFor(() => connectClient(t, url, { clientId: 'obs-cred', username: 'gw', password: 's3cret pass' }).catch((err: unknown) => { failure = err; return null }),
    10_000, 'mosquitto to start', 100).catch(() => { throw new Error(`mosquitto did not start: ${String(failure)}; its log: ${log}`) })
  const seen = collect(obs)
  await obs.subscribeAsync('devices/#', { qos: 1 })

  const good = join(dir, 'good')
  writeFileSync(good, 's3cret pass\n')
  startAgent(t, { id: 'gw-cred', port, interval: 1, extra: ['--username', 'gw', '--password-file', good] })
  await waitFor(() => seen.find((m) => m.topic === 'devices/gw-cred/status'), 5000, 'birth with credentials')

  const bad = join(dir, 'bad')
  writeFileSync(bad, 'wrong\n')
  const refused = startAgent(t, { id: 'gw-cred-bad', port, interval: 1, extra: ['--username', 'gw', '--password-file', bad, '--reconnect-max', '0.3'] })
  await waitFor(() => (refused.stderr().match(/connection refused/g) ?? []).length >= 2 ? true : null, 5000, 'two refusals')
  t.match(refused.stderr(), /connection refused: Connection Refused: (not authorised|bad user name or password)/)
  t.notOk(refused.stderr().includes('wrong'), 'the password is never logged')
  t.notOk(seen.some((m) => m.topic.startsWith('devices/gw-cred-bad/')), 'nothing published without a login')
})
