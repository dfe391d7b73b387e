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

// script is a Lua script and its SHA-1, the name EVALSHA knows it by,
// each kept boxed as a command argument too, so that calls do not box them
// again.
type script struct {
	src, hash       string
	srcArg, hashArg any
}

func newScript(src string) *script {
	h := sha1.Sum([]byte(src))
	hash := hex.EncodeToString(h[:])
	return &script{src: src, hash: hash, srcArg: src, hashArg: hash}
}

// evalOnce runs s with EVALSHA, and with EVAL when the server's script
// cache lacks it (first use, or after a restart), each sent at most once.
// args are two slots that evalOnce fills with the command and the
// script, the number of keys, then the keys and the script's arguments.
func evalOnce(ctx context.Context, c goredis.UniversalClient, s *script, args []any) *goredis.Cmd {
	args[0], args[1] = "evalsha", s.hashArg
	cmd := evalCmd(ctx, args)
	_ = c.Process(ctx, onceCmd{cmd})
	if isNoScript(cmd.Err()) {
		// NOSCRIPT means the script did not run: sending it now is its
		// first run. The first command is done with, so its arguments can
		// be reused.
		args[0], args[1] = "eval", s.srcArg
		cmd = evalCmd(ctx, args)
		_ = c.Process(ctx, onceCmd{cmd})
	}
	return cmd
}

func evalCmd(ctx context.Context, args []any) *goredis.Cmd {
	cmd := goredis.NewCmd(ctx, args...)
	if n, _ := args[2].(int); n > 0 {
		cmd.SetFirstKeyPos(3) // routes the call to the keys' Cluster slot
	}
	return cmd
}
