package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"

	goredis "github.com/redis/go-redis/v9"
)

// onceCmd is a script call that go-redis must never send twice, whatever
// the client's MaxRetries: after a network failure the script may have run
// although its reply was lost, and running it again would turn a success
// into a false error (a repeated Renew reports ErrVersionMismatch, a
// repeated Release ErrNotHolder) or apply it twice (a repeated Acquire
// renews). go-redis consults NoRetry before every retry, on single-server,
// Sentinel, Cluster and Ring clients alike; it still follows a Cluster's
// MOVED and ASK redirects and re-dials a connection that failed before the
// command was written, since the script has not run then.
type onceCmd struct{ *goredis.Cmd }

// NoRetry implements goredis.Cmder.
func (onceCmd) NoRetry() bool { return true }

// script is a Lua script and its SHA-1, the name EVALSHA knows it by.
type script struct{ src, hash string }

func newScript(src string) *script {
	h := sha1.Sum([]byte(src))
	return &script{src: src, hash: hex.EncodeToString(h[:])}
}

// evalOnce runs s with EVALSHA, and with EVAL when the server's script
// cache lacks it (first use, or after a restart), each sent at most once.
func evalOnce(ctx context.Context, c goredis.UniversalClient, s *script, keys []string, args ...any) *goredis.Cmd {
	cmd := evalCmd(ctx, "evalsha", s.hash, keys, args)
	_ = c.Process(ctx, onceCmd{cmd})
	if isNoScript(cmd.Err()) {
		// NOSCRIPT means the script did not run: sending it now is its
		// first run.
		cmd = evalCmd(ctx, "eval", s.src, keys, args)
		_ = c.Process(ctx, onceCmd{cmd})
	}
	return cmd
}

func evalCmd(ctx context.Context, name, payload string, keys []string, args []any) *goredis.Cmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, name, payload, len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	a = append(a, args...)
	cmd := goredis.NewCmd(ctx, a...)
	if len(keys) > 0 {
		cmd.SetFirstKeyPos(3) // routes the call to the keys' Cluster slot
	}
	return cmd
}
