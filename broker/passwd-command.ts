/**
 * `vigil passwd FILE USER` (password from a prompt, or one line of stdin with
 * `--stdin`) and `vigil passwd --delete FILE USER`: writes `$7$` lines that
 * Mosquitto reads, keeping every other line of FILE. The password is never
 * echoed, logged or written in clear; the file is replaced atomically and
 * created mode 0600.
 */
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { dirname, basename, join } from 'node:path'
import { hashPassword, updatePasswordFile, validUsername } from '../plugins/auth/password-file.js'

export const PASSWD_USAGE = `Usage:
  vigil passwd FILE USER            add USER or change its password (prompted twice)
  vigil passwd --stdin FILE USER    the same, the password read from the first line of stdin
  vigil passwd --delete FILE USER   remove USER
Lines are Mosquitto's "user:$7$..." (PBKDF2-SHA512): mosquitto_passwd files work both ways.`

class UsageError extends Error {}

async function readStdinLine (): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer)
    if ((chunk as Buffer).includes(10)) break
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? ''
}

/** Read a password from the terminal without echoing it. */
async function prompt (question: string): Promise<string> {
  const stdin = process.stdin
  if (!stdin.isTTY) throw new UsageError('no terminal to prompt on: use --stdin')
  process.stderr.write(question)
  stdin.setRawMode(true)
  stdin.resume()
  return await new Promise((resolve, reject) => {
    let value = ''
    const onData = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done()
          return resolve(value)
        }
        if (ch === '\u0003') { done(); return reject(new UsageError('interrupted')) }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else value += ch
      }
    }
    const done = (): void => {
      stdin.removeListener('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
    }
    stdin.on('data', onData)
  })
}

function writeAtomically (file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`)
  const mode = existsSync(file) ? statSync(file).mode & 0o777 : 0o600
  writeFileSync(tmp, text, { mode })
  chmodSync(tmp, mode)
  renameSync(tmp, file)
}

/** Runs the subcommand; returns the exit code (2 for bad usage). */
export async function passwdCommand (argv: readonly string[]): Promise<number> {
  const flags = argv.filter((a) => a.startsWith('-'))
  const positional = argv.filter((a) => !a.startsWith('-'))
  try {
    for (const flag of flags) if (flag !== '--stdin' && flag !== '--delete' && flag !== '-D') throw new UsageError(`unknown option ${flag}`)
    if (positional.length !== 2) throw new UsageError('expected FILE and USER')
    const [file, user] = positional as [string, string]
    if (!validUsername(user)) throw new UsageError('a user name may not be empty or contain ":" or a line break')
    const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
    if (flags.includes('--delete') || flags.includes('-D')) {
      const result = updatePasswordFile(text, user, null)
      if (!result.existed) {
        process.stderr.write(`vigil passwd: user ${user} is not in ${file}\n`)
        return 1
      }
      writeAtomically(file, result.text)
      return 0
    }
    let password: string
    if (flags.includes('--stdin')) {
      password = await readStdinLine()
    } else {
      password = await prompt('Password: ')
      if (await prompt('Reenter password: ') !== password) throw new UsageError('passwords do not match')
    }
    if (password.length === 0) throw new UsageError('the password may not be empty')
    const field = await hashPassword(Buffer.from(password, 'utf8'))
    writeAtomically(file, updatePasswordFile(text, user, field).text)
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`vigil passwd: ${err.message}\n${PASSWD_USAGE}\n`)
      return 2
    }
    process.stderr.write(`vigil passwd: ${(err as Error).message}\n`)
    return 1
  }
}
