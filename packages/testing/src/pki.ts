import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LeafSpec {
  /** File name stem and, unless cn is given, the subject CN. */
  name: string;
  cn?: string;
  /** subjectAltName, e.g. `DNS:message,IP:127.0.0.1`; none when left out. */
  san?: string;
}

export interface Pki {
  dir: string;
  /** The CA certificate file. */
  ca: string;
  cert(name: string): { cert: string; key: string };
  remove(): void;
}

/** A throwaway CA (openssl) and leaf certificates signed by it, in a temp dir. */
export function createPki(leaves: LeafSpec[]): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'im-pki-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  for (const leaf of leaves) {
    const ext = leaf.san ? [`subjectAltName=${leaf.san}`] : [];
    writeFileSync(
      join(dir, `${leaf.name}.ext`),
      `${['basicConstraints=CA:FALSE', ...ext].join('\n')}\n`,
    );
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${leaf.cn ?? leaf.name}`,
      '-keyout',
      `${leaf.name}.key`,
      '-out',
      `${leaf.name}.csr`,
    );
    ssl(
      'x509',
      '-req',
      '-in',
      `${leaf.name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      `${leaf.name}.ext`,
      '-out',
      `${leaf.name}.crt`,
    );
  }
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    cert: (name) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
