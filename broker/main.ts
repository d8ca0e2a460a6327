#!/usr/bin/env node
/**
 * The `vigil` CLI: parse args, load config, start, handle signals, exit codes.
 * Exit 2: bad usage or bad config (one line naming the key). Exit 1: start-up
 * failure. Exit 0: clean shutdown on SIGTERM/SIGINT.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatConfig, loadConfig } from '../config/load.js'
import { errorMessage, VigilError } from './errors.js'
import { passwdCommand } from './passwd-command.js'
import { createLogger } from './logger.js'
import { isWorker, runPrimary, WORKER_INDEX_ENV, workerMetrics, workerNodeId } from './workers.js'

/** A hung flush must not keep a stopping process alive past the orchestrator's patience. */
const SHUTDOWN_DEADLINE_MS = 9500

const USAGE = `Usage:
  vigil [--config FILE]        start the broker (or VIGIL_CONFIG=FILE)
  vigil --workers N [...]      N broker processes sharing the ports (needs persistence.redis)
  vigil check-config FILE      validate FILE (+ VIGIL_* env) and print the effective config
  vigil passwd [--stdin|--delete] FILE USER   manage a Mosquitto-compatible password file
  vigil --help | --version

Config: YAML or JSON; environment overrides VIGIL_<KEY_PATH>, e.g. VIGIL_MQTT_PORT=1884,
VIGIL_LIVENESS_SILENT_AFTER=30s, VIGIL_PERSISTENCE_REDIS=redis://127.0.0.1:6379.
See config/default.yaml for every key and its default.`

function version (): string {
  const pkgPath = fileURLToPath(new URL('../../package.json', import.meta.url))
  return (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version
}

function fail (code: number, message: string): never {
  process.stderr.write(`vigil: ${message}\n`)
  process.exit(code)
}

interface Command { kind: 'run' | 'check' | 'help' | 'version', file: string | undefined, workers?: string | undefined }

/** node:util parseArgs: `vigil [--config FILE] [--workers N]`, `vigil check-config FILE`, --help, --version. */
function parseCommand (argv: string[]): Command {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        workers: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' }
      }
    })
  } catch (err) {
    fail(2, `${errorMessage(err).replace(/\. To specify[^]*$/, '.')}\n${USAGE}`)
  }
  const { values, positionals } = parsed
  if (values.help === true) return { kind: 'help', file: undefined }
  if (values.version === true) return { kind: 'version', file: undefined }
  const [command, ...rest] = positionals
  if (command === undefined) return { kind: 'run', file: values.config, workers: values.workers }
  if (command !== 'check-config') fail(2, `unknown command ${command}\n${USAGE}`)
  const file = rest[0] ?? values.config
  if (file === undefined) fail(2, 'check-config needs a FILE')
  if (rest.length > 1) fail(2, `unexpected argument ${rest[1]!}`)
  return { kind: 'check', file }
}

export async function main (argv: string[]): Promise<void> {
  if (argv[0] === 'passwd') process.exit(await passwdCommand(argv.slice(1)))
  const command = parseCommand(argv)
  if (command.kind === 'help') {
    process.stdout.write(USAGE + '\n')
    return
  }
  if (command.kind === 'version') {
    process.stdout.write(version() + '\n')
    return
  }
  const file = command.file
  const checkOnly = command.kind === 'check'
  if (command.workers !== undefined) {
    // Through the environment so it is validated like the key, and the workers inherit it.
    process.env.VIGIL_CLUSTER_WORKERS = command.workers
  }

  let config
  try {
    config = loadConfig({ file })
  } catch (err) {
    // Every problem at once, one line each (config/load.ts).
    fail(2, errorMessage(err).split('\n').join('\nvigil: '))
  }
  if (checkOnly) {
    process.stdout.write(formatConfig(config))
    return
  }

  if (config.cluster.workers > 1 && !isWorker()) {
    const log = createLogger(config.log.level).child({ role: 'primary' })
    process.exit(await runPrimary(config.cluster.workers, log))
  }
  // Loaded only to run: --help, --version, check-config and a bad config answer without it (a third of the start-up).
  const { createVigil } = await import('./server.js')
  const vigil = isWorker()
    ? createVigil({ ...config, node: { id: workerNodeId(config, process.ppid, Number(process.env[WORKER_INDEX_ENV])) } },
      { scrape: workerMetrics })
    : createVigil(config)
  try {
    await vigil.start()
  } catch (err) {
    const code = err instanceof VigilError ? err.code : 'VIGIL_E_LISTEN'
    vigil.log.fatal({ code, err: errorMessage(err) }, 'start-up failed')
    fail(err instanceof VigilError && err.code === 'VIGIL_E_CONFIG' ? 2 : 1, `${code}: ${errorMessage(err)}`)
  }

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    vigil.log.info({ signal }, 'shutting down')
    const deadline = setTimeout(() => {
      vigil.log.error({ code: 'VIGIL_E_SHUTDOWN' }, 'shutdown deadline passed; exiting without a complete flush')
      process.exit(1)
    }, SHUTDOWN_DEADLINE_MS)
    deadline.unref()
    vigil.close().then(() => {
      vigil.log.info('shutdown complete')
      vigil.log.flush?.()
      process.exit(0)
    }, (err) => {
      vigil.log.error({ code: 'VIGIL_E_SHUTDOWN', err: errorMessage(err) }, 'shutdown failed')
      process.exit(1)
    })
  }
  // A dependency's forgotten promise must not end a broker serving a fleet: Node's default for
  // an unhandled rejection is to exit. Logged with its code and counted as a core plugin error.
  process.on('unhandledRejection', (reason) => {
    vigil.reportError(reason, 'unhandled promise rejection (kept running)')
  })
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  // Re-read auth.passwordFile and auth.aclFile; a bad file keeps the old one (logged).
  process.on('SIGHUP', () => {
    vigil.services.maybe('auth')?.reload().catch((err) => vigil.log.error({ code: 'VIGIL_E_CONFIG', err: errorMessage(err) }, 'reload failed; old auth files kept'))
  })
  watchParent(stop)
}

/**
 * Under `npm start`, a SIGTERM to npm must stop the broker too. The start
 * script execs node (no shell in between to swallow the signal) and npm passes
 * the signal on; if npm goes away without doing so (killed, or an npm that
 * does not forward), the broker is re-parented: it notices within a second
 * and stops as on SIGTERM, instead of running on as an orphan.
 */
function watchParent (stop: (signal: string) => void): void {
  if (process.env.npm_lifecycle_event === undefined) return
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer)
      stop('parent exited')
    }
  }, 1000)
  timer.unref()
}

main(process.argv.slice(2)).catch((err) => fail(1, errorMessage(err)))
