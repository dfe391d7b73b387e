package sqlrecord

import (
	"context"
	"errors"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Record is Get's answer from a backend's read of one record (l, err):
// noRows, the driver's error for no row, is ErrNotFound, and any other
// failure goes through StoreError.
func Record(ctx context.Context, key string, noRows error, l backends.Lock, err error) (backends.Lock, error) {
	const op = "getting"
	switch {
	case errors.Is(err, noRows):
		return backends.Lock{}, backends.KeyError(op, key, backends.ErrNotFound)
	case err != nil:
		return backends.Lock{}, StoreError(ctx, op, key, err)
	}
	return l, nil
}

// Page is List's answer: query sends the backend's list statement for
// req, the one bounded by end (key < end) when bounded (see PrefixEnd),
// with LIMIT req.Limit+1; closeRows closes what it returned, and scan reads
// the current row. Failures go through StoreError.
func Page[R Rows](ctx context.Context, req *backends.ListRequest, query func(end string, bounded bool) (R, error),
	closeRows func(R), scan func(R) (backends.Lock, error)) (backends.ListPage, error) {
	const op = "listing"
	rows, err := query(PrefixEnd(req.Prefix))
	if err != nil {
		return backends.ListPage{}, StoreError(ctx, op, req.Prefix, err)
	}
	defer closeRows(rows)
	page, err := CollectPage(rows, req.Limit, func() (backends.Lock, error) { return scan(rows) })
	if err != nil {
		return backends.ListPage{}, StoreError(ctx, op, req.Prefix, err)
	}
	return page, nil
}

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
