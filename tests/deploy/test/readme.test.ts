import { configKeys, DEFAULT_PORTS, SERVICES } from '@im-repo/config';
import { expect } from 'chai';
import { readRepoFile } from './support/repo';

// The READMEs are the operators' reference: they must not fall behind the config schema.
describe('README configuration tables', () => {
  for (const file of ['README.md', 'README.zh-CN.md']) {
    describe(file, () => {
      const text = readRepoFile(file);
      const rows = new Map(
        text
          .split('\n')
          .filter((line) => /^\| `[A-Z0-9_]+` /.test(line))
          .map((line) => {
            const cells = line.split('|').map((c) => c.trim());
            return [cells[1]!.replace(/`/g, ''), cells] as const;
          }),
      );

      it('lists every env variable of the schema with its file key and default', () => {
        for (const key of configKeys()) {
          const row = rows.get(key.env);
          expect(row, `${key.env} missing from ${file}`).to.not.equal(undefined);
          expect(row![2], key.env).to.equal(`\`${key.path}\``);
          const shown =
            key.shownDefault === '""' ? '(empty)' : key.shownDefault.replace(/^"|"$/g, '');
          expect(row![3]!.replace(/`/g, ''), key.env).to.equal(shown.replace(/`/g, ''));
        }
      });

      it('lists no env variable the schema does not know', () => {
        const known = new Set(configKeys().map((k) => k.env));
        expect([...rows.keys()].filter((env) => !known.has(env))).to.deep.equal([]);
      });

      it('gives every service its default ports', () => {
        for (const s of SERVICES) {
          expect(text, s).to.include(String(DEFAULT_PORTS[s].grpc));
          expect(text, s).to.include(String(DEFAULT_PORTS[s].metrics));
        }
      });
    });
  }
});
