import { runMigrateCli } from '@im-repo/db';
import { migrations } from './migrations';
import { CONVERSATION_MODELS } from './conversation.models';

void runMigrateCli('conversation', migrations, process.argv.slice(2), CONVERSATION_MODELS).then(
  (code) => {
    process.exitCode = code;
  },
);
