import { runMigrateCli } from '@im-repo/db';
import { migrations } from './migrations';
import { USER_MODELS } from './user.models';

void runMigrateCli('user', migrations, process.argv.slice(2), USER_MODELS).then((code) => {
  process.exitCode = code;
});
