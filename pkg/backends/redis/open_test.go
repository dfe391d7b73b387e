package redis_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/leasehold/leasehold/pkg/backends"
	lhredis "github.com/leasehold/leasehold/pkg/backends/redis"
	"github.com/leasehold/leasehold/pkg/lockmanager"
	"github.com/leasehold/leasehold/test/support/testserver"
)

const password = "s3cret-Pa55word"

// passwordServer is a redis-server that requires password. The password is
// set once the server runs: testserver's readiness probe sends PING without
// AUTH, so a server started with --requirepass never counts as ready.
func passwordServer(t *testing.T, extraArgs ...string) *testserver.Redis {
	t.Helper()
	r := testserver.StartRedis(t, extraArgs...)
	if err := adminClient(t, r, 0, "").ConfigSet(context.Background(), "requirepass", password).Err(); err != nil {
		t.Fatalf("setting the password: %v", err)
	}
	return r
}

func openURL(t *testing.T, rawURL string) (backends.Backend, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := backends.Open(ctx, rawURL)
	if err == nil {
		t.Cleanup(func() { _ = b.Close() })
	}
	return b, err
}

// The URL's prefix and namespace decide where records live, the password
// authenticates, and two backends opened on the same namespace share locks.
func TestOpenURLWithPasswordPrefixAndNamespace(t *testing.T) {
	r := passwordServer(t)
	u := fmt.Sprintf("redis://:%s@%s/2?prefix=myapp&namespace=team-a&retention=1h", password, r.Addr())
	one, err := openURL(t, u)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	two, err := openURL(t, u)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	other, err := openURL(t, strings.Replace(u, "team-a", "team-b", 1))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx := context.Background()
	l := acquire(t, one, "job:1", "a", nil)
	if _, err := two.Acquire(ctx, &backends.AcquireRequest{Key: "job:1", Holder: "b", LeaseDuration: time.Minute}); !errors.Is(err, backends.ErrLockHeld) {
		t.Fatalf("second client of the namespace: %v, want ErrLockHeld", err)
	}
	acquire(t, other, "job:1", "b", nil)

	admin := adminClient(t, r, 2, password)
	want := "myapp:team-a:{" + hex.EncodeToString([]byte("job:1")) + "}"
	if n, err := admin.Exists(ctx, want).Result(); err != nil || n != 1 {
		t.Fatalf("record %q in database 2: exists=%d, %v", want, n, err)
	}
	if ttl, err := admin.PTTL(ctx, want).Result(); err != nil || ttl > time.Minute+time.Hour || ttl < time.Hour {
		t.Fatalf("record TTL %s, %v; want lease + retention=1h", ttl, err)
	}
	release(t, one, l, false)
}

// A URL's client never retries a command (go-redis would retry 3 times):
// a script whose reply was lost must not run a second time. go-redis
// stores "no retries" (-1) as 0 once the client is built.
func TestOpenTurnsRetriesOff(t *testing.T) {
	r := passwordServer(t)
	for _, q := range []string{"", "?max_retries=-1"} {
		b, err := openURL(t, fmt.Sprintf("redis://:%s@%s/0%s", password, r.Addr(), q))
		if err != nil {
			t.Fatalf("Open(%q): %v", q, err)
		}
		c, ok := lhredis.ClientOf(b.(*lhredis.Backend)).(*goredis.Client)
		if !ok {
			t.Fatalf("Open(%q) built a %T, want *redis.Client", q, lhredis.ClientOf(b.(*lhredis.Backend)))
		}
		if got := c.Options().MaxRetries; got != 0 {
			t.Errorf("Open(%q): MaxRetries = %d, want 0 (no retries)", q, got)
		}
	}
}

// Open's failures fall into the documented classes: whatever retrying
// cannot mend (the URL, its parameters, the credentials, the database) is
// ErrInvalidArgument naming the part at fault; an unreachable server is
// ErrUnavailable. No message carries the password.
func TestOpenBadInput(t *testing.T) {
	r := passwordServer(t)
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		return addr
	}()
	for _, tc := range []struct {
		name, url string
		want      error  // nil: any error
		mention   string // the message must contain this
	}{
		{"Malformed", "redis://:" + password + "@127.0.0.1:bad port/0", backends.ErrInvalidArgument, "cannot be parsed"},
		{"BadDatabase", "redis://:" + password + "@" + r.Addr() + "/notanumber", backends.ErrInvalidArgument, "database: "},
		{"UnknownDatabase", "redis://:" + password + "@" + r.Addr() + "/16", backends.ErrUnavailable, "no such database"},
		{"BadOptionValue", "redis://:" + password + "@" + r.Addr() + "/0?pool_size=many", backends.ErrInvalidArgument, "pool_size: "},
		{"AddrWithoutClusterOrMaster", "redis://:" + password + "@" + r.Addr() + "/0?addr=127.0.0.1:1", backends.ErrInvalidArgument, "addr: "},
		{"BadScheme", "http://" + r.Addr() + "/0", backends.ErrInvalidArgument, "scheme"},
		{"UnknownOption", "redis://:" + password + "@" + r.Addr() + "/0?frobnicate=1", backends.ErrInvalidArgument, "frobnicate: "},
		{"RetriesOn", "redis://:" + password + "@" + r.Addr() + "/0?max_retries=3", backends.ErrInvalidArgument, "max_retries"},
		{"BadRetention", "redis://:" + password + "@" + r.Addr() + "/0?retention=soon", backends.ErrInvalidArgument, "retention"},
		{"BraceInNamespace", "redis://:" + password + "@" + r.Addr() + "/0?namespace=%7Bx%7D", backends.ErrInvalidArgument, "namespace"},
		{"Unreachable", "redis://:" + password + "@" + closedPort + "/0?dial_timeout=2s", backends.ErrUnavailable, "connection refused"},
		{"WrongPassword", "redis://:wrong-" + password + "@" + r.Addr() + "/0", backends.ErrUnavailable, "rejected the credentials"},
		{"UnknownUser", "redis://nobody:" + password + "@" + r.Addr() + "/0", backends.ErrUnavailable, "rejected the credentials"},
		{"NoPassword", "redis://" + r.Addr() + "/0", backends.ErrUnavailable, "rejected the credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openURL(t, tc.url)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("error %q contains the password", err)
			}
			t.Logf("error: %v", err)
		})
	}
}

// rediss:// connects over TLS with the password; without trust in the
// server's certificate Open fails and says why.
func TestOpenTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	port := freePort(t)
	r := passwordServer(t,
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", cert,
		"--tls-key-file", key,
		"--tls-ca-cert-file", cert,
		"--tls-auth-clients", "no",
	)
	_ = r // stopped with the test
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	b, err := openURL(t, "rediss://:"+password+"@"+addr+"/0?skip_verify=true&namespace=tls")
	if err != nil {
		t.Fatalf("Open over TLS: %v", err)
	}
	l := acquire(t, b, "k", "a", map[string]string{"over": "tls"})
	release(t, b, l, true)

	_, err = openURL(t, "rediss://:"+password+"@"+addr+"/0?dial_timeout=5s")
	if err == nil || !strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), password) {
		t.Fatalf("Open over TLS with an untrusted certificate: %v; want an error about the certificate without the password", err)
	}
	_, err = openURL(t, "rediss://:wrong@"+addr+"/0?skip_verify=true")
	if err == nil || !strings.Contains(err.Error(), "rejected the credentials") {
		t.Fatalf("Open over TLS with a wrong password: %v", err)
	}
}

// observed wraps a Backend (keeping its Subscribe) and reports the first
// Acquire refused with ErrLockHeld.
type observed struct {
	*lhredis.Backend
	once    sync.Once
	refused chan struct{}
}

func (o *observed) Acquire(ctx context.Context, req *backends.AcquireRequest) (backends.Lock, error) {
	l, err := o.Backend.Acquire(ctx, req)
	if errors.Is(err, backends.ErrLockHeld) {
		o.once.Do(func() { close(o.refused) })
	}
	return l, err
}

// A waiter refused once is granted through the pub/sub wake-up alone. Its
// poll period makes the next poll at least 27.5s away (55s jittered to
// [27.5s, 82.5s)) and the holder's expiry 60s away, so without the
// notification its 15s context would end first.
func TestWaiterWokenByReleaseNotByPolling(t *testing.T) {
	holder := lockmanager.New(newBackend(t, client, lhredis.WithNamespace("wake")))
	w := &observed{Backend: newBackend(t, client, lhredis.WithNamespace("wake")), refused: make(chan struct{})}
	waiter := lockmanager.New(w)
	ctx := context.Background()
	const lease = time.Minute
	l, err := holder.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: lease})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		_, err := waiter.Acquire(wctx, lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: lease, Wait: time.Hour, RefreshPeriod: 55 * time.Second})
		done <- err
	}()
	select {
	case <-w.refused:
	case err := <-done:
		t.Fatalf("waiter ended before it was refused: %v", err)
	}
	if err := holder.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiter: %v", err)
	}
}

// After the server restarts, the subscription is re-established and every
// waiter is woken, since releases in between were lost; later releases
// arrive again.
func TestSubscriptionSurvivesRestart(t *testing.T) {
	r := testserver.StartRedis(t)
	c := adminClient(t, r, 0, "")
	b := newBackend(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := b.Subscribe(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatal("no wake-up within 20s of the restart")
	}
	// Drain a possible second reconnect signal, then prove releases flow.
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := acquire(t, b, "k", "a", nil)
		release(t, b, l, true)
		select {
		case <-ch:
			return
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("releases after the restart never signalled")
		}
	}
}

// adminClient is a plain client of r's database db, closed with the test.
func adminClient(t *testing.T, r *testserver.Redis, db int, password string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr(), DB: db, Password: password})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its
// key, returning their paths.
func writeSelfSigned(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "leasehold test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
