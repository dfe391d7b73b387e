package fencing

import (
	"fmt"
	"os"
)

// Environment variables that `lockctl run` gives the command it runs under
// a lock.
const (
	EnvKey          = "LEASEHOLD_KEY"
	EnvHolder       = "LEASEHOLD_HOLDER"
	EnvFencingToken = "LEASEHOLD_FENCING_TOKEN"
)

// FromEnv returns the lock key and fencing token that `lockctl run` passed
// in the environment (LEASEHOLD_KEY, LEASEHOLD_FENCING_TOKEN), for a
// program run under a lock to stamp its writes with.
func FromEnv() (key string, token uint64, err error) {
	key, ok := os.LookupEnv(EnvKey)
	if !ok {
		return "", 0, fmt.Errorf("%s is not set: run the program under a lock with lockctl run", EnvKey)
	}
	if err := CheckLock(EnvKey, key); err != nil {
		return "", 0, err
	}
	s, ok := os.LookupEnv(EnvFencingToken)
	if !ok {
		return "", 0, fmt.Errorf("%s is not set: run the program under a lock with lockctl run", EnvFencingToken)
	}
	token, err = ParseToken(EnvFencingToken, s)
	if err != nil {
		return "", 0, err
	}
	return key, token, nil
}
