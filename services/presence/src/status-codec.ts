import type { DeviceRecord, UserStatusRecord } from './presence.types';

/**
 * A status as the Lua scripts encode it (cjson): in script replies and in pub/sub events. Times
 * are epoch ms; the version is a decimal string because cjson keeps only 14 digits of a number.
 */
interface WireStatus {
  u: string;
  v: string;
  s: number;
  /** cjson encodes an empty table as {} */
  d: [string, number, number, number][] | Record<string, never>;
}

export function decodeStatus(text: string): UserStatusRecord {
  const wire = JSON.parse(text) as WireStatus;
  const devices: DeviceRecord[] = (Array.isArray(wire.d) ? wire.d : []).map(
    ([deviceId, platform, heartbeatMs, expiresMs]) => ({
      deviceId: String(deviceId),
      platform,
      lastHeartbeatAt: new Date(heartbeatMs),
      expiresAt: new Date(expiresMs),
    }),
  );
  devices.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  return {
    userId: wire.u,
    devices,
    lastSeenAt: wire.s ? new Date(wire.s) : null,
    version: Number(wire.v) || 0,
  };
}
