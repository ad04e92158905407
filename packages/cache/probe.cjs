const { Redis } = require('ioredis');
(async () => {
  const r = new Redis({
    keyPrefix: 'probe:x:',
    enableAutoPipelining: true,
    enableOfflineQueue: false,
  });
  const s = r.duplicate({ autoResubscribe: false });
  await new Promise((res) => s.once('ready', res));
  s.on('message', (ch, m) => console.log('msg', ch, m));
  console.log('sub', await s.subscribe('probe:chan'));
  console.log('ping on sub', await s.ping());
  await new Promise((res) => r.once('ready', res));
  r.defineCommand('t', {
    numberOfKeys: 1,
    lua: `local t = redis.call('TIME'); redis.call('SET', KEYS[1], 'x'); redis.call('PUBLISH', ARGV[1], cjson.encode({u='a', d={}, v=string.format('%.0f', (tonumber(t[1])*1000 + math.floor(tonumber(t[2])/1000))*1000)})); return {'ok', cjson.encode({d={{'dev', 3, 1732570000123, 1732570060123}}})}`,
  });
  console.log(await Promise.all([r.t('k1', 'probe:chan'), r.t('k2', 'probe:chan')]));
  console.log(await r.get('k1'));
  await r.del('k1', 'k2');
  await new Promise((res) => setTimeout(res, 100));
  r.disconnect();
  s.disconnect();
})();
