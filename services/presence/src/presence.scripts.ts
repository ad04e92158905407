import { redisScript } from '@im-repo/cache';
import { DEVICES, DUE, META, USER } from './presence.cache-keys';

/**
 * Lua scripts over one bucket's keys (one cluster slot). KEYS[1] is always the bucket's due
 * index; the scripts build the users' keys from its prefix (the same slot, so Redis Cluster
 * accepts them) with the suffixes of presence.cache-keys.ts.
 *
 * Time is Redis server time (TIME) everywhere, never a replica's clock: expiries, last_seen_at
 * and versions stay consistent whichever replica runs a script, whatever its clock skew.
 *
 * A device is live while its expiry is later than now. Every script that removes expired
 * devices (the sweeper, and any write to the user) announces the change itself, in the same
 * script, so each expiry is announced exactly once however many replicas sweep, and PUBLISH
 * order follows the order of the changes.
 */
const PRELUDE = `
local BASE = string.sub(KEYS[1], 1, #KEYS[1] - ${DUE.length})
local GRACE_MS = 3600000
local function dkey(uid) return BASE .. '${DEVICES}' .. uid end
local function mkey(uid) return BASE .. '${META}' .. uid end
local function ukey(uid) return BASE .. '${USER}' .. uid end
local function int(n) return string.format('%.0f', n) end
-- How long a user's last_seen_at outlives their last device; set from ARGV by each writing script.
local LAST_SEEN_MS = 0
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function status(uid, now)
  local devices = {}
  local rows = redis.call('ZRANGEBYSCORE', dkey(uid), '(' .. int(now), '+inf', 'WITHSCORES')
  if #rows > 0 then
    local ids = {}
    for i = 1, #rows, 2 do ids[#ids + 1] = rows[i] end
    local metas = redis.call('HMGET', mkey(uid), unpack(ids))
    for i = 1, #ids do
      local p, hb = string.match(metas[i] or '', '^(%d+):(%d+)$')
      devices[i] = { ids[i], tonumber(p) or 0, tonumber(hb) or 0, tonumber(rows[2 * i]) }
    end
  end
  local u = redis.call('HMGET', ukey(uid), 'seen', 'ver')
  return { u = uid, d = devices, s = tonumber(u[1]) or 0, v = u[2] or '0' }
end

-- Bumps the user's version and publishes the status after a change.
local function announce(uid, now, channel)
  local st = status(uid, now)
  st.v = int(math.max(now * 1000, (tonumber(st.v) or 0) + 1))
  redis.call('HSET', ukey(uid), 'ver', st.v)
  -- Never a key without a TTL, even if the user's key had already gone.
  if redis.call('PTTL', ukey(uid)) == -1 then
    redis.call('PEXPIREAT', ukey(uid), int(now + LAST_SEEN_MS))
  end
  redis.call('PUBLISH', channel, cjson.encode(st))
  return st
end

-- Drops the devices that expired; true when there were any.
local function prune(uid, now)
  local gone = redis.call('ZRANGEBYSCORE', dkey(uid), '-inf', int(now))
  if #gone == 0 then return false end
  redis.call('ZREMRANGEBYSCORE', dkey(uid), '-inf', int(now))
  for i = 1, #gone, 500 do
    redis.call('HDEL', mkey(uid), unpack(gone, i, math.min(i + 499, #gone)))
  end
  return true
end

-- Files the user under its earliest expiry, or takes it out when it has no devices. Every key
-- has a deadline, so nothing leaks if no replica runs: the device keys outlive the last expiry
-- by a grace period, the bucket's index its latest entry's, and the user's key (last_seen_at)
-- outlives the last device by LAST_SEEN_MS, after which the user reads as never seen.
local function reindex(uid, now)
  local first = redis.call('ZRANGE', dkey(uid), 0, 0, 'WITHSCORES')
  if #first == 0 then
    redis.call('ZREM', KEYS[1], uid)
    redis.call('DEL', mkey(uid))
    -- Set when a device was filed (its expiry + LAST_SEEN_MS); only a key without one gets it.
    if redis.call('PTTL', ukey(uid)) == -1 then
      redis.call('PEXPIREAT', ukey(uid), int(now + LAST_SEEN_MS))
    end
    return
  end
  redis.call('ZADD', KEYS[1], first[2], uid)
  local last = tonumber(redis.call('ZRANGE', dkey(uid), -1, -1, 'WITHSCORES')[2])
  local at = int(last + math.min(GRACE_MS, LAST_SEEN_MS))
  redis.call('PEXPIREAT', dkey(uid), at)
  redis.call('PEXPIREAT', mkey(uid), at)
  redis.call('PEXPIREAT', ukey(uid), int(last + LAST_SEEN_MS))
  local due_at = int(last + GRACE_MS)
  if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(due_at) then
    redis.call('PEXPIREAT', KEYS[1], due_at)
  end
end
`;

/**
 * ARGV: user, device, platform, ttl ms, channel, max devices, last-seen ttl ms.
 * Returns {'ok'|'too_many_devices', status}.
 */
const HEARTBEAT = `${PRELUDE}
local uid, dev, plat, ttl, channel = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
LAST_SEEN_MS = tonumber(ARGV[7])
local now = now_ms()
if prune(uid, now) then announce(uid, now, channel) end
local changed = false
if redis.call('ZSCORE', dkey(uid), dev) then
  local old = redis.call('HGET', mkey(uid), dev) or ''
  changed = string.match(old, '^(%d+):') ~= plat
else
  if redis.call('ZCARD', dkey(uid)) >= tonumber(ARGV[6]) then
    reindex(uid, now)
    return { 'too_many_devices', cjson.encode(status(uid, now)) }
  end
  changed = true
end
redis.call('ZADD', dkey(uid), int(now + ttl), dev)
redis.call('HSET', mkey(uid), dev, plat .. ':' .. int(now))
redis.call('HSET', ukey(uid), 'seen', int(now))
reindex(uid, now)
local st
if changed then st = announce(uid, now, channel) else st = status(uid, now) end
return { 'ok', cjson.encode(st) }
`;

/** ARGV: user, device ('' = all), channel, last-seen ttl ms. Returns the status. */
const SET_OFFLINE = `${PRELUDE}
local uid, dev, channel = ARGV[1], ARGV[2], ARGV[3]
LAST_SEEN_MS = tonumber(ARGV[4])
local now = now_ms()
if prune(uid, now) then announce(uid, now, channel) end
local removed = 0
if dev == '' then
  removed = redis.call('ZCARD', dkey(uid))
  if removed > 0 then redis.call('DEL', dkey(uid), mkey(uid)) end
else
  removed = redis.call('ZREM', dkey(uid), dev)
  if removed > 0 then redis.call('HDEL', mkey(uid), dev) end
end
if removed == 0 then
  reindex(uid, now)
  return cjson.encode(status(uid, now))
end
redis.call('HSET', ukey(uid), 'seen', int(now))
reindex(uid, now)
-- The last device went offline now, before its expiry: last_seen_at is kept from now.
if redis.call('EXISTS', dkey(uid)) == 0 then
  redis.call('PEXPIREAT', ukey(uid), int(now + LAST_SEEN_MS))
end
return cjson.encode(announce(uid, now, channel))
`;

/**
 * KEYS: due keys of one or more buckets; ARGV: `<index of the user's bucket in KEYS>:<user id>`.
 * Read-only: expired devices are left out, not removed. On Redis Cluster it is called once per
 * bucket (one slot); on a standalone Redis once for the whole batch, since a script call costs
 * Redis far more than the few reads it makes per user.
 */
const READ = `${PRELUDE}
local now = now_ms()
local out = {}
for i = 1, #ARGV do
  local sep = string.find(ARGV[i], ':', 1, true)
  local k = KEYS[tonumber(string.sub(ARGV[i], 1, sep - 1))]
  BASE = string.sub(k, 1, #k - ${DUE.length})
  out[i] = cjson.encode(status(string.sub(ARGV[i], sep + 1), now))
end
return out
`;

/** ARGV: most users to handle, channel, last-seen ttl ms. Returns {users handled, users that lost devices}. */
const SWEEP = `${PRELUDE}
LAST_SEEN_MS = tonumber(ARGV[3])
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now), 'LIMIT', 0, tonumber(ARGV[1]))
local expired = 0
for _, uid in ipairs(due) do
  if prune(uid, now) then
    announce(uid, now, ARGV[2])
    expired = expired + 1
  end
  reindex(uid, now)
end
return { #due, expired }
`;

// Each script takes a fixed number of keys, so on Cluster it routes by its first key (a bucket).
/**
 * KEYS: due; ARGV: userId, deviceId, platform, ttlMs, channel, maxDevices, lastSeenTtlMs ->
 * [outcome, status].
 */
export const heartbeatScript = redisScript<[string, string]>(HEARTBEAT);
/** KEYS: due; ARGV: userId, deviceId ('' = all), channel, lastSeenTtlMs -> status. */
export const setOfflineScript = redisScript<string>(SET_OFFLINE);
/**
 * ARGV: user, channel, last-seen ttl ms. A deleted user: every device goes offline (announced,
 * so watchers see it) with no last_seen_at, and nothing of the user is left in Redis. Returns
 * the status ('' when there was nothing to forget).
 */
const FORGET = `${PRELUDE}
local uid, channel = ARGV[1], ARGV[2]
LAST_SEEN_MS = tonumber(ARGV[3])
local now = now_ms()
if prune(uid, now) then announce(uid, now, channel) end
local known = redis.call('EXISTS', dkey(uid)) + redis.call('HEXISTS', ukey(uid), 'seen')
redis.call('DEL', dkey(uid), mkey(uid))
redis.call('ZREM', KEYS[1], uid)
redis.call('HDEL', ukey(uid), 'seen')
local out = ''
if known > 0 then out = cjson.encode(announce(uid, now, channel)) end
-- Versions start from the clock (announce), so the key can go: a later status still sorts after.
redis.call('DEL', ukey(uid))
return out
`;

/** KEYS: due; ARGV: userId, channel, lastSeenTtlMs -> status, or '' when nothing was known. */
export const forgetScript = redisScript<string>(FORGET);
/**
 * KEYS: due keys (one on Cluster; any number on standalone Redis); ARGV: `<key index>:<uid>`
 * entries -> statuses.
 */
export const readScript = redisScript<string[]>(READ);
/** KEYS: due; ARGV: limit, channel, lastSeenTtlMs -> [due users, users that lost a device]. */
export const sweepScript = redisScript<[number, number]>(SWEEP);
