import { runMigrateCli } from '@im-repo/db';
import { migrations } from './migrations';
import { GROUP_MODELS } from './group.models';

void runMigrateCli('group', migrations, process.argv.slice(2), GROUP_MODELS).then((code) => {
  process.exitCode = code;
});
