package cli

import (
	"encoding/csv"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// keyArg returns the lock key of a command that takes it as its first
// argument (KEY) or, as before, as --key: either is fine, both must agree.
func keyArg(cmd *cobra.Command, args []string, flagKey string) (string, error) {
	fromFlag := cmd.Flags().Changed("key")
	switch {
	case len(args) > 0 && fromFlag && args[0] != flagKey:
		return "", usagef("the key is given twice and differs: %q as KEY and %q as --key; give one", args[0], flagKey)
	case len(args) > 0:
		return args[0], checkKey(args[0])
	case fromFlag:
		return flagKey, checkKey(flagKey)
	}
	return "", usagef("a lock key is needed: %s KEY (or --key KEY)", cmd.CommandPath())
}

// atMostOne is the Args check of the commands that take one optional
// argument, named what (KEY, PREFIX).
func atMostOne(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 1 {
			return usagef("%s takes one %s, got %d arguments: %q", cmd.CommandPath(), what, len(args), args)
		}
		return nil
	}
}

// checkKey validates a key the way the lock manager would, naming it as
// lockctl's users know it.
func checkKey(key string) error {
	if err := lockmanager.ValidateKey(key); err != nil {
		return &usageError{err: fmt.Errorf("KEY: %w", err)}
	}
	return nil
}

// addKeyFlag adds --key, the older spelling of the KEY argument.
func addKeyFlag(cmd *cobra.Command, key *string) {
	cmd.Flags().StringVar(key, "key", "", "the lock key, as an alternative to the KEY argument")
}

// waitFlags are how run and hold wait for the lock: until it is free by
// default, at most --wait, or not at all with --no-wait.
type waitFlags struct {
	bound  time.Duration
	noWait bool
}

func (w *waitFlags) add(o *options, cmd *cobra.Command) {
	f := cmd.Flags()
	f.DurationVar(&w.bound, "wait", 0, "give up after this long if the lock is still held, e.g. 10m (default: wait until it is free)")
	short := "n"
	if o.program.Store != nil {
		short = "" // -n is the namespace where a Store's flags are kubectl's
	}
	f.BoolVarP(&w.noWait, "no-wait", short, false, "fail at once (exit 3) if another holder has the lock")
}

// resolve returns the wait to ask the lock manager for.
func (w *waitFlags) resolve(cmd *cobra.Command) (time.Duration, error) {
	waitSet := cmd.Flags().Changed("wait")
	switch {
	case w.noWait && waitSet:
		return 0, usagef("--no-wait and --wait contradict each other; give one")
	case w.noWait:
		return 0, nil
	case !waitSet:
		return lockmanager.WaitForever, nil
	}
	return w.bound, checkWait(w.bound)
}

func checkWait(d time.Duration) error {
	if d < 0 || d > lockmanager.MaxWait {
		return usagef("--wait must be between 0 and %s, got %s", lockmanager.MaxWait, d)
	}
	return nil
}

// metadataFlag is --metadata KEY=VALUE, repeatable; a comma separates
// several pairs in one flag, as before (CSV: quote a pair whose value holds
// a comma, --metadata '"k=a,b"').
type metadataFlag struct {
	m   map[string]string
	set bool
}

var _ pflag.Value = (*metadataFlag)(nil)

func (f *metadataFlag) Type() string { return "KEY=VALUE" }

func (f *metadataFlag) String() string {
	if len(f.m) == 0 {
		return ""
	}
	pairs := make([]string, 0, len(f.m))
	for _, k := range slices.Sorted(maps.Keys(f.m)) {
		pairs = append(pairs, k+"="+f.m[k])
	}
	return strings.Join(pairs, ",")
}

func (f *metadataFlag) Set(s string) error {
	fields, err := csv.NewReader(strings.NewReader(s)).Read()
	if err != nil {
		return fmt.Errorf("want KEY=VALUE pairs separated by commas: %w", err)
	}
	if f.m == nil {
		f.m = map[string]string{}
	}
	for _, kv := range fields {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE with a non-empty KEY, got %q", kv)
		}
		f.m[k] = v
	}
	f.set = true
	return nil
}

// value is the metadata to send: nil when the flag was not given.
func (f *metadataFlag) value() map[string]string {
	if !f.set {
		return nil
	}
	return f.m
}
