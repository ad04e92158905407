import { InvalidArgumentError } from '@im-repo/errors';
import { Platform, type PresenceServiceService } from '@im-repo/proto/presence';
import { type ServiceHandlers, validate } from '@im-repo/server-kit';
import type { PresenceDomain } from './presence.domain';
import { toProto } from './presence.mapping';

const MIN_TTL_SECONDS = 5;
const MAX_TTL_SECONDS = 600;
const MAX_IDS = 1000;
const PLATFORMS: readonly Platform[] = [
  Platform.PLATFORM_IOS,
  Platform.PLATFORM_ANDROID,
  Platform.PLATFORM_WEB,
  Platform.PLATFORM_DESKTOP,
  Platform.PLATFORM_IPAD,
  Platform.PLATFORM_MINI_PROGRAM,
];

function ttlSeconds(value: number): number {
  if (value !== 0 && (value < MIN_TTL_SECONDS || value > MAX_TTL_SECONDS)) {
    throw new InvalidArgumentError(
      'ttl_seconds',
      `ttl_seconds must be ${MIN_TTL_SECONDS}-${MAX_TTL_SECONDS} (0 for the default)`,
    );
  }
  return value;
}

const deviceId = (value: string) => validate.text('device_id', value, 1, 64);

/** gRPC layer: validates requests, calls the domain, maps records to proto. */
export function createPresenceHandlers(
  domain: PresenceDomain,
): ServiceHandlers<typeof PresenceServiceService> {
  return {
    async heartbeat(req) {
      const status = await domain.heartbeat({
        userId: validate.id('user_id', req.userId),
        deviceId: deviceId(req.deviceId),
        platform: validate.enumValue('platform', req.platform, PLATFORMS),
        ttlSeconds: ttlSeconds(req.ttlSeconds),
      });
      return { status: toProto(status) };
    },

    async setOffline(req) {
      const userId = validate.id('user_id', req.userId);
      const device = req.deviceId === '' ? undefined : deviceId(req.deviceId);
      return { status: toProto(await domain.setOffline(userId, device)) };
    },

    async forgetUser(req) {
      await domain.forgetUser(validate.id('user_id', req.userId));
      return {};
    },

    async getStatus(req) {
      return { status: toProto(await domain.getStatus(validate.id('user_id', req.userId))) };
    },

    async batchGetStatus(req) {
      const ids = validate.idList('user_ids', req.userIds, MAX_IDS);
      return { statuses: (await domain.batchGetStatus(ids)).map(toProto) };
    },

    async watchStatus(req, call, ctx) {
      const ids = validate.idList('user_ids', req.userIds, MAX_IDS);
      await domain.watch(
        ids,
        {
          write: (status) => call.write({ status: toProto(status) }),
          onDrain: (resume) => call.once('drain', resume),
        },
        ctx.signal,
      );
    },
  };
}
