import { InvalidArgumentError } from '@im-repo/errors';
import { ID_PATTERN } from '@im-repo/proto';
import { Group, GroupMember, GroupRole, type GroupServiceService } from '@im-repo/proto/group';
import { itemsThatFit, type ServiceHandlers, validate } from '@im-repo/server-kit';
import type { GroupDomain } from './group.domain';
import { groupToProto, memberToProto, ROLE_TO_PROTO, sendPermissionToProto } from './group.mapping';
import type { PagePosition, Role } from './group.types';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
/** Keeps muted_until a sane DATETIME; a longer mute is a ban, which is RemoveMembers. */
export const MAX_MUTE_SECONDS = 366 * 86400;

const name = (value: string) => validate.text('name', value, 1, 64);
const avatarUrl = (value: string) => validate.text('avatar_url', value, 0, 1024);
const intro = (value: string) => validate.text('intro', value, 0, 512);
const notice = (value: string) => validate.text('notice', value, 0, 2048);

/** A list of ids, each valid; no length cap here: the member cap (GROUP_FULL) bounds it. */
/** Id lists of group rpcs (API.md v1.1 Edges), counted as sent, before duplicates collapse. */
export const MAX_IDS_PER_CALL = 500;
/** Users per CheckSendPermissions call (the message service sends at most this many). */
export const MAX_SEND_CHECKS = 256;

function ids(field: string, values: string[], min: number): string[] {
  return validate.idList(field, values, MAX_IDS_PER_CALL, min);
}

function assignableRole(value: GroupRole): Exclude<Role, 'owner'> {
  if (value === GroupRole.GROUP_ROLE_ADMIN) return 'admin';
  if (value === GroupRole.GROUP_ROLE_MEMBER) return 'member';
  throw new InvalidArgumentError(
    'role',
    value === GroupRole.GROUP_ROLE_OWNER
      ? 'role must be GROUP_ROLE_ADMIN or GROUP_ROLE_MEMBER; ownership moves with TransferOwnership'
      : 'role must be GROUP_ROLE_ADMIN or GROUP_ROLE_MEMBER',
  );
}

function muteSeconds(value: number): number {
  validate.nonNegative('duration_seconds', value);
  if (value > MAX_MUTE_SECONDS) {
    throw new InvalidArgumentError(
      'duration_seconds',
      `duration_seconds must be at most ${MAX_MUTE_SECONDS} (366 days)`,
    );
  }
  return value;
}

/** 9999-12-31 23:59:59.999, the last DATETIME. */
const MAX_DATETIME_MS = 253402300799999;

/** Page tokens hold the last item's position and the list they belong to. */
interface TokenBody {
  s: string;
  t: number;
  k: string;
}

function decodePosition(token: string, scope: string): PagePosition | undefined {
  const body = validate.decodePageToken(
    'page_token',
    token,
    (v): v is TokenBody =>
      typeof v === 'object' &&
      v !== null &&
      (v as TokenBody).s === scope &&
      Number.isSafeInteger((v as TokenBody).t) &&
      (v as TokenBody).t >= 0 &&
      (v as TokenBody).t <= MAX_DATETIME_MS &&
      typeof (v as TokenBody).k === 'string' &&
      ID_PATTERN.test((v as TokenBody).k),
  );
  return body && { joinedAt: new Date(body.t), id: body.k };
}

function encodePosition(position: PagePosition | undefined, scope: string): string {
  if (!position) return '';
  const body: TokenBody = { s: scope, t: position.joinedAt.getTime(), k: position.id };
  return validate.encodePageToken(body);
}

/** gRPC layer: validates requests, calls the domain, maps records to proto. */
export function createGroupHandlers(
  domain: GroupDomain,
): ServiceHandlers<typeof GroupServiceService> {
  return {
    async createGroup(req) {
      const group = await domain.createGroup({
        groupId: validate.optionalId('group_id', req.groupId),
        ownerId: validate.id('owner_id', req.ownerId),
        name: name(req.name),
        avatarUrl: avatarUrl(req.avatarUrl),
        intro: intro(req.intro),
        memberIds: ids('member_ids', req.memberIds, 0),
      });
      return { group: groupToProto(group) };
    },

    async getGroup(req) {
      return { group: groupToProto(await domain.getGroup(validate.id('group_id', req.groupId))) };
    },

    async updateGroup(req) {
      const operatorId = validate.id('operator_id', req.operatorId);
      const groupId = validate.id('group_id', req.groupId);
      const group = await domain.updateGroup(operatorId, groupId, {
        name: req.name === undefined ? undefined : name(req.name),
        avatarUrl: req.avatarUrl === undefined ? undefined : avatarUrl(req.avatarUrl),
        intro: req.intro === undefined ? undefined : intro(req.intro),
        notice: req.notice === undefined ? undefined : notice(req.notice),
      });
      return { group: groupToProto(group) };
    },

    async dismissGroup(req) {
      await domain.dismissGroup(
        validate.id('operator_id', req.operatorId),
        validate.id('group_id', req.groupId),
      );
      return {};
    },

    async addMembers(req) {
      const operatorId = validate.id('operator_id', req.operatorId);
      const groupId = validate.id('group_id', req.groupId);
      const added = await domain.addMembers(operatorId, groupId, ids('user_ids', req.userIds, 1));
      return { added: added.map(memberToProto) };
    },

    async removeMembers(req) {
      const operatorId = validate.id('operator_id', req.operatorId);
      const groupId = validate.id('group_id', req.groupId);
      await domain.removeMembers(operatorId, groupId, ids('user_ids', req.userIds, 1));
      return {};
    },

    async forgetUser(req) {
      await domain.forgetUser(validate.id('user_id', req.userId));
      return {};
    },

    async leaveGroup(req) {
      await domain.leaveGroup(
        validate.id('user_id', req.userId),
        validate.id('group_id', req.groupId),
      );
      return {};
    },

    async setMemberRole(req) {
      const operatorId = validate.id('operator_id', req.operatorId);
      const groupId = validate.id('group_id', req.groupId);
      const userId = validate.id('user_id', req.userId);
      const member = await domain.setMemberRole(
        operatorId,
        groupId,
        userId,
        assignableRole(req.role),
      );
      return { member: memberToProto(member) };
    },

    async transferOwnership(req) {
      const operatorId = validate.id('operator_id', req.operatorId);
      const groupId = validate.id('group_id', req.groupId);
      const newOwnerId = validate.id('new_owner_id', req.newOwnerId);
      return {
        group: groupToProto(await domain.transferOwnership(operatorId, groupId, newOwnerId)),
      };
    },

    async muteMember(req) {
      const operatorId = validate.id('operator_id', req.operatorId);
      const groupId = validate.id('group_id', req.groupId);
      const userId = validate.id('user_id', req.userId);
      const member = await domain.muteMember(
        operatorId,
        groupId,
        userId,
        muteSeconds(req.durationSeconds),
      );
      return { member: memberToProto(member) };
    },

    async setGroupMuted(req) {
      const operatorId = validate.id('operator_id', req.operatorId);
      const groupId = validate.id('group_id', req.groupId);
      return { group: groupToProto(await domain.setGroupMuted(operatorId, groupId, req.muted)) };
    },

    async getMember(req) {
      const groupId = validate.id('group_id', req.groupId);
      const userId = validate.id('user_id', req.userId);
      return { member: memberToProto(await domain.getMember(groupId, userId)) };
    },

    async listMembers(req) {
      const groupId = validate.id('group_id', req.groupId);
      const size = validate.pageSize('page_size', req.pageSize, DEFAULT_PAGE, MAX_PAGE);
      const scope = `m:${groupId}`;
      const page = await domain.listMembers(groupId, decodePosition(req.pageToken, scope), size);
      const members = page.items.map(memberToProto);
      const n = itemsThatFit(members.map((m) => GroupMember.encode(m).finish().length));
      const last = page.items[n - 1];
      const next = n < members.length ? { joinedAt: last!.joinedAt, id: last!.userId } : page.next;
      return { members: members.slice(0, n), nextPageToken: encodePosition(next, scope) };
    },

    async listUserGroups(req) {
      const userId = validate.id('user_id', req.userId);
      const size = validate.pageSize('page_size', req.pageSize, DEFAULT_PAGE, MAX_PAGE);
      const scope = `u:${userId}`;
      const page = await domain.listUserGroups(userId, decodePosition(req.pageToken, scope), size);
      // A group's texts can reach ~15 KB, so 1,000 of them would pass 4 MiB: end the page early.
      const groups = page.items.map(groupToProto);
      const n = itemsThatFit(groups.map((g) => Group.encode(g).finish().length));
      const last = page.items[n - 1];
      const next = n < groups.length ? { joinedAt: last!.joinedAt, id: last!.groupId } : page.next;
      return { groups: groups.slice(0, n), nextPageToken: encodePosition(next, scope) };
    },

    async checkSendPermission(req) {
      const groupId = validate.id('group_id', req.groupId);
      const userId = validate.id('user_id', req.userId);
      return { role: ROLE_TO_PROTO[await domain.checkSendPermission(groupId, userId)] };
    },

    async checkSendPermissions(req) {
      const groupId = validate.id('group_id', req.groupId);
      const userIds = validate.idList('user_ids', req.userIds, MAX_SEND_CHECKS, 1);
      const verdicts = await domain.checkSendPermissions(groupId, userIds);
      return { results: userIds.map((userId, i) => sendPermissionToProto(userId, verdicts[i]!)) };
    },
  };
}
