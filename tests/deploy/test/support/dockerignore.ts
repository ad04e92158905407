import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A .dockerignore as Docker applies it to a build context: patterns are relative to the context
 * root, `*` stays within one path segment, `**` spans any number, and a pattern that matches a
 * directory excludes everything under it. Exceptions (`!`) are refused rather than half-supported.
 */
export class DockerIgnore {
  private readonly patterns: RegExp[];

  constructor(readonly lines: string[]) {
    this.patterns = lines.map((line) => {
      if (line.startsWith('!'))
        throw new Error(`.dockerignore exceptions are not supported: ${line}`);
      const glob = line.replace(/^\/+/, '').replace(/\/+$/, '');
      let re = '';
      for (let i = 0; i < glob.length; i++) {
        const c = glob[i]!;
        if (c === '*' && glob[i + 1] === '*') {
          re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
          i += glob[i + 2] === '/' ? 2 : 1;
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return new RegExp(`^${re}(?:/.*)?$`);
    });
  }

  static read(contextRoot: string): DockerIgnore {
    const text = readFileSync(join(contextRoot, '.dockerignore'), 'utf8');
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    return new DockerIgnore(lines);
  }

  /** `relPath` is relative to the context root, with forward slashes. */
  ignores(relPath: string): boolean {
    return relPath !== '' && this.patterns.some((re) => re.test(relPath));
  }
}
