import { runMigrateCli } from '@im-repo/db';
import { migrations } from './migrations';

void runMigrateCli('conversation', migrations, process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
