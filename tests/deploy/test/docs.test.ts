import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect } from 'chai';
import { ROOT as repoRoot } from './support/repo';

// The docs must stand alone in a clone: every relative link and anchor resolves, nothing points
// outside the repository, and every error reason the code can send is in docs/errors.md.

const SKIP = new Set(['node_modules', '.git', 'dist', '.turbo', 'coverage', 'results', '.data']);

function files(dir: string, accept: (name: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(path, accept, out);
    else if (accept(name)) out.push(path);
  }
  return out;
}

/** Text without fenced code blocks and inline code, where brackets are not links. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1 for repeats. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const text = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const [, heading] of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = heading!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

const markdownFiles = files(repoRoot, (name) => name.endsWith('.md'));

describe('documentation links', () => {
  it('finds the READMEs and docs', () => {
    const names = markdownFiles.map((f) => relative(repoRoot, f));
    expect(names).to.include.members([
      'README.md',
      'README.zh-CN.md',
      'docs/API.md',
      'docs/errors.md',
    ]);
  });

  for (const file of markdownFiles) {
    const name = relative(repoRoot, file);
    it(`${name}: every relative link and anchor resolves inside the repository`, () => {
      const text = readFileSync(file, 'utf8');
      const broken: string[] = [];
      for (const [, target] of prose(text).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue; // http:, https:, mailto:
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const resolved = path === '' ? file : resolve(dirname(file), decodeURI(path));
        if (relative(repoRoot, resolved).startsWith('..')) {
          broken.push(`${target} (outside the repository)`);
          continue;
        }
        if (!existsSync(resolved)) {
          broken.push(`${target} (no such file)`);
          continue;
        }
        if (
          anchor &&
          resolved.endsWith('.md') &&
          !anchors(readFileSync(resolved, 'utf8')).has(anchor)
        ) {
          broken.push(`${target} (no such heading)`);
        }
      }
      expect(broken, name).to.deep.equal([]);
    });
  }

  it('nothing points outside the clone (the team design folder) or at an API.md that is not docs/API.md', () => {
    const texts = [
      ...markdownFiles,
      ...files(join(repoRoot, 'proto'), (n) => n.endsWith('.proto')),
    ];
    const offenders: string[] = [];
    for (const file of texts) {
      const text = readFileSync(file, 'utf8');
      const name = relative(repoRoot, file);
      if (/shared\/design/.test(text)) offenders.push(`${name}: shared/design`);
      // docs/API.md itself and links to it ("](API.md", "](../../docs/API.md") are fine.
      for (const m of text.matchAll(/(^|[^/\w(.-])API\.md/gm)) {
        offenders.push(`${name}: "${text.slice(Math.max(0, m.index - 20), m.index + 8).trim()}"`);
      }
    }
    expect(offenders).to.deep.equal([]);
  });
});

describe('docs/errors.md', () => {
  const catalogue = readFileSync(join(repoRoot, 'docs', 'errors.md'), 'utf8');
  // Reasons are the backticked names in the tables' rows.
  const rows = catalogue.split('\n').filter((line) => line.startsWith('|'));
  const listed = new Set(
    rows.flatMap((row) => [...row.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!)),
  );

  it('lists every reason the code can send', () => {
    const sources = [
      ...files(join(repoRoot, 'packages'), (n) => n.endsWith('.ts') && !n.endsWith('.test.ts')),
      ...files(join(repoRoot, 'services'), (n) => n.endsWith('.ts') && !n.endsWith('.test.ts')),
    ].filter((f) => /[/\\]src[/\\]/.test(f) && !/[/\\]gen[/\\]/.test(f));
    const reasons = new Set<string>();
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      // new XxxError('REASON', ...), AppError(Code.X, 'REASON', ...), InvalidArgumentError(field,
      // message, 'REASON') and { reason: 'REASON' } tables.
      for (const m of text.matchAll(/new [A-Za-z]*Error\(\s*'([A-Z][A-Z0-9_]+)'/g))
        reasons.add(m[1]!);
      for (const m of text.matchAll(/AppError\(\s*Code\.[A-Z_]+,\s*'([A-Z][A-Z0-9_]+)'/g))
        reasons.add(m[1]!);
      for (const m of text.matchAll(/InvalidArgumentError\([^;]*?,\s*'([A-Z][A-Z0-9_]+)',?\s*\)/g))
        reasons.add(m[1]!);
      for (const m of text.matchAll(/reason: '([A-Z][A-Z0-9_]+)'/g)) reasons.add(m[1]!);
      for (const m of text.matchAll(/Error\(\s*\n\s*'([A-Z][A-Z0-9_]+)'/g)) reasons.add(m[1]!);
    }
    expect(reasons.size, 'reasons found in the code').to.be.greaterThan(20);
    const missing = [...reasons].filter((r) => !listed.has(r));
    expect(missing, 'reasons missing from docs/errors.md').to.deep.equal([]);
  });

  it('lists the reasons the contract names', () => {
    for (const reason of [
      'OVERLOADED',
      'TOO_MANY_STREAMS',
      'CALLER_NOT_ALLOWED',
      'MESSAGE_EXPIRED',
    ]) {
      expect(listed.has(reason), reason).to.equal(true);
    }
  });
});
