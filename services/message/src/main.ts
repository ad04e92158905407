import './tracing';
import { serve } from '@im-repo/server-kit';
import { createServer, openMessageDeps } from './server';

void serve('message', async (ctx) => {
  const deps = await openMessageDeps(ctx);
  return { server: createServer(deps), close: deps.close };
});
