// Regenerates the configuration table in README.md from the one declaration of every setting.
import { readFileSync, writeFileSync } from 'node:fs';
import { configTable } from '../proxy/config.ts';

export const START = /<!-- config-table:start[^>]*-->\n/;
export const END = '<!-- config-table:end -->';

export function withTable(readme: string): string {
  const start = START.exec(readme);
  const end = readme.indexOf(END);
  if (start === null || end < 0) throw new Error('README.md lacks the config-table markers');
  return `${readme.slice(0, start.index + start[0].length)}${configTable()}\n${readme.slice(end)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync('README.md', withTable(readFileSync('README.md', 'utf8')));
}
