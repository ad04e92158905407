import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/** The repository root: every deployment file is read from here. */
export const ROOT = resolve(__dirname, '..', '..', '..', '..');

export const repoPath = (...parts: string[]) => join(ROOT, ...parts);

export const readRepoFile = (...parts: string[]) => readFileSync(repoPath(...parts), 'utf8');

/** YAML with merge keys (`<<: *anchor`), as docker compose reads it. */
export const parseYaml = (text: string): unknown => parse(text, { merge: true });

export function parseYamlDocuments(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('; '));
      return doc.toJS() as Record<string, unknown> | null;
    })
    .filter((doc): doc is Record<string, unknown> => doc !== null);
}

/** Whether a command runs here (`<cmd> <args>` exits 0), for optional validators. */
export function commandWorks(cmd: string, args: string[]): boolean {
  const result = spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 });
  return result.status === 0;
}

export type Json = Record<string, unknown>;

/** Reads a nested object member, failing with the path when a level is missing. */
export function at<T = unknown>(value: unknown, ...path: (string | number)[]): T {
  let node = value;
  for (const [i, key] of path.entries()) {
    if (node === null || typeof node !== 'object' || !(key in node)) {
      throw new Error(`missing ${path.slice(0, i + 1).join('.')}`);
    }
    node = (node as Record<string | number, unknown>)[key];
  }
  return node as T;
}
