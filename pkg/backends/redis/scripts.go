package redis

// Every operation is one Lua script: Redis runs a script alone, so the
// decision (who holds the lock, has the lease run out) and the write it
// leads to are atomic, and the whole operation costs one round trip
// (EVALSHA; go-redis falls back to EVAL once when the server's script cache
// is empty, e.g. after a restart).
//
// A lock's record is one string at KEYS[1] (internal/record describes the
// bytes): a format byte 'L', a fixed header of eight big-endian integers
// packed by Redis's struct library (token, change counter, acquired at,
// renewed at, expires at: server µs since the Unix epoch; lease ms; the
// holder's and the key's lengths), then the holder, the key and the
// metadata (JSON, "" for none) verbatim. The version is "<token>.<change>":
// the change counter counts changes within one grant, so a version never
// repeats across grants of the key. Callers send a version to the scripts
// split into its two numbers (an ill-formed version as "", which matches
// nothing).
//
// KEYS[2] is the key's fence: the last token in decimal, kept for a
// retention period after the record is deleted so that the next grant's
// token is still greater. Both keys carry the same Cluster hash tag.
//
// The scripts are written for server CPU, which is most of an operation's
// cost on a loopback server: each reads the record with one GET and
// writes it with one SET whose PX sets its TTL, decodes the header with
// one struct.unpack and encodes it with one struct.pack (no number is
// formatted as text, no hash field looked up), reads TIME only when it
// judges a lease or stamps one, replies with one string (a status byte,
// then for a record the server's now and the record as stored, which the
// client decodes with the same code as a read), and touches the fence only
// when the record is absent. That last shortcut rests on an invariant every
// script keeps: while a record exists, its fence does not (a grant on an
// absent record consumes the fence into the record's token and deletes
// it; only a delete, which removes the record, writes the fence).
//
// Records written by the earlier format, a hash with one field per value
// (k, h, v, n, t, a, r, e, l, m), are read by load (GET answers WRONGTYPE
// for a hash) and converted: the next write replaces the hash with the
// string, and an operation that writes nothing leaves it as it was.
// Versions had the same "<token>.<change>" form, so a holder's version
// from before an upgrade still matches.
//
// Times come from the server (TIME): Redis 7 replicates a script's effects,
// not the script, so a non-deterministic command is allowed. Lua numbers
// are doubles, exact below 2^53 (µs until the year 2255); struct packs and
// unpacks them as 64-bit integers exactly in that range.
const scriptPrelude = `
local HDR = '>i8i8i8i8i8i8I4I4'
local function load()
  local s = redis.pcall('GET', KEYS[1])
  if type(s) ~= 'table' then
    if s and string.byte(s, 1) ~= 76 then
      return redis.error_reply('leasehold: record at ' .. KEYS[1] .. ' is in an unknown format')
    end
    return s
  end
  local f = redis.call('HMGET', KEYS[1], 'k', 'h', 'v', 'n', 't', 'a', 'r', 'e', 'l', 'm')
  if not f[1] then return false end
  local h, m = f[2] or '', f[10] or ''
  local n = tonumber(f[4]) or tonumber(string.match(f[3] or '', '%.(%d+)$')) or 0
  return 'L' .. struct.pack(HDR, tonumber(f[5]), n, tonumber(f[6]), tonumber(f[7]),
    tonumber(f[8]), tonumber(f[9]), #h, #f[1]) .. h .. f[1] .. m
end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
`

// The header ends at byte 57, so a record's holder starts at 58 (Lua
// counts from 1). load returns an error table for a string it cannot read;
// each script returns it as is, failing the call.
//
// Replies are one string: "O" + now (8 bytes) + record for a grant, a
// renewal and a read; "H" + now + record when another holder's lease is
// live; "O" alone for a release; "N" not found, "X" not the holder, "M"
// version mismatch, "E" lease expired.

// acquireScript: ARGV = key, holder, lease ms, "1" if metadata given,
// metadata JSON, retention ms.
var acquireScript = newScript(scriptPrelude + `
local s = load()
if type(s) == 'table' then return s end
local now = now_us()
local lease = tonumber(ARGV[3])
local ttl = lease + tonumber(ARGV[6])
local e = now + lease * 1000
local tok = 0
if s then
  local t, n, a, _, oe, _, hl, kl = struct.unpack(HDR, s, 2)
  if hl > 0 and now < oe then
    local h = string.sub(s, 58, 57 + hl)
    if h ~= ARGV[2] then return 'H' .. struct.pack('>i8', now) .. s end
    -- The holder's own lease: a renewal (same token, next change).
    local rest
    if ARGV[4] == '1' then
      rest = string.sub(s, 58, 57 + hl + kl) .. ARGV[5]
    else
      rest = string.sub(s, 58)
    end
    s = 'L' .. struct.pack(HDR, t, n + 1, a, now, e, lease, hl, kl) .. rest
    redis.call('SET', KEYS[1], s, 'PX', ttl)
    return 'O' .. struct.pack('>i8', now) .. s
  end
  tok = t
else
  -- A new grant on an absent record. The token is above the fence's, and
  -- never below the server's clock in µs, which is what keeps it rising
  -- when both are gone (deleted and aged out, or lost in a restart): see
  -- doc.go. A fence exists only while the record does not (see above), so
  -- it is read, and consumed, only here.
  local fence = tonumber(redis.call('GET', KEYS[2]) or '')
  if fence then
    if fence > tok then tok = fence end
    redis.call('DEL', KEYS[2])
  end
end
tok = tok + 1
if now > tok then tok = now end
local m = ''
if ARGV[4] == '1' then m = ARGV[5] end
s = 'L' .. struct.pack(HDR, tok, 0, now, now, e, lease, #ARGV[2], #ARGV[1]) .. ARGV[2] .. ARGV[1] .. m
redis.call('SET', KEYS[1], s, 'PX', ttl)
return 'O' .. struct.pack('>i8', now) .. s
`)

// renewScript: ARGV = holder, the version's token and change, lease ms,
// "1" if metadata given, metadata JSON, retention ms. The checks come in
// the contract's order.
var renewScript = newScript(scriptPrelude + `
local s = load()
if type(s) == 'table' then return s end
if not s then return 'N' end
local t, n, a, _, e, _, hl, kl = struct.unpack(HDR, s, 2)
if string.sub(s, 58, 57 + hl) ~= ARGV[1] then return 'X' end
if t ~= tonumber(ARGV[2]) or n ~= tonumber(ARGV[3]) then return 'M' end
local now = now_us()
if now >= e then return 'E' end
local lease = tonumber(ARGV[4])
local rest
if ARGV[5] == '1' then
  rest = string.sub(s, 58, 57 + hl + kl) .. ARGV[6]
else
  rest = string.sub(s, 58)
end
s = 'L' .. struct.pack(HDR, t, n + 1, a, now, now + lease * 1000, lease, hl, kl) .. rest
redis.call('SET', KEYS[1], s, 'PX', lease + tonumber(ARGV[7]))
return 'O' .. struct.pack('>i8', now) .. s
`)

// releaseScript: ARGV = holder, the version's token and change, "1" to
// delete, retention ms, notification channel, key. An expired lease whose
// version matches may be released, so there is no expiry check, and no
// need for the time. A release keeps the times and the lease, clears the
// holder and the metadata, and moves the change counter on.
var releaseScript = newScript(scriptPrelude + `
local s = load()
if type(s) == 'table' then return s end
if not s then return 'N' end
local t, n, a, r, e, l, hl, kl = struct.unpack(HDR, s, 2)
if string.sub(s, 58, 57 + hl) ~= ARGV[1] then return 'X' end
if t ~= tonumber(ARGV[2]) or n ~= tonumber(ARGV[3]) then return 'M' end
if ARGV[4] == '1' then
  -- The record holds the highest token (see above); the max with a fence
  -- costs one GET on this rarer path and guards against a store that
  -- somehow holds both.
  local fence = tonumber(redis.call('GET', KEYS[2]) or '')
  if fence and fence > t then t = fence end
  redis.call('SET', KEYS[2], string.format('%d', t), 'PX', ARGV[5])
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], 'L' .. struct.pack(HDR, t, n + 1, a, r, e, l, 0, kl) ..
    string.sub(s, 58 + hl, 57 + hl + kl), 'PX', ARGV[5])
end
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 'O'
`)

// getScript reads a record together with the server's time, so that Held
// is judged by the same clock that grants.
var getScript = newScript(scriptPrelude + `
local s = load()
if type(s) == 'table' then return s end
if not s then return 'N' end
return 'O' .. struct.pack('>i8', now_us()) .. s
`)
