import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { collect, connectClient, subscribe, waitFor } from '../helpers/clients.js'
import { startBroker } from '../helpers/broker.js'
import { envWithoutVigil, VIGIL_MAIN, withoutTapHooks } from '../helpers/vigil-process.js'

// `npm test` builds first (pretest), so the CLI is tested as users run it.
const MAIN = VIGIL_MAIN
const cleanEnv = envWithoutVigil()

interface Ran { status: number | null, stdout: string, stderr: string }

/**
 * One CLI run to its exit. Asynchronous, so that a test's independent runs start together:
 * each is a Node start-up that mostly waits for a core on a loaded machine.
 */
const run = async (args: string[], env: Record<string, string> = {}): Promise<Ran> =>
  await exec(process.execPath, [MAIN, ...args], { env: { ...cleanEnv, ...env }, timeout: 20_000 })

const exec = async (cmd: string, args: string[], options: { env: NodeJS.ProcessEnv, timeout: number, cwd?: string }): Promise<Ran> => await new Promise((resolve, reject) => {
  const child = spawn(...withoutTapHooks(cmd, args), { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.once('error', reject)
  child.once('close', (status) => resolve({ status, stdout, stderr }))
})

const tmpFile = (name: string, text: string): string => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'))
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

t.test('--help and --version', async (t) => {
  const [help, version] = await Promise.all([run(['--help']), run(['--version'])])
  t.equal(help.status, 0)
  t.match(help.stdout, /vigil check-config FILE/)
  t.equal(version.status, 0)
  t.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/)
})

t.test('check-config validates and prints the effective config', async (t) => {
  const file = tmpFile('ok.yaml', 'mqtt:\n  port: 1999\nliveness:\n  silentAfter: 30s\n')
  const ok = await run(['check-config', file], { VIGIL_HTTP_PORT: '9999' })
  t.equal(ok.status, 0, ok.stderr)
  t.match(ok.stdout, /port: 1999/)
  t.match(ok.stdout, /silentAfter: 30s/)
  t.match(ok.stdout, /port: 9999/, 'env overrides apply')
})

t.test('bad config exits 2 with one line naming the key', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['unknown.yaml', 'mqtt:\n  portt: 1\n', /unknown key mqtt\.portt/],
    ['duration.yaml', 'liveness:\n  silentAfter: soon\n', /liveness\.silentAfter = "soon"/],
    ['port.yaml', 'mqtt:\n  port: 70000\n', /mqtt\.port = 70000/],
    ['json.json', '{"wills": {"tsUnit": "h"}}', /wills\.tsUnit = "h"/]
  ]
  const [env, ...results] = await Promise.all([run([], { VIGIL_MQTT_PORT: '-5' }), ...cases.map(async ([name, text]) => await run(['--config', file(name, text)]))])
  for (const [i, [name, , pattern]] of cases.entries()) {
    const result = results[i]!
    t.equal(result.status, 2, `${name} exits 2`)
    t.match(result.stderr, pattern)
    t.equal(result.stderr.trim().split('\n').length, 1, `${name}: one line`)
  }
  t.equal(env.status, 2)
  t.match(env.stderr, /mqtt\.port = -5/)
  function file (name: string, text: string): string { return tmpFile(name, text) }
})

t.test('SIGTERM on a running vigil exits 0 within 10 s and publishes the wills', async (t) => {
  const observer = await startBroker(t)
  void observer
  const file = tmpFile('run.yaml', 'mqtt:\n  port: 0\n  ws: null\nhttp:\n  port: 0\nlog:\n  level: info\n')
  const child: ChildProcess = spawn(...withoutTapHooks(process.execPath, [MAIN, '--config', file]), { env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let output = ''
  child.stdout!.on('data', (d: Buffer) => { output += d.toString() })
  const port = await waitFor(() => /"mqtt":(\d+)/.exec(output)?.[1], 10_000, 'the listening line')
  const url = `mqtt://127.0.0.1:${port}`
  const watcher = await connectClient(t, url, { clientId: 'watcher' })
  const received = collect(watcher)
  await subscribe(watcher, 'devices/+/status', 1)
  await connectClient(t, url, {
    clientId: 'dev-1',
    will: { topic: 'devices/dev-1/status', payload: Buffer.from('{"state":"offline","ts":0}'), qos: 1, retain: true }
  })
  const started = Date.now()
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  child.kill('SIGTERM')
  const code = await exited
  const elapsed = Date.now() - started
  t.equal(code, 0, 'exit code 0')
  t.ok(elapsed < 10_000, `stopped in ${elapsed} ms`)
  t.ok(received.some((m) => m.topic === 'devices/dev-1/status'), 'the connected client\'s will was published before exit')
  t.match(output, /shutdown complete/)
})

t.test('the compiled CLI exists (npm test builds it)', async (t) => {
  t.equal(spawnSync(process.execPath, ['--check', MAIN]).status, 0)
})

const REPO = fileURLToPath(new URL('../..', import.meta.url))

/** `npm start` as a user runs it (--ignore-scripts skips the prestart build: the suite built already). */
async function npmStart (t: Teardown, file: string): Promise<{ npm: ChildProcess, brokerPid: number, url: string, output: () => string }> {
  const npm = spawn(...withoutTapHooks('npm', ['start', '--ignore-scripts', '--silent']), { cwd: REPO, env: { ...cleanEnv, VIGIL_CONFIG: file },
    stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  npm.stdout!.on('data', (d: Buffer) => { output += d.toString() })
  npm.stderr!.on('data', (d: Buffer) => { output += d.toString() })
  let brokerPid = 0
  t.teardown(() => {
    npm.kill('SIGKILL')
    if (brokerPid > 0 && alive(brokerPid)) process.kill(brokerPid, 'SIGKILL')
  })
  const line = await waitFor(() => /\{[^\n]*"msg":"vigil listening"[^\n]*\}/.exec(output)?.[0], 20_000, 'the listening line')
  const listening = JSON.parse(line) as { pid: number, mqtt: number }
  brokerPid = listening.pid
  return { npm, brokerPid, url: `mqtt://127.0.0.1:${listening.mqtt}`, output: () => output }
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

import type { Teardown } from '../support/teardown.js'

t.test('SIGTERM to the npm process of `npm start` stops the broker cleanly, no orphan left', async (t) => {
  const file = tmpFile('npm.yaml', 'mqtt:\n  port: 0\n  ws: null\nhttp:\n  port: 0\nlog:\n  level: info\n')
  const { npm, brokerPid, url, output } = await npmStart(t, file)
  t.not(brokerPid, npm.pid, 'the broker is npm\'s child')
  const watcher = await connectClient(t, url, { clientId: 'npm-watcher' })
  const received = collect(watcher)
  await subscribe(watcher, 'devices/+/status', 1)
  await connectClient(t, url, {
    clientId: 'npm-dev',
    will: { topic: 'devices/npm-dev/status', payload: Buffer.from('{"state":"offline","ts":0}'), qos: 1, retain: true }
  })
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)))
  npm.kill('SIGTERM')
  t.equal(await exited, 0, 'npm exits 0: the broker shut down cleanly')
  await waitFor(() => !alive(brokerPid), 10_000, 'the broker process to be gone')
  t.ok(received.some((m) => m.topic === 'devices/npm-dev/status'), 'its clients\' wills went out first')
  t.match(output(), /shutdown complete/)
})

t.test('a broker whose npm parent is killed outright stops by itself within seconds', async (t) => {
  const file = tmpFile('npm-kill.yaml', 'mqtt:\n  port: 0\n  ws: null\nhttp:\n  port: 0\nlog:\n  level: info\n')
  const { npm, brokerPid } = await npmStart(t, file)
  npm.kill('SIGKILL')
  await waitFor(() => !alive(brokerPid), 10_000, 'the orphaned broker to stop')
  t.notOk(alive(brokerPid), 'no orphan keeps the ports')
})

t.test('arguments: --config FILE, --config=FILE, -c FILE; an unknown option or command exits 2 naming it', async (t) => {
  const file = tmpFile('args.yaml', 'mqtt:\n  port: 1998\n')
  const variants = [['check-config', file], ['check-config', '--config', file], ['check-config', `--config=${file}`], ['check-config', '-c', file]]
  const [unknown, command, missing, ...results] = await Promise.all([run(['--frobnicate']), run(['serve']), run(['--config']), ...variants.map(async (args) => await run(args))])
  for (const [i, args] of variants.entries()) {
    const result = results[i]!
    t.equal(result.status, 0, `${args.join(' ')}: ${result.stderr}`)
    t.match(result.stdout, /port: 1998/)
  }
  t.equal(unknown.status, 2)
  t.match(unknown.stderr, /^vigil: Unknown option '--frobnicate'\.\n/)
  t.equal(command.status, 2)
  t.match(command.stderr, /unknown command serve/)
  t.equal(missing.status, 2, '--config without its FILE')
})

t.test('config errors: all at once, a bad environment value named by its variable, did-you-mean', async (t) => {
  const file = tmpFile('good.yaml', 'mqtt:\n  maxConection: 5\n  port: 1883\nwills:\n  tsUnit: h\n')
  const result = await run(['--config', file], { VIGIL_HTTP_PORT: 'abc' })
  t.equal(result.status, 2)
  const lines = result.stderr.trim().split('\n')
  t.equal(lines.length, 3, result.stderr)
  t.ok(lines.every((l) => l.startsWith('vigil: ')), 'one line per problem')
  t.match(result.stderr, /environment VIGIL_HTTP_PORT: http\.port = "abc" is invalid/, 'the variable is named, not the file')
  t.notMatch(result.stderr, /good\.yaml: http\.port/)
  t.match(result.stderr, /good\.yaml: unknown key mqtt\.maxConection \(did you mean maxConnections\?/)
  t.match(result.stderr, /good\.yaml: wills\.tsUnit = "h"/)
})

t.test('global install and npx put a working `vigil` on the PATH (docs/cli.md)', async (t) => {
  const prefix = mkdtempSync(join(tmpdir(), 'vigil-global-'))
  const install = await exec('npm', ['install', '-g', '--prefix', prefix, REPO, '--no-audit', '--no-fund'], { env: cleanEnv, timeout: 60_000 })
  t.equal(install.status, 0, install.stderr)
  // After the install (it makes the freshly built bin executable, as a user's install would), the rest side by side.
  const [global, local, npx] = await Promise.all([
    exec(join(prefix, 'bin', 'vigil'), ['--version'], { env: cleanEnv, timeout: 20_000 }),
    run(['--version']),
    exec('npx', ['--yes', `--package=${REPO}`, 'vigil', '--help'], { cwd: tmpdir(), env: cleanEnv, timeout: 60_000 })
  ])
  t.equal(global.stdout.trim(), local.stdout.trim(), 'the installed bin runs')
  t.equal(npx.status, 0, npx.stderr)
  t.match(npx.stdout, /vigil check-config FILE/)
})

t.test('the shipped systemd unit is valid and runs the CLI as documented',
  { skip: spawnSync('systemd-analyze', ['--version']).error === undefined ? false : 'systemd-analyze not installed' }, async (t) => {
    const unit = join(REPO, 'config', 'vigil.service')
    const copy = join(mkdtempSync(join(tmpdir(), 'vigil-unit-')), 'vigil.service')
    writeFileSync(copy, readFileSync(unit))
    const verify = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' })
    t.equal(verify.status, 0, verify.stderr)
    t.equal(verify.stderr.trim(), '', 'no warnings')
    const text = readFileSync(unit, 'utf8')
    t.match(text, /^ExecStart=\/usr\/bin\/env vigil --config \/etc\/vigil\/vigil\.yaml$/m)
    t.match(text, /^ExecStartPre=\/usr\/bin\/env vigil check-config \/etc\/vigil\/vigil\.yaml$/m)
    t.match(text, /^RestartPreventExitStatus=2$/m, 'a bad config (exit 2) is not restarted in a loop')
  })
