import './tracing';
import { serve } from '@im-repo/server-kit';
import { createServer, openGroupDeps } from './server';

void serve('group', async (ctx) => {
  const deps = await openGroupDeps(ctx);
  return { server: createServer(deps), close: deps.close };
});
