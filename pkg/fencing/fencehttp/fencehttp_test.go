package fencehttp_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leasehold/leasehold/pkg/backends/sqlite"
	"github.com/leasehold/leasehold/pkg/fencing"
	"github.com/leasehold/leasehold/pkg/fencing/fencehttp"
	"github.com/leasehold/leasehold/pkg/fencing/fencesql"
)

// resource is a service whose writes the middleware fences; it records the
// bodies it accepted.
type resource struct {
	srv      *httptest.Server
	accepted atomic.Int32
}

func startResource(t *testing.T, store fencing.Store) *resource {
	t.Helper()
	r := &resource{}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if tok, ok := fencehttp.TokenFrom(req.Context()); !ok || tok == 0 {
			t.Errorf("the handler got no admitted token")
		}
		r.accepted.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	r.srv = httptest.NewServer(fencehttp.Middleware(store)(h))
	t.Cleanup(r.srv.Close)
	return r
}

// put sends a write fenced by token through the client-side Transport and
// returns the status and body.
func put(t *testing.T, r *resource, lock string, token uint64) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &fencehttp.Transport{Lock: lock, Token: func() uint64 { return token }}}
	req, err := http.NewRequest(http.MethodPut, r.srv.URL+"/report", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if req.Header.Get(fencehttp.HeaderToken) != "" {
		t.Errorf("the Transport changed the caller's request")
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

type reply struct {
	Status int
	Body   string
}

func TestLowerTokenRefusedAcrossRestart(t *testing.T) {
	// Each persistent store, opened anew as a restarted service would.
	stores := map[string]func(t *testing.T) func() fencing.Store{
		"file": func(t *testing.T) func() fencing.Store {
			path := filepath.Join(t.TempDir(), "fences.json")
			return func() fencing.Store {
				s, err := fencing.NewFileStore(path)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		},
		"sqlite": func(t *testing.T) func() fencing.Store {
			dsn := sqlite.DSN(filepath.Join(t.TempDir(), "fences.db"), 5*time.Second)
			return func() fencing.Store {
				db, err := sql.Open("sqlite", dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = db.Close() })
				s, err := fencesql.NewStore(context.Background(), db)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		},
	}
	const lock = "reports/daily é" // escaped in the header
	stale := func(token, highest int) reply {
		return reply{http.StatusConflict, `stale fencing token for lock "reports/daily é": the write carries token ` +
			strconv.Itoa(token) + `, lower than ` + strconv.Itoa(highest) + `, the highest seen`}
	}
	ok := reply{http.StatusNoContent, ""}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			reopen := open(t)
			r := startResource(t, reopen())
			got := make([]reply, 0, 5)
			for _, tok := range []uint64{5, 7, 5} {
				s, b := put(t, r, lock, tok)
				got = append(got, reply{s, b})
			}
			r.srv.Close()

			r2 := startResource(t, reopen())
			for _, tok := range []uint64{6, 7} {
				s, b := put(t, r2, lock, tok)
				got = append(got, reply{s, b})
			}
			want := []reply{ok, ok, stale(5, 7), stale(6, 7), ok}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("replies (-want +got):\n%s", diff)
			}
			if n := r.accepted.Load() + r2.accepted.Load(); n != 3 {
				t.Errorf("the handler ran %d times, want 3 (the admitted writes only)", n)
			}
		})
	}
}

func TestMalformedRequests(t *testing.T) {
	r := startResource(t, fencing.NewMemoryStore())
	tests := []struct {
		name   string
		header map[string]string
		want   reply
	}{
		{"no lock", map[string]string{fencehttp.HeaderToken: "3"},
			reply{http.StatusBadRequest, "invalid argument: Leasehold-Lock header: must name the lock, got none"}},
		{"no token", map[string]string{fencehttp.HeaderLock: "k"},
			reply{http.StatusBadRequest, "invalid argument: Leasehold-Fencing-Token header: must carry the writer's fencing token, got none"}},
		{"token not a number", map[string]string{fencehttp.HeaderLock: "k", fencehttp.HeaderToken: "x"},
			reply{http.StatusBadRequest, `invalid argument: Leasehold-Fencing-Token header: must be a decimal fencing token, got "x"`}},
		{"token 0", map[string]string{fencehttp.HeaderLock: "k", fencehttp.HeaderToken: "0"},
			reply{http.StatusBadRequest, "invalid argument: Leasehold-Fencing-Token header: must be at least 1 (0 is never granted), got 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, r.srv.URL, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			b, _ := io.ReadAll(resp.Body)
			if diff := cmp.Diff(tt.want, reply{resp.StatusCode, strings.TrimSpace(string(b))}); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
	if n := r.accepted.Load(); n != 0 {
		t.Errorf("the handler ran %d times for malformed requests", n)
	}
}

func TestWithLockFromPath(t *testing.T) {
	store := fencing.NewMemoryStore()
	h := fencehttp.Middleware(store, fencehttp.WithLock(func(r *http.Request) (string, error) {
		return strings.TrimPrefix(r.URL.Path, "/"), nil
	}))(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	for _, tc := range []struct {
		path  string
		token string
		want  int
	}{{"/a", "4", 204}, {"/b", "2", 204}, {"/a", "3", 409}} {
		req := httptest.NewRequest(http.MethodPut, tc.path, nil)
		req.Header.Set(fencehttp.HeaderToken, tc.token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("PUT %s with token %s = %d, want %d", tc.path, tc.token, w.Code, tc.want)
		}
	}
}
