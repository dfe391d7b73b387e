package sqlrecord

import "github.com/leasehold/leasehold/pkg/backends"

// Rows is the part of *sql.Rows and pgx.Rows that CollectPage uses.
type Rows interface {
	Next() bool
	Err() error
}

// CollectPage reads one page of at most limit records from rows, which the
// caller's query fetched in key order with LIMIT limit+1: a row beyond limit
// means another page follows, and the page token is the last key returned.
// scan reads the current row. Errors are returned as the driver gave them,
// for the caller to map with StoreError; closing rows is the caller's.
func CollectPage(rows Rows, limit int, scan func() (backends.Lock, error)) (backends.ListPage, error) {
	var page backends.ListPage
	for rows.Next() {
		if len(page.Locks) == limit {
			page.NextPageToken = page.Locks[len(page.Locks)-1].Key
			break
		}
		l, err := scan()
		if err != nil {
			return backends.ListPage{}, err
		}
		page.Locks = append(page.Locks, l)
	}
	if err := rows.Err(); err != nil {
		return backends.ListPage{}, err
	}
	return page, nil
}
