import { runMigrateCli } from '@im-repo/db';
import { migrations } from './migrations';
import { MESSAGE_MODELS } from './message.models';

void runMigrateCli('message', migrations, process.argv.slice(2), MESSAGE_MODELS).then((code) => {
  process.exitCode = code;
});
