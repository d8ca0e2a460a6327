/**
 * Mosquitto-compatible password files, both ways (issue 14). A line is
 * `user:$7$<iterations>$<salt b64>$<hash b64>` (PBKDF2-HMAC-SHA512, what
 * mosquitto_passwd 2 writes) or `user:$6$<salt b64>$<hash b64>` (SHA-512 of the
 * password then the salt, what Mosquitto 1.6 wrote). Pure: no broker, no clock.
 * Hashing uses the asynchronous crypto API, which runs in libuv's thread pool:
 * a CONNECT flood queues there and never blocks the event loop.
 */
import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto'

export type PasswordEntry =
  | { readonly kind: 'pbkdf2', readonly iterations: number, readonly salt: Buffer, readonly hash: Buffer, readonly line: string }
  | { readonly kind: 'sha512', readonly salt: Buffer, readonly hash: Buffer, readonly line: string }

export interface PasswordFileProblem { line: number, message: string }

export interface ParsedPasswordFile {
  readonly users: ReadonlyMap<string, PasswordEntry>
  /** Lines that could not be read (the user on such a line can never log in). */
  readonly problems: readonly PasswordFileProblem[]
}

/** What mosquitto_passwd 2.0 uses: 12-byte salt, 64-byte hash, 101 iterations. */
export const DEFAULT_ITERATIONS = 101
const SALT_BYTES = 12
const HASH_BYTES = 64
const B64 = /^[A-Za-z0-9+/]+={0,2}$/

function decode (text: string): Buffer | null {
  return B64.test(text) ? Buffer.from(text, 'base64') : null
}

/** One hash field (after `user:`), or a message saying why it is unreadable. */
export function parseHash (field: string): PasswordEntry | string {
  const parts = field.split('$')
  // "$7$101$salt$hash".split('$') -> ['', '7', '101', 'salt', 'hash']
  if (parts[0] !== '') return 'not a hashed password (run mosquitto_passwd -U or vigil passwd)'
  if (parts[1] === '7' && parts.length === 5) {
    const iterations = Number(parts[2])
    const salt = decode(parts[3]!)
    const hash = decode(parts[4]!)
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > 10_000_000) return 'bad iteration count'
    if (salt === null || hash === null || hash.length === 0) return 'bad base64 in salt or hash'
    return { kind: 'pbkdf2', iterations, salt, hash, line: field }
  }
  if (parts[1] === '6' && parts.length === 4) {
    const salt = decode(parts[2]!)
    const hash = decode(parts[3]!)
    if (salt === null || hash === null || hash.length !== HASH_BYTES) return 'bad base64 in salt or hash'
    return { kind: 'sha512', salt, hash, line: field }
  }
  return 'unknown hash type (only $7$ and $6$ are read)'
}

/** Parse a whole file; blank lines and `#` comments are skipped, as Mosquitto does. */
export function parsePasswordFile (text: string): ParsedPasswordFile {
  const users = new Map<string, PasswordEntry>()
  const problems: PasswordFileProblem[] = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.trim() === '' || line.startsWith('#')) continue
    const colon = line.indexOf(':')
    if (colon <= 0) {
      problems.push({ line: i + 1, message: 'expected user:hash' })
      continue
    }
    const entry = parseHash(line.slice(colon + 1).trim())
    if (typeof entry === 'string') problems.push({ line: i + 1, message: entry })
    else users.set(line.slice(0, colon), entry)
  }
  return { users, problems }
}

function pbkdf2Async (password: Buffer, salt: Buffer, iterations: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, length, 'sha512', (err, key) => { if (err !== null) reject(err); else resolve(key) })
  })
}

/** Whether `password` is the one `entry` was made from; constant time in the hash. */
export async function verifyPassword (entry: PasswordEntry, password: Buffer): Promise<boolean> {
  const actual = entry.kind === 'pbkdf2'
    ? await pbkdf2Async(password, entry.salt, entry.iterations, entry.hash.length)
    : createHash('sha512').update(password).update(entry.salt).digest()
  return actual.length === entry.hash.length && timingSafeEqual(actual, entry.hash)
}

/** A `$7$` field for a new password (random salt), as mosquitto_passwd writes it. */
export async function hashPassword (password: Buffer, iterations = DEFAULT_ITERATIONS): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const hash = await pbkdf2Async(password, salt, iterations, HASH_BYTES)
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`
}

/** A user name a password file can hold: Mosquitto splits on the first ':'. */
export function validUsername (user: string): boolean {
  return user.length > 0 && user.length <= 65535 && !user.includes(':') && !/[\r\n\0]/.test(user)
}

/**
 * The file with `user` set to `field` (or removed with null), every other line
 * (comments included) kept as it was. Returns the text and whether the user existed.
 */
export function updatePasswordFile (text: string, user: string, field: string | null): { text: string, existed: boolean } {
  const lines = text === '' ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/)
  let existed = false
  const out: string[] = []
  for (const line of lines) {
    if (!line.startsWith('#') && line.slice(0, line.indexOf(':')) === user && line.indexOf(':') > 0) {
      if (field !== null && !existed) out.push(`${user}:${field}`)
      existed = true
      continue
    }
    out.push(line)
  }
  if (!existed && field !== null) out.push(`${user}:${field}`)
  return { text: out.length === 0 ? '' : out.join('\n') + '\n', existed }
}
