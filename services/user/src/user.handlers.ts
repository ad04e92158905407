import { preEncoded, type ServiceHandlers, validate } from '@im-repo/server-kit';
import { InvalidArgumentError } from '@im-repo/errors';
import type { GetUserResponse, UserServiceService } from '@im-repo/proto/user';
import type { UserDomain } from './user.domain';
import { toProto } from './user.mapping';

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
const MAX_BATCH = 500;

function username(field: string, value: string): string {
  if (!value) throw new InvalidArgumentError(field, `${field} is required`);
  if (!USERNAME.test(value)) {
    throw new InvalidArgumentError(
      field,
      `${field} must be 3-32 characters of A-Z, a-z, 0-9, _ . -`,
    );
  }
  return value;
}

const password = (field: string, value: string) => validate.text(field, value, 8, 128);
const nickname = (value: string) => validate.text('nickname', value, 1, 64);
const avatarUrl = (value: string) => validate.text('avatar_url', value, 0, 1024);

/** gRPC layer: validates requests, calls the domain, maps records to proto. */
export function createUserHandlers(domain: UserDomain): ServiceHandlers<typeof UserServiceService> {
  return {
    async register(req) {
      const user = await domain.register({
        userId: validate.optionalId('user_id', req.userId),
        username: username('username', req.username),
        password: password('password', req.password),
        nickname: req.nickname === '' ? '' : nickname(req.nickname),
        avatarUrl: avatarUrl(req.avatarUrl),
      });
      return { user: toProto(user) };
    },

    async login(req) {
      // Shape checks reveal nothing about which users exist: only emptiness is rejected.
      if (!req.username) throw new InvalidArgumentError('username', 'username is required');
      if (!req.password) throw new InvalidArgumentError('password', 'password is required');
      // A username no account can have gets the same answer as a wrong password.
      const user = await domain.login(req.username, req.password, USERNAME.test(req.username));
      return { user: toProto(user) };
    },

    async getUser(req) {
      const answer = await domain.getUserEncoded(validate.id('user_id', req.userId));
      return preEncoded<GetUserResponse>(answer);
    },

    async batchGetUsers(req) {
      const ids = validate.idList('user_ids', req.userIds, MAX_BATCH);
      return { users: (await domain.batchGetUsers(ids)).map(toProto) };
    },

    async updateUser(req) {
      const userId = validate.id('user_id', req.userId);
      const user = await domain.updateUser(userId, {
        nickname: req.nickname === undefined ? undefined : nickname(req.nickname),
        avatarUrl: req.avatarUrl === undefined ? undefined : avatarUrl(req.avatarUrl),
      });
      return { user: toProto(user) };
    },

    async changePassword(req) {
      const userId = validate.id('user_id', req.userId);
      if (!req.oldPassword)
        throw new InvalidArgumentError('old_password', 'old_password is required');
      password('new_password', req.newPassword);
      await domain.changePassword(userId, req.oldPassword, req.newPassword);
      return {};
    },

    async deleteUser(req) {
      await domain.deleteUser(validate.id('user_id', req.userId));
      return {};
    },
  };
}
