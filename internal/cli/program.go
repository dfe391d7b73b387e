package cli

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Program is what differs between the programs built on these commands:
// lockctl, which opens any backend by URL, and kubectl-leasehold, which
// opens the Kubernetes backend the way kubectl finds its cluster.
type Program struct {
	// Name is the executable's name: it starts every error line ("NAME: ").
	Name string
	// DisplayName is how help shows the command ("kubectl leasehold");
	// Name when empty.
	DisplayName string
	// Store replaces --backend and $LEASEHOLD_BACKEND when set.
	Store Store
}

// Store is a program's own way to select and open the lock store.
type Store interface {
	// AddFlags adds the flags that select the store to the root command.
	// They may use the shorthand -n: --no-wait then has none.
	AddFlags(flags *pflag.FlagSet)
	// Open opens the store the flags select. Errors wrapping
	// lockmanager.ErrInvalidArgument are usage errors (exit 2); others
	// mean the store could not be reached (exit 6).
	Open(ctx context.Context) (*lockmanager.Manager, error)
	// ObjectName names the store's object that holds key; get and list
	// print it in an OBJECT column, an "object" field and -o name.
	ObjectName(key string) string
	// ObjectKind is the resource of those objects as kubectl names it
	// ("distributedlock.locks.leasehold.dev"), the prefix of -o name.
	ObjectKind() string
	// Help describes the store for the root command's help.
	Help() string
}

// Lockctl is lockctl itself.
var Lockctl = Program{Name: "lockctl"}

func (p Program) displayName() string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return p.Name
}
