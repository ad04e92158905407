import type { Platform, UserStatus } from '@im-repo/proto/presence';
import type { UserStatusRecord } from './presence.types';

// Records (the domain's plain data) to their proto messages: the one mapping the handlers and
// the change events share, so an event's payload is exactly what the rpc answered.

export function toProto(s: UserStatusRecord): UserStatus {
  return {
    userId: s.userId,
    online: s.devices.length > 0,
    devices: s.devices.map((d) => ({
      deviceId: d.deviceId,
      platform: d.platform as Platform,
      lastHeartbeatAt: d.lastHeartbeatAt,
      expiresAt: d.expiresAt,
    })),
    lastSeenAt: s.lastSeenAt ?? undefined,
  };
}
