/**
 * Test TLS material generated at test time with openssl (no committed keys).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

interface Teardown { teardown(fn: () => unknown): void }

export interface TestCerts { cert: string, key: string, certPem: Buffer }

export function makeCerts (t: Teardown): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-certs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const key = join(dir, 'key.pem')
  const cert = join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' })
  return { cert, key, certPem: readFileSync(cert) }
}
