import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { expect } from 'chai';
import { readRepoFile, repoPath } from './support/repo';

// Repository-wide rules that no single package's tests can see.

/** Every .ts file under dir (generated code excluded). */
function sources(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const file = join(dir, name);
    if (name === 'gen' || name === 'node_modules') return [];
    if (statSync(file).isDirectory()) return sources(file);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [file] : [];
  });
}

/**
 * The relative imports of a module that exist at run time, resolved to files. Type-only imports
 * are left out: they are erased by tsc, so they cannot make a load-order cycle.
 */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const targets = [
    ...text.matchAll(/(?:import|export)(?!\s+type\s)[^'";]*?from\s+'(\.[^']+)'/g),
  ].map((m) => m[1]!);
  return targets
    .map((spec) => resolve(dirname(file), spec))
    .map((base) =>
      [`${base}.ts`, join(base, 'index.ts')].find((candidate) => existsSync(candidate)),
    )
    .filter((found): found is string => found !== undefined);
}

/** The first import cycle found among files, as a list of files, or null. */
function findCycle(files: string[]): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): string[] | null => {
    if (state.get(file) === 'done') return null;
    if (state.get(file) === 'open') return [...stack.slice(stack.indexOf(file)), file];
    state.set(file, 'open');
    stack.push(file);
    for (const next of relativeImports(file)) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(file, 'done');
    return null;
  };
  for (const file of files) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return null;
}

describe('repository hygiene', () => {
  it('turbo.json lists the root files every task depends on, so editing them invalidates the cache', () => {
    const turbo = JSON.parse(readRepoFile('turbo.json')) as { globalDependencies?: string[] };
    expect(turbo.globalDependencies).to.include.members([
      'tsconfig.base.json',
      'tsconfig.models.json',
      'eslint.config.mjs',
    ]);
    for (const file of turbo.globalDependencies ?? []) {
      expect(existsSync(repoPath(file)), `${file} exists`).to.equal(true);
    }
  });

  for (const group of ['packages', 'services']) {
    for (const name of readdirSync(repoPath(group))) {
      const src = repoPath(group, name, 'src');
      if (!existsSync(src)) continue;
      it(`${group}/${name}/src has no import cycle`, () => {
        const cycle = findCycle(sources(src));
        expect(cycle?.map((f) => f.slice(src.length + 1)).join(' -> ') ?? null).to.equal(null);
      });
    }
  }
});
