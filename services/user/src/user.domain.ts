import type { CacheAside, StampedBytesCache } from '@im-repo/cache';
import {
  AlreadyExistsError,
  NotFoundError,
  ResourceExhaustedError,
  UnauthenticatedError,
} from '@im-repo/errors';
import type { Enqueued, Outbox } from '@im-repo/outbox';
import { ulid } from 'ulid';
import type { LoginThrottle } from './login-throttle';
import type { PasswordHasher } from './password-hasher';
import { userKey } from './user.cache-keys';
import { encodeGetUserResponse } from './user.mapping';
import { followUpRows, sendsRow } from './user-deletion.outbox';
import { deletedEvent, registeredEvent, updatedEvent } from './user.events';
import type { UserRepository } from './user.repository';
import type { UserChanges, UserRecord } from './user.types';

export interface RegisterInput {
  userId?: string;
  username: string;
  password: string;
  nickname: string;
  avatarUrl: string;
}

const invalidCredentials = () =>
  new UnauthenticatedError('INVALID_CREDENTIALS', 'invalid username or password');
const tooManyAttempts = () =>
  new ResourceExhaustedError('TOO_MANY_ATTEMPTS', 'too many failed attempts, try again later');
export interface UserDomainOptions {
  /** Change events on: each change also writes its event's outbox row. */
  events: boolean;
  /** USER_DELETE_ERASES_CONTENT: a deletion also erases every message the user sent. */
  eraseContent: boolean;
}

const userNotFound = (userId: string) =>
  new NotFoundError('USER_NOT_FOUND', `user ${userId} not found`, { user_id: userId });

/** The rules of users: unique names, hashed passwords, the login limit, cached reads. */
export class UserDomain {
  constructor(
    private readonly repo: UserRepository,
    private readonly cache: CacheAside<UserRecord>,
    /** GetUser's encoded users, retired by the same invalidations as `cache`. */
    private readonly encoded: StampedBytesCache,
    private readonly hasher: PasswordHasher,
    private readonly throttle: LoginThrottle,
    private readonly now: () => Date = () => new Date(),
    /** Owns user_outbox: the deletion's follow-ups always, change events while they are on. */
    private readonly outbox?: Outbox,
    private readonly options: UserDomainOptions = { events: false, eraseContent: false },
  ) {}

  /** The outbox, only while change events are on (otherwise no event row is written). */
  private get events(): Outbox | undefined {
    return this.options.events ? this.outbox : undefined;
  }

  async register(input: RegisterInput): Promise<UserRecord> {
    const now = this.now();
    const user: UserRecord = {
      userId: input.userId ?? ulid(),
      username: input.username,
      nickname: input.nickname || input.username,
      avatarUrl: input.avatarUrl,
      createdAt: now,
      updatedAt: now,
    };
    const passwordHash = await this.hasher.hash(input.password);
    let enqueued: Enqueued | undefined;
    const events = this.events;
    const result = await this.repo.insert(
      { ...user, passwordHash },
      events &&
        (async (t, at) => {
          enqueued = await events.enqueue(t, [registeredEvent(user, at)]);
        }),
    );
    if (result === 'username_taken') {
      throw new AlreadyExistsError('USERNAME_TAKEN', 'the username is taken', {
        username: input.username,
      });
    }
    if (result === 'user_id_taken') {
      throw new AlreadyExistsError('USER_ID_TAKEN', 'the user id is taken', {
        user_id: user.userId,
      });
    }
    // A lookup before registration may have cached "not found" for this id.
    await this.cache.invalidate(userKey(user.userId));
    if (enqueued) await events!.deliver(enqueued);
    return user;
  }

  /** `wellFormed` false: no account can have this username, so skip the lookup. */
  async login(username: string, password: string, wellFormed: boolean): Promise<UserRecord> {
    if (!(await this.throttle.begin(username))) throw tooManyAttempts();
    const found = wellFormed ? await this.repo.findCredentialsByUsername(username) : null;
    const ok = found
      ? await this.hasher.verify(password, found.passwordHash)
      : await this.hasher.verifyNothing(password);
    if (!ok || !found) throw invalidCredentials();
    await this.throttle.succeeded(username);
    return found.user;
  }

  async getUser(userId: string): Promise<UserRecord> {
    const user = await this.cache.get(userKey(userId), () => this.repo.findById(userId));
    if (!user) throw userNotFound(userId);
    return user;
  }

  /** GetUser's answer, encoded (its hot path: no decode of a cached value, no encode). */
  async getUserEncoded(userId: string): Promise<Buffer> {
    const bytes = await this.encoded.get(userKey(userId), async () => {
      const user = await this.repo.findById(userId);
      return user ? encodeGetUserResponse(user) : null;
    });
    if (!bytes) throw userNotFound(userId);
    return bytes;
  }

  /** Found users in request order, duplicates collapsed, unknown ids omitted. */
  async batchGetUsers(userIds: string[]): Promise<UserRecord[]> {
    const unique = [...new Set(userIds)];
    const found = await this.cache.getMany(unique.map(userKey), async (missingKeys) => {
      const ids = missingKeys.map((key) => key.slice('user:{'.length, -1));
      const rows = await this.repo.findByIds(ids);
      return new Map(rows.map((u) => [userKey(u.userId), u]));
    });
    return unique.flatMap((id) => found.get(userKey(id)) ?? []);
  }

  async updateUser(userId: string, changes: UserChanges): Promise<UserRecord> {
    if (changes.nickname === undefined && changes.avatarUrl === undefined) {
      return this.getUser(userId);
    }
    // A set field emits user.updated even when its value is unchanged (the contract's rule).
    let enqueued: Enqueued | undefined;
    const events = this.events;
    await this.repo.update(
      userId,
      changes,
      this.now(),
      events &&
        (async (t, updated, at) => {
          enqueued = await events.enqueue(t, [updatedEvent(updated, at)]);
        }),
    );
    await this.cache.invalidate(userKey(userId));
    if (enqueued) await events!.deliver(enqueued);
    const user = await this.repo.findById(userId);
    if (!user) throw userNotFound(userId);
    return user;
  }

  /**
   * Wrong old passwords count towards the same per-username limit as logins, so this cannot
   * be used to guess around it.
   */
  async changePassword(userId: string, oldPassword: string, newPassword: string): Promise<void> {
    const found = await this.repo.findCredentialsById(userId);
    if (!found) throw userNotFound(userId);
    const username = found.user.username;
    if (!(await this.throttle.begin(username))) throw tooManyAttempts();
    if (!(await this.hasher.verify(oldPassword, found.passwordHash))) {
      throw new UnauthenticatedError('INVALID_CREDENTIALS', 'the old password is wrong');
    }
    await this.throttle.succeeded(username);
    await this.repo.updatePasswordHash(userId, await this.hasher.hash(newPassword), this.now());
    await this.cache.invalidate(userKey(userId));
  }

  /**
   * Deletes at once what the user service owns (the login, the profile, the username) and, in
   * the same transaction, queues what peers must follow up durably (devices, groups,
   * conversations, sends, optionally content) with the user.deleted event. The follow-ups are
   * tried right away; the message service's is what makes every replica refuse the user's sends
   * when this returns, the others may finish later (a peer that is down gets them once back).
   */
  async deleteUser(userId: string): Promise<void> {
    const outbox = this.outbox;
    if (!outbox) throw new Error('DeleteUser needs the user outbox');
    const enqueued: Enqueued[] = [];
    const deleted = await this.repo.markDeleted(userId, async (t, at) => {
      enqueued.push(await outbox.enqueue(t, [sendsRow(userId)], { alwaysInline: true }));
      enqueued.push(
        await outbox.enqueue(t, [
          ...followUpRows(userId, this.options.eraseContent),
          ...(this.options.events ? [deletedEvent(userId, at)] : []),
        ]),
      );
    });
    if (!deleted) throw userNotFound(userId);
    await this.cache.invalidate(userKey(userId));
    await outbox.deliver(...enqueued);
  }
}
