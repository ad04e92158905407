// Generates src/gen from the contract in /proto (the only copy) and ships those .proto files in
// protos/ so that servers can offer reflection without reaching outside this package.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const contract = join(pkg, '..', '..', 'proto');
const buf = join(pkg, 'node_modules', '.bin', 'buf');

rmSync(join(pkg, 'src', 'gen'), { recursive: true, force: true });
execFileSync(buf, ['generate', contract, '--template', 'buf.gen.yaml'], {
  cwd: pkg,
  stdio: 'inherit',
});
rmSync(join(pkg, 'protos'), { recursive: true, force: true });
cpSync(contract, join(pkg, 'protos'), { recursive: true });
