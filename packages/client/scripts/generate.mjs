// Generates src/gen from the contract in /proto (the only copy) with buf + ts-proto. Runs before
// build and before `pnpm pack`, so the published tarball carries the generated code.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
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
