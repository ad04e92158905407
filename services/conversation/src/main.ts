import './tracing';
import { serve } from '@im-repo/server-kit';
import { createServer, openConversationDeps } from './server';

void serve('conversation', async (ctx) => {
  const deps = await openConversationDeps(ctx);
  return { server: createServer(deps), close: deps.close };
});
