package redis

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
// The scripts are written for server CPU, which is most of an operation's
// cost on a loopback server: each reads what it needs with one HMGET,
// writes with one HSET, builds its reply from the values it holds (never a
// second read), formats each number once, and touches the fence only when
// the record is absent. That last shortcut rests on an invariant every
// script keeps: while a record exists, its fence does not (a grant on an
// absent record consumes the fence into the record's token and deletes
// it; only a delete, which removes the record, writes the fence).
//
// Times come from the server (TIME): Redis 7 replicates a script's effects,
// not the script, so a non-deterministic command is allowed. Numbers are
// written with %d: Lua numbers are doubles (exact below 2^53: µs until the
// year 2255), tostring would switch to exponent notation, and Redis's Lua
// formats %d through a 64-bit long, which is exact for every integral
// double below 2^53 and cheaper for the server than %.0f's float
// formatting (three to four numbers per acquire+release pair).
const scriptPrelude = `
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function fmt(n) return string.format('%d', n) end
`

// Replies. Get's "ok" is {status, now, k, h, v, t, a, r, e, l, m}
// (record.Decode reads it). A grant or renewal's "ok" is {status, now, v,
// t, a, m} (record.DecodeGrant reads it): the caller already knows the
// key, the holder and the lease, renewed-at is now and expires-at now +
// lease, and m is false (nil) when the caller gave the metadata, so the
// reply carries only what the caller cannot know. "held" is {status, now, holder, expires
// at}; every other status is the status alone.

// acquireScript: ARGV = key, holder, lease ms, "1" if metadata given,
// metadata JSON, retention ms.
var acquireScript = newScript(scriptPrelude + `
local now = now_us()
local snow = fmt(now)
local lease = tonumber(ARGV[3])
local ttl = lease + tonumber(ARGV[6])
local se = fmt(now + lease * 1000)
local f = redis.call('HMGET', KEYS[1], 'h', 'e', 't', 'n', 'a')
local h, e, t = f[1], tonumber(f[2]), f[3]
if h and h ~= '' and e and now < e then
  if h ~= ARGV[2] then return {'held', snow, h, f[2]} end
  -- The holder's own lease: a renewal (new version, same token).
  local sn = fmt((tonumber(f[4]) or 0) + 1)
  local v = t .. '.' .. sn
  local md = false
  if ARGV[4] == '1' then
    redis.call('HSET', KEYS[1], 'v', v, 'n', sn, 'r', snow, 'e', se, 'l', ARGV[3], 'm', ARGV[5])
  else
    md = redis.call('HGET', KEYS[1], 'm')
    redis.call('HSET', KEYS[1], 'v', v, 'n', sn, 'r', snow, 'e', se, 'l', ARGV[3])
  end
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {'ok', snow, v, t, f[5], md}
end
-- A new grant. The token is above the record's and the fence's, and never
-- below the server's clock in µs, which is what keeps it rising when both
-- are gone (deleted and aged out, or lost in a restart): see doc.go. A
-- fence exists only while the record does not (see above), so it is read,
-- and consumed, only then.
local floor = tonumber(t) or 0
if not t then
  local fence = tonumber(redis.call('GET', KEYS[2]) or '')
  if fence then
    if fence > floor then floor = fence end
    redis.call('DEL', KEYS[2])
  end
end
local tok, st = floor + 1, snow
if now > tok then tok = now else st = fmt(tok) end
local v = st .. '.0'
local md = ''
if ARGV[4] == '1' then md = ARGV[5] end
redis.call('HSET', KEYS[1], 'k', ARGV[1], 'h', ARGV[2], 'v', v, 'n', '0',
  't', st, 'a', snow, 'r', snow, 'e', se, 'l', ARGV[3], 'm', md)
redis.call('PEXPIRE', KEYS[1], ttl)
return {'ok', snow, v, st, snow, ''}
`)

// renewScript: ARGV = holder, version, lease ms, "1" if metadata given,
// metadata JSON, retention ms. The checks come in the contract's order.
var renewScript = newScript(scriptPrelude + `
local f = redis.call('HMGET', KEYS[1], 'k', 'h', 'v', 'e', 't', 'n', 'a', 'm')
if not f[1] then return {'notfound'} end
if f[2] ~= ARGV[1] then return {'notholder'} end
if f[3] ~= ARGV[2] then return {'mismatch'} end
local now = now_us()
if now >= tonumber(f[4]) then return {'expired'} end
local lease = tonumber(ARGV[3])
local snow = fmt(now)
local se = fmt(now + lease * 1000)
local sn = fmt((tonumber(f[6]) or 0) + 1)
local v = f[5] .. '.' .. sn
local md = f[8]
if ARGV[4] == '1' then
  md = false
  redis.call('HSET', KEYS[1], 'v', v, 'n', sn, 'r', snow, 'e', se, 'l', ARGV[3], 'm', ARGV[5])
else
  redis.call('HSET', KEYS[1], 'v', v, 'n', sn, 'r', snow, 'e', se, 'l', ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], lease + tonumber(ARGV[6]))
return {'ok', snow, v, f[5], f[7], md}
`)

// releaseScript: ARGV = holder, version, "1" to delete, retention ms,
// notification channel, key. An expired lease whose version matches may be
// released, so there is no expiry check, and no need for the time.
var releaseScript = newScript(scriptPrelude + `
local f = redis.call('HMGET', KEYS[1], 'h', 'v', 't', 'n')
if not f[1] then return {'notfound'} end
if f[1] ~= ARGV[1] then return {'notholder'} end
if f[2] ~= ARGV[2] then return {'mismatch'} end
if ARGV[3] == '1' then
  -- The record holds the highest token (see above); the max with a fence
  -- costs one GET on this rarer path and guards against a store that
  -- somehow holds both.
  local tok = tonumber(f[3])
  local fence = tonumber(redis.call('GET', KEYS[2]) or '')
  if fence and fence > tok then tok = fence end
  redis.call('SET', KEYS[2], fmt(tok), 'PX', ARGV[4])
  redis.call('DEL', KEYS[1])
else
  local sn = fmt((tonumber(f[4]) or 0) + 1)
  redis.call('HSET', KEYS[1], 'h', '', 'v', f[3] .. '.' .. sn, 'n', sn, 'm', '')
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return {'ok'}
`)

// getScript reads a record together with the server's time, so that Held
// is judged by the same clock that grants.
var getScript = newScript(scriptPrelude + `
local r = redis.call('HMGET', KEYS[1], 'k', 'h', 'v', 't', 'a', 'r', 'e', 'l', 'm')
if not r[1] then return {'notfound'} end
return {'ok', fmt(now_us()), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]}
`)
