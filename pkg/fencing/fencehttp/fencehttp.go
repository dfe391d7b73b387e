package fencehttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/leasehold/leasehold/pkg/fencing"
)

// The headers a fenced request carries. The lock's key is URL-escaped
// (url.PathEscape), since keys may hold any UTF-8.
const (
	HeaderLock  = "Leasehold-Lock"
	HeaderToken = "Leasehold-Fencing-Token"
)

// SetHeaders sets the lock and token headers of a request.
func SetHeaders(h http.Header, lock string, token uint64) {
	h.Set(HeaderLock, url.PathEscape(lock))
	h.Set(HeaderToken, strconv.FormatUint(token, 10))
}

// Transport is an http.RoundTripper that sets the lock and token headers
// on every request it sends, reading the token anew each time:
//
//	c := &http.Client{Transport: &fencehttp.Transport{Lock: key, Token: session.FencingToken}}
type Transport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Lock is the lock's key.
	Lock string
	// Token returns the token to send.
	Token func() uint64
}

// RoundTrip implements http.RoundTripper. It leaves req unchanged, as
// RoundTrippers must, and sends a clone with the headers.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	SetHeaders(r.Header, t.Lock, t.Token())
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// Option configures Middleware.
type Option func(*config)

type config struct {
	lock func(*http.Request) (string, error)
}

// WithLock makes the middleware take a request's lock from lock (for
// example from its path) instead of the Leasehold-Lock header. An error
// from lock refuses the request with 400 Bad Request.
func WithLock(lock func(*http.Request) (string, error)) Option {
	return func(c *config) { c.lock = lock }
}

// Middleware returns middleware that admits a request to next only when it
// carries a fencing token at least the highest that store has seen for its
// lock (recording it as the highest). It answers, without calling next:
// 400 for a missing or malformed lock or token, 409 Conflict for a lower
// token (naming the lock and both tokens), and 503 when the store fails.
func Middleware(store fencing.Store, opts ...Option) func(http.Handler) http.Handler {
	c := config{lock: lockFromHeader}
	for _, o := range opts {
		o(&c)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lock, err := c.lock(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			token, err := tokenFromHeader(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			switch err := store.Admit(r.Context(), lock, token); {
			case err == nil:
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, token)))
			case errors.Is(err, fencing.ErrStaleToken):
				http.Error(w, err.Error(), http.StatusConflict)
			case errors.Is(err, fencing.ErrInvalidArgument):
				http.Error(w, err.Error(), http.StatusBadRequest)
			default:
				http.Error(w, "checking the fencing token: "+err.Error(), http.StatusServiceUnavailable)
			}
		})
	}
}

type tokenKey struct{}

// TokenFrom returns the fencing token that Middleware admitted for the
// request whose context is ctx.
func TokenFrom(ctx context.Context) (uint64, bool) {
	t, ok := ctx.Value(tokenKey{}).(uint64)
	return t, ok
}

func lockFromHeader(r *http.Request) (string, error) {
	raw := r.Header.Get(HeaderLock)
	if raw == "" {
		return "", fmt.Errorf("%w: %s header: must name the lock, got none", fencing.ErrInvalidArgument, HeaderLock)
	}
	lock, err := url.PathUnescape(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %s header: must be URL-escaped, got %q", fencing.ErrInvalidArgument, HeaderLock, raw)
	}
	return lock, fencing.CheckLock(HeaderLock+" header", lock)
}

func tokenFromHeader(r *http.Request) (uint64, error) {
	raw := r.Header.Get(HeaderToken)
	if raw == "" {
		return 0, fmt.Errorf("%w: %s header: must carry the writer's fencing token, got none", fencing.ErrInvalidArgument, HeaderToken)
	}
	return fencing.ParseToken(HeaderToken+" header", raw)
}
