/*
Copyright 2026 The Leasehold Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

const (
	// pgUser is the role, and the database it owns, that URL connects as.
	pgUser = "leasehold"
	// pgSuperuser is the cluster's bootstrap superuser (AdminURL).
	pgSuperuser = "postgres"
	// pgRunAsUser is the system user that owns and runs the cluster when the
	// tests run as root, since PostgreSQL refuses to run as root.
	pgRunAsUser = "postgres"
)

// Postgres is a throwaway PostgreSQL cluster on a loopback port.
type Postgres struct {
	binDir   string
	dir      string // owned by the user that runs the server
	dataDir  string
	port     int
	password string
	cred     *syscall.Credential // non-nil when running as root
	dbSeq    atomic.Int64

	mu   sync.Mutex
	proc *process // nil while stopped
}

// StartPostgres starts a PostgreSQL cluster for the test t and removes it
// when t ends. It fails t if the cluster cannot start.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, cleanup, err := StartPostgresForMain()
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(cleanup)
	return p
}

// StartPostgresForMain starts a PostgreSQL cluster without a *testing.T, for
// a package's TestMain or a Ginkgo BeforeSuite that shares one server among
// all tests. The caller must call cleanup, which stops the server and removes
// its folder.
func StartPostgresForMain() (p *Postgres, cleanup func(), err error) {
	binDir, err := postgresBinDir()
	if err != nil {
		return nil, nil, err
	}
	dir, err := tempDir("leasehold-pg-")
	if err != nil {
		return nil, nil, err
	}
	p = &Postgres{binDir: binDir, dir: dir, dataDir: filepath.Join(dir, "data")}
	fail := func(err error) (*Postgres, func(), error) {
		p.close()
		return nil, nil, err
	}
	if p.password, err = randomPassword(); err != nil {
		return fail(err)
	}
	if err := p.prepareOwner(); err != nil {
		return fail(err)
	}
	if err := p.initdb(); err != nil {
		return fail(err)
	}
	for attempt := 1; ; attempt++ {
		if p.port, err = freePort(); err != nil {
			return fail(err)
		}
		err = p.Start()
		if err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) || attempt == portAttempts {
			return fail(err)
		}
	}
	if err := p.createRole(); err != nil {
		return fail(err)
	}
	return p, p.close, nil
}

// URL returns a URL that connects over TCP with password authentication
// (scram-sha-256) as the role "leasehold" to its database "leasehold":
// postgres://leasehold:PASSWORD@127.0.0.1:PORT/leasehold?sslmode=disable.
func (p *Postgres) URL() string { return p.databaseURL(pgUser) }

// AdminURL returns a URL that connects as the superuser "postgres" over the
// cluster's Unix socket (trust authentication), for tests that need
// privileges the "leasehold" role lacks.
func (p *Postgres) AdminURL() string {
	q := url.Values{}
	q.Set("host", p.dir)
	q.Set("port", strconv.Itoa(p.port))
	q.Set("sslmode", "disable")
	return (&url.URL{Scheme: "postgres", User: url.User(pgSuperuser), Path: "/postgres", RawQuery: q.Encode()}).String()
}

// Addr returns the server's TCP address, 127.0.0.1:PORT.
func (p *Postgres) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// Port returns the server's TCP port. It stays the same across restarts.
func (p *Postgres) Port() int { return p.port }

// Password returns the password of the role "leasehold".
func (p *Postgres) Password() string { return p.password }

// NewDatabase creates an empty database owned by "leasehold", drops it when
// t ends, and returns a URL like URL's that connects to it. Tests sharing one
// server use it to stay independent of each other.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", p.dbSeq.Add(1))
	u, err := p.CreateDatabase(context.Background(), name)
	if err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// FORCE ends connections a test left open.
		if err := p.adminExec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	return u
}

// CreateDatabase creates an empty database called name, owned by
// "leasehold", and returns a URL like URL's that connects to it.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " OWNER " + pgx.Identifier{pgUser}.Sanitize()
	if err := p.adminExec(ctx, stmt); err != nil {
		return "", err
	}
	return p.databaseURL(name), nil
}

// Start starts the server again after Stop, on the same port and with the
// same data. It returns once the server answers. Starting a running server
// is a no-op.
func (p *Postgres) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		return nil
	}
	cmd := exec.Command(filepath.Join(p.binDir, "postgres"),
		"-D", p.dataDir,
		"-p", strconv.Itoa(p.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+p.dir,
		// Durability is worthless for a throwaway cluster and costs seconds.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		// Backend tests open pools from many goroutines at once.
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
	)
	p.asOwner(cmd)
	logPath := filepath.Join(p.dir, "postgres.log")
	// SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its
	// backends down with it if the test process dies.
	proc, err := startProcess(cmd, logPath, syscall.SIGQUIT)
	if err != nil {
		return err
	}
	if err := proc.waitReady("postgres", logPath, p.ping); err != nil {
		proc.stop(syscall.SIGQUIT)
		return err
	}
	p.proc = proc
	return nil
}

// Stop shuts the server down with PostgreSQL's fast shutdown (SIGINT: open
// connections are closed, data is kept). Stopping a stopped server is a
// no-op.
func (p *Postgres) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return
	}
	p.proc.stop(syscall.SIGINT)
	p.proc = nil
}

// Restart stops the server and starts it again on the same port with the
// same data.
func (p *Postgres) Restart() error {
	p.Stop()
	return p.Start()
}

func (p *Postgres) close() {
	p.Stop()
	_ = os.RemoveAll(p.dir)
}

func (p *Postgres) databaseURL(database string) string {
	return (&url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(pgUser, p.password),
		Host:     p.Addr(),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}).String()
}

// prepareOwner makes the folder belong to the "postgres" system user when
// running as root, and arranges for the server's commands to run as it.
// Setting the credentials on the child directly (rather than through
// runuser) keeps the server a direct child, so that the parent-death signal
// reaches it.
func (p *Postgres) prepareOwner() error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(pgRunAsUser)
	if err != nil {
		return fmt.Errorf("running as root needs the %q system user (from the postgresql package): %w", pgRunAsUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return fmt.Errorf("uid of %q: %w", pgRunAsUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return fmt.Errorf("gid of %q: %w", pgRunAsUser, err)
	}
	if err := os.Chown(p.dir, int(uid), int(gid)); err != nil {
		return fmt.Errorf("handing the server folder to %q: %w", pgRunAsUser, err)
	}
	p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	return nil
}

func (p *Postgres) asOwner(cmd *exec.Cmd) {
	// The test's working folder may be unreadable to the postgres user.
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
}

// initdb creates the cluster: trust over the Unix socket (which only the
// owner of the folder can reach), scram-sha-256 passwords over TCP.
func (p *Postgres) initdb() error {
	cmd := exec.Command(filepath.Join(p.binDir, "initdb"),
		"-D", p.dataDir,
		"-U", pgSuperuser,
		"--auth-local=trust",
		"--auth-host=scram-sha-256",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync",
	)
	p.asOwner(cmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

// createRole creates the password role "leasehold" and its database.
func (p *Postgres) createRole() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	// The password is hex, so quoting it as a literal is safe; CREATE ROLE
	// takes no bind parameters.
	stmts := []string{
		"CREATE ROLE " + pgUser + " LOGIN PASSWORD '" + p.password + "'",
		"CREATE DATABASE " + pgUser + " OWNER " + pgUser,
	}
	for _, stmt := range stmts {
		if err := p.adminExec(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

func (p *Postgres) adminExec(ctx context.Context, stmt string) error {
	conn, err := pgx.Connect(ctx, p.AdminURL())
	if err != nil {
		return fmt.Errorf("connecting as %s: %w", pgSuperuser, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, stmt); err != nil {
		// The statement may hold the password: name only its verb.
		verb, _, _ := strings.Cut(stmt, " ")
		return fmt.Errorf("%s statement: %w", verb, err)
	}
	return nil
}

// ping connects over the Unix socket as the superuser: the "leasehold"
// role does not exist yet on the first start.
func (p *Postgres) ping(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.AdminURL())
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	return conn.Ping(ctx)
}

func postgresBinDir() (string, error) {
	if dir := os.Getenv("LEASEHOLD_PG_BINDIR"); dir != "" {
		return dir, nil
	}
	// Debian installs each major version side by side; take the newest.
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(matches, func(i, j int) bool { return pgMajor(matches[i]) > pgMajor(matches[j]) })
	for _, m := range matches {
		dir := filepath.Dir(m)
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(m) {
			return dir, nil
		}
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(initdb); isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found: run `make test-servers` " +
		"(hack/ensure-test-servers.sh), install the postgresql package, or set LEASEHOLD_PG_BINDIR")
}

// pgMajor extracts the major version from /usr/lib/postgresql/N/bin/postgres.
func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func randomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a password: %w", err)
	}
	return hex.EncodeToString(b), nil
}
