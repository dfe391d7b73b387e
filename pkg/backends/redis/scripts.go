package redis

import goredis "github.com/redis/go-redis/v9"

// Every operation is one Lua script: Redis runs a script alone, so the
// decision (who holds the lock, has the lease run out) and the write it
// leads to are atomic, and the whole operation costs one round trip
// (EVALSHA; go-redis falls back to EVAL once when the server's script cache
// is empty, e.g. after a restart).
//
// A lock's record is a hash at KEYS[1] with the fields
//
//	k  the lock's key, verbatim
//	h  holder ("" once released)
//	v  version: "<token>.<n>", n counting changes within one grant, so a
//	   version never repeats across grants of the key
//	n  that change counter
//	t  fencing token (decimal)
//	a  acquired at, r renewed at, e expires at: server time in µs since the
//	   Unix epoch
//	l  lease duration in ms
//	m  metadata as a JSON object, "" for none
//
// KEYS[2] is the key's fence: the last token, kept for a retention period
// after the record is deleted so that the next grant's token is still
// greater. Both keys carry the same Cluster hash tag.
//
// Times come from the server (TIME): Redis 7 replicates a script's effects,
// not the script, so a non-deterministic command is allowed. Numbers are
// written with %.0f because Lua numbers are doubles (exact below 2^53: µs
// until the year 2255) and tostring would switch to exponent notation.
const scriptPrelude = `
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function fmt(n) return string.format('%.0f', n) end
local function reply(status, now)
  local r = redis.call('HMGET', KEYS[1], 'k', 'h', 'v', 't', 'a', 'r', 'e', 'l', 'm')
  return {status, fmt(now), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]}
end
-- extend renews the current grant: new version, same token.
local function extend(rec, now, lease_ms, md_given, md, ttl_ms)
  local n = (tonumber(rec.n) or 0) + 1
  redis.call('HSET', KEYS[1], 'v', rec.t .. '.' .. fmt(n), 'n', fmt(n),
    'r', fmt(now), 'e', fmt(now + lease_ms * 1000), 'l', fmt(lease_ms))
  if md_given == '1' then redis.call('HSET', KEYS[1], 'm', md) end
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
end
`

// acquireScript: ARGV = key, holder, lease ms, "1" if metadata given,
// metadata JSON, retention ms. Replies ok+record, or held+holder+expiry.
var acquireScript = goredis.NewScript(scriptPrelude + `
local now = now_us()
local lease = tonumber(ARGV[3])
local ttl = lease + tonumber(ARGV[6])
local f = redis.call('HMGET', KEYS[1], 'h', 'e', 't', 'n')
local rec = {h = f[1], e = tonumber(f[2]), t = f[3], n = f[4]}
if rec.h and rec.h ~= '' and rec.e and now < rec.e then
  if rec.h ~= ARGV[2] then
    return {'held', fmt(now), rec.h, f[2]}
  end
  extend(rec, now, lease, ARGV[4], ARGV[5], ttl)
  return reply('ok', now)
end
-- A new grant. The token is above the record's and the fence's, and never
-- below the server's clock in µs, which is what keeps it rising when both
-- are gone (deleted and aged out, or lost in a restart): see doc.go.
local floor = tonumber(rec.t) or 0
local fence = tonumber(redis.call('GET', KEYS[2]) or '')
if fence and fence > floor then floor = fence end
local tok = floor + 1
if now > tok then tok = now end
local md = ''
if ARGV[4] == '1' then md = ARGV[5] end
redis.call('HSET', KEYS[1], 'k', ARGV[1], 'h', ARGV[2], 'v', fmt(tok) .. '.0', 'n', '0',
  't', fmt(tok), 'a', fmt(now), 'r', fmt(now), 'e', fmt(now + lease * 1000),
  'l', fmt(lease), 'm', md)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('DEL', KEYS[2])
return reply('ok', now)
`)

// guard is the check shared by renew and release, in the contract's order.
const guard = `
local f = redis.call('HMGET', KEYS[1], 'k', 'h', 'v', 'e', 't', 'n')
if not f[1] then return {'notfound', fmt(now)} end
if f[2] ~= ARGV[1] then return {'notholder', fmt(now)} end
if f[3] ~= ARGV[2] then return {'mismatch', fmt(now)} end
local rec = {h = f[2], e = tonumber(f[4]), t = f[5], n = f[6]}
`

// renewScript: ARGV = holder, version, lease ms, "1" if metadata given,
// metadata JSON, retention ms.
var renewScript = goredis.NewScript(scriptPrelude + `
local now = now_us()
` + guard + `
if now >= rec.e then return {'expired', fmt(now)} end
local lease = tonumber(ARGV[3])
extend(rec, now, lease, ARGV[4], ARGV[5], lease + tonumber(ARGV[6]))
return reply('ok', now)
`)

// releaseScript: ARGV = holder, version, "1" to delete, retention ms,
// notification channel, key. An expired lease whose version matches may be
// released, so there is no expiry check.
var releaseScript = goredis.NewScript(scriptPrelude + `
local now = now_us()
` + guard + `
if ARGV[3] == '1' then
  local tok = tonumber(rec.t)
  local fence = tonumber(redis.call('GET', KEYS[2]) or '')
  if fence and fence > tok then tok = fence end
  redis.call('SET', KEYS[2], fmt(tok), 'PX', ARGV[4])
  redis.call('DEL', KEYS[1])
else
  local n = (tonumber(rec.n) or 0) + 1
  redis.call('HSET', KEYS[1], 'h', '', 'v', rec.t .. '.' .. fmt(n), 'n', fmt(n), 'm', '')
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return {'ok', fmt(now)}
`)

// getScript reads a record together with the server's time, so that Held
// is judged by the same clock that grants.
var getScript = goredis.NewScript(scriptPrelude + `
local now = now_us()
if redis.call('EXISTS', KEYS[1]) == 0 then return {'notfound', fmt(now)} end
return reply('ok', now)
`)
