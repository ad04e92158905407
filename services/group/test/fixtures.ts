import { GroupRole } from '@im-repo/proto/group';
import { makeUsers, type GroupService, type Peers } from './harness';

export interface Cast {
  groupId: string;
  owner: string;
  admin: string;
  admin2: string;
  member: string;
  member2: string;
  /** A registered user who is not in the group. */
  outsider: string;
}

/** A group with an owner, two admins, two members, and a registered outsider. */
export async function castGroup(svc: GroupService, peers: Peers, name = 'cast'): Promise<Cast> {
  const [owner, admin, admin2, member, member2, outsider] = makeUsers(peers, 6, name);
  const { group } = await svc.client.createGroup({
    groupId: '',
    ownerId: owner!,
    name,
    avatarUrl: '',
    intro: '',
    memberIds: [admin!, admin2!, member!, member2!],
  });
  for (const userId of [admin!, admin2!]) {
    await svc.client.setMemberRole({
      operatorId: owner!,
      groupId: group!.groupId,
      userId,
      role: GroupRole.GROUP_ROLE_ADMIN,
    });
  }
  return {
    groupId: group!.groupId,
    owner: owner!,
    admin: admin!,
    admin2: admin2!,
    member: member!,
    member2: member2!,
    outsider: outsider!,
  };
}
