package redis

import (
	"context"
	"strconv"

	"github.com/leasehold/leasehold/pkg/backends"
)

// The scripts of the earlier storage format, which kept each record as a
// hash with the fields k, h, v, n, t, a, r, e, l and m, exactly as that
// version shipped them: the compatibility tests write records with them
// and check that this version reads, converts and extends them.
const legacyPrelude = `
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function fmt(n) return string.format('%d', n) end
`

var (
	legacyAcquireScript = newScript(legacyPrelude + `
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

	legacyReleaseScript = newScript(legacyPrelude + `
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
)

// LegacyAcquire grants a lock as the earlier format did, and returns its
// version and fencing token.
func LegacyAcquire(ctx context.Context, b *Backend, req *backends.AcquireRequest, md string) (version string, token uint64, err error) {
	given := "0"
	if md != "" {
		given = "1"
	}
	rec, fence := b.lockKeys(req.Key)
	res, err := evalOnce(ctx, b.client, legacyAcquireScript, []any{nil, nil, 2, rec, fence,
		req.Key, req.Holder, req.LeaseDuration.Milliseconds(), given, md, b.retention.Milliseconds()}).StringSlice()
	if err != nil {
		return "", 0, err
	}
	if res[0] != "ok" {
		return "", 0, backends.KeyError("acquiring", req.Key, backends.ErrLockHeld)
	}
	token, err = strconv.ParseUint(res[3], 10, 64)
	return res[2], token, err
}

// LegacyRelease releases a lock as the earlier format did.
func LegacyRelease(ctx context.Context, b *Backend, req *backends.ReleaseRequest) error {
	del := "0"
	if req.Delete {
		del = "1"
	}
	rec, fence := b.lockKeys(req.Key)
	res, err := evalOnce(ctx, b.client, legacyReleaseScript, []any{nil, nil, 2, rec, fence,
		req.Holder, req.Version, del, b.retention.Milliseconds(), b.channel, req.Key}).StringSlice()
	if err != nil {
		return err
	}
	if res[0] != "ok" {
		return backends.KeyError("releasing", req.Key, backends.ErrNotHolder)
	}
	return nil
}
