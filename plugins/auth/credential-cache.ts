/**
 * Credentials that verified recently, so a reconnect storm of honest devices
 * costs one HMAC each instead of a PBKDF2 each. Safe by construction: the
 * cache holds no password, only HMAC-SHA256 under a key made at start-up and
 * never written anywhere; an entry is tied to the password-file entry it was
 * verified against (a changed or reloaded file misses), compared in constant
 * time, and bounded (oldest first out). Failures are never cached.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { PasswordEntry } from './password-file.js'

interface Cached { entry: PasswordEntry, digest: Buffer }

export class CredentialCache {
  readonly #key = randomBytes(32)
  readonly #byUser = new Map<string, Cached>()
  readonly #max: number

  constructor (max = 100_000) { this.#max = max }

  #digest (password: Buffer): Buffer {
    return createHmac('sha256', this.#key).update(password).digest()
  }

  /** True only when this user verified with exactly this password against this very entry. */
  has (user: string, entry: PasswordEntry, password: Buffer): boolean {
    const cached = this.#byUser.get(user)
    if (cached === undefined || cached.entry !== entry) return false
    return timingSafeEqual(cached.digest, this.#digest(password))
  }

  remember (user: string, entry: PasswordEntry, password: Buffer): void {
    this.#byUser.delete(user)
    if (this.#byUser.size >= this.#max) {
      const oldest = this.#byUser.keys().next()
      if (oldest.done !== true) this.#byUser.delete(oldest.value)
    }
    this.#byUser.set(user, { entry, digest: this.#digest(password) })
  }

  clear (): void { this.#byUser.clear() }
  get size (): number { return this.#byUser.size }
}
