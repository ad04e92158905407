import './tracing';
import { serve } from '@im-repo/server-kit';
import { createServer, openUserDeps } from './server';

void serve('user', async (ctx) => {
  const deps = await openUserDeps(ctx);
  return { server: createServer(deps), close: deps.close };
});
