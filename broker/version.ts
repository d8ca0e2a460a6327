/** The package version, from source (tests run the .ts) or from dist/. */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

let cached: string | null = null

export function packageVersion (): string {
  if (cached !== null) return cached
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'vigil' && typeof pkg.version === 'string') return (cached = pkg.version)
    } catch {}
  }
  return '0.0.0'
}
