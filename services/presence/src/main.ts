import './tracing';
import { serve } from '@im-repo/server-kit';
import { createServer, openPresenceDeps } from './server';

void serve('presence', async (ctx) => {
  const deps = await openPresenceDeps(ctx);
  return { server: createServer(deps), close: deps.close };
});
