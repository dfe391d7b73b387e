package lockmanager

import "github.com/leasehold/leasehold/pkg/backends"

// Lock is a lock record. Held is computed by the backend: false once the
// lock is released or its lease has expired, so no caller compares
// timestamps itself.
type Lock = backends.Lock

// ListPage is one page of List's results.
type ListPage = backends.ListPage
