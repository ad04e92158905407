import { runMigrateCli } from '@im-repo/db';
import { migrations } from './migrations';

void runMigrateCli('message', migrations, process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
