/**
 * The fleet page's static files (plugins/page/static/): plain HTML, CSS and
 * ES modules, served as they are. tsc copies only .ts into dist/, so the
 * folder is looked up beside this module (running from source, as the tests
 * do) and then in the source tree from dist/plugins/page/ (`npm start`); the
 * Dockerfile copies the folder next to dist/ for the same lookup.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml'
}

export interface StaticFile { body: Buffer, type: string }

export function staticDir (): string {
  for (const rel of ['./static/', '../../../plugins/page/static/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url))
    if (existsSync(join(dir, 'index.html'))) return dir
  }
  throw new Error('fleet page files not found (plugins/page/static/index.html beside the source or dist tree)')
}

/** Every file of the folder, read once at start-up: a handful of small files, no disk I/O per request. */
export function loadStaticFiles (dir: string = staticDir()): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>()
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)]
    if (type === undefined) continue
    files.set(name, { body: readFileSync(join(dir, name)), type })
  }
  return files
}
