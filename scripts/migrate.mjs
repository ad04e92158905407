#!/usr/bin/env node
// pnpm migrate <service|all> status|up|down: runs each service's own migrate entry point
// (services/<name>/dist/migrate.js). Services without a database (presence) have none.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [target, command] = process.argv.slice(2);
const services = readdirSync(join(root, 'services')).sort();
const usage = `usage: pnpm migrate <${['all', ...services].join('|')}> status|up|down`;

if (!target || !['status', 'up', 'down'].includes(command ?? '')) {
  process.stderr.write(`${usage}\n`);
  process.exit(2);
}
if (target !== 'all' && !services.includes(target)) {
  process.stderr.write(`unknown service ${target}\n${usage}\n`);
  process.exit(2);
}
const selected = target === 'all' ? services : [target];
let failed = false;
for (const service of selected) {
  const entry = join(root, 'services', service, 'dist', 'migrate.js');
  const source = join(root, 'services', service, 'src', 'migrate.ts');
  if (!existsSync(source)) {
    if (target !== 'all') process.stdout.write(`[${service}] has no database\n`);
    continue;
  }
  if (!existsSync(entry)) {
    process.stderr.write(`[${service}] not built: run pnpm build first\n`);
    failed = true;
    continue;
  }
  const result = spawnSync(process.execPath, [entry, command], {
    stdio: 'inherit',
    env: process.env,
  });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
