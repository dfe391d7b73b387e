package fenceredis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/leasehold/leasehold/pkg/fencing"
)

// setScript: KEYS[1] the hash, ARGV[1] the token in decimal (no leading
// zeros, below 2^63), ARGV[2] the value. Tokens are compared as decimal
// strings, by length first, because Lua numbers are doubles and lose
// precision above 2^53. Replies {1} when written, {0, highest} when the
// stored token is higher.
const setScript = `
local cur = redis.call('HGET', KEYS[1], 'token')
local tok = ARGV[1]
if cur and (#cur > #tok or (#cur == #tok and cur > tok)) then
  return {0, cur}
end
redis.call('HSET', KEYS[1], 'value', ARGV[2], 'token', tok)
return {1}
`

var setHash = func() string {
	h := sha1.Sum([]byte(setScript))
	return hex.EncodeToString(h[:])
}()

// Set stores value at key, with token, if token is at least the token
// stored at key (or the key is absent). Otherwise it changes nothing and
// returns a *fencing.StaleTokenError whose Lock is key.
func Set(ctx context.Context, c goredis.UniversalClient, key, value string, token uint64) error {
	if err := fencing.CheckLock("key", key); err != nil {
		return err
	}
	if err := fencing.CheckToken("token", token); err != nil {
		return err
	}
	tok := strconv.FormatUint(token, 10)
	cmd := evalOnce(ctx, c, "evalsha", setHash, key, tok, value)
	if err := cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		// The script did not run: the server's cache lacks it (first use,
		// or after a restart). Sending its source is its first run.
		cmd = evalOnce(ctx, c, "eval", setScript, key, tok, value)
	}
	reply, err := cmd.Slice()
	if err != nil {
		return fmt.Errorf("fenced write of %q with token %d: %w", key, token, err)
	}
	if len(reply) == 2 && reply[0] == int64(0) {
		s, _ := reply[1].(string)
		highest, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("fenced write of %q: the stored token %q is not a number", key, s)
		}
		return &fencing.StaleTokenError{Lock: key, Token: token, Highest: highest}
	}
	if len(reply) != 1 || reply[0] != int64(1) {
		return fmt.Errorf("fenced write of %q: unexpected reply %v", key, reply)
	}
	return nil
}

// ErrNotFound reports a Get of a key that holds nothing.
var ErrNotFound = errors.New("fenced key not found")

// Get returns the value at key and the token that wrote it.
func Get(ctx context.Context, c goredis.UniversalClient, key string) (value string, token uint64, err error) {
	f, err := c.HMGet(ctx, key, "value", "token").Result()
	if err != nil {
		return "", 0, fmt.Errorf("reading fenced key %q: %w", key, err)
	}
	v, ok1 := f[0].(string)
	t, ok2 := f[1].(string)
	if !ok1 || !ok2 {
		return "", 0, fmt.Errorf("reading fenced key %q: %w", key, ErrNotFound)
	}
	token, err = strconv.ParseUint(t, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("reading fenced key %q: the token %q is not a number", key, t)
	}
	return v, token, nil
}

// onceCmd is a command go-redis never sends twice: it consults NoRetry
// before every retry.
type onceCmd struct{ *goredis.Cmd }

// NoRetry implements goredis.Cmder.
func (onceCmd) NoRetry() bool { return true }

func evalOnce(ctx context.Context, c goredis.UniversalClient, verb, payload, key string, args ...any) *goredis.Cmd {
	a := append([]any{verb, payload, 1, key}, args...)
	cmd := goredis.NewCmd(ctx, a...)
	cmd.SetFirstKeyPos(3) // routes the call to the key's Cluster slot
	_ = c.Process(ctx, onceCmd{cmd})
	return cmd
}
