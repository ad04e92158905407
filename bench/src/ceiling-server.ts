// The "ceiling" baseline: a bare grpc-js server answering GetUser with a constant user, no
// framework, no storage. Run as its own process so its CPU can be read from /proc.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { UserServiceService } from '@im-repo/proto/user';

const user = {
  userId: '01JCEILING00000000000000000',
  username: 'ceiling',
  nickname: 'ceiling',
  avatarUrl: '',
  createdAt: new Date(0),
  updatedAt: new Date(0),
};
const server = new Server();
const notUsed = (_call: unknown, cb: (e: Error) => void) => cb(new Error('not used'));
server.addService(UserServiceService, {
  getUser: (_call: unknown, cb: (e: null, r: unknown) => void) => cb(null, { user }),
  register: notUsed,
  login: notUsed,
  batchGetUsers: notUsed,
  updateUser: notUsed,
  changePassword: notUsed,
  deleteUser: notUsed,
});
server.bindAsync(`127.0.0.1:${process.argv[2]}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
