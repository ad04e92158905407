import { expect } from 'chai';
import { cacheErrorLog } from '../src';

describe('cacheErrorLog', () => {
  it('warns once per op and interval, then reports how many it suppressed', async () => {
    const lines: { message: string; meta?: Record<string, unknown> }[] = [];
    const log = cacheErrorLog({ warn: (message, meta) => lines.push({ message, meta }) }, 'x', 50);
    for (let i = 0; i < 5; i++) log(new Error('down'), 'get');
    log('not an Error', 'fill');
    expect(lines).to.deep.equal([
      { message: 'x', meta: { op: 'get', error: 'down', suppressed: 0 } },
      { message: 'x', meta: { op: 'fill', error: 'not an Error', suppressed: 0 } },
    ]);
    await new Promise((r) => setTimeout(r, 60));
    log(new Error('still down'), 'get');
    expect(lines[2]).to.deep.equal({
      message: 'x',
      meta: { op: 'get', error: 'still down', suppressed: 4 },
    });
  });
});
