package sqlrecord

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/leasehold/leasehold/pkg/backends"
)

// fakeRows yields keys, then err from Err.
type fakeRows struct {
	keys []string
	i    int
	err  error
}

func (r *fakeRows) Next() bool { r.i++; return r.i <= len(r.keys) }
func (r *fakeRows) Err() error { return r.err }

func TestCollectPage(t *testing.T) {
	rowsErr := errors.New("rows failed")
	scanErr := errors.New("scan failed")
	for _, tc := range []struct {
		name     string
		keys     []string // what the LIMIT limit+1 query returned
		limit    int
		rowsErr  error
		failScan string // the key whose scan fails
		want     backends.ListPage
		wantErr  error
	}{
		{"Empty", nil, 2, nil, "", backends.ListPage{}, nil},
		{"Short", []string{"a"}, 2, nil, "", backends.ListPage{Locks: []backends.Lock{{Key: "a"}}}, nil},
		{"Exact", []string{"a", "b"}, 2, nil, "", backends.ListPage{Locks: []backends.Lock{{Key: "a"}, {Key: "b"}}}, nil},
		// The extra row says that a page follows, and is not returned.
		{"More", []string{"a", "b", "c"}, 2, nil, "", backends.ListPage{Locks: []backends.Lock{{Key: "a"}, {Key: "b"}}, NextPageToken: "b"}, nil},
		{"RowsError", []string{"a"}, 2, rowsErr, "", backends.ListPage{}, rowsErr},
		{"ScanError", []string{"a", "b"}, 2, nil, "b", backends.ListPage{}, scanErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := &fakeRows{keys: tc.keys, err: tc.rowsErr}
			got, err := CollectPage(rows, tc.limit, func() (backends.Lock, error) {
				key := rows.keys[rows.i-1]
				if key == tc.failScan {
					return backends.Lock{}, scanErr
				}
				return backends.Lock{Key: key}, nil
			})
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("CollectPage error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("CollectPage (-want +got):\n%s", diff)
			}
		})
	}
}
