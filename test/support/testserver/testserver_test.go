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

package testserver_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/leasehold/leasehold/test/support/testserver"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connectPG(ctx context.Context, t *testing.T, rawURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		t.Fatalf("connecting to %s: %v", redactURL(rawURL), err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	pg := testserver.StartPostgres(t)
	ctx := testContext(t)

	t.Run("URL has the promised shape", func(t *testing.T) {
		want := "postgres://leasehold:" + pg.Password() + "@" + pg.Addr() + "/leasehold?sslmode=disable"
		if got := pg.URL(); got != want {
			t.Errorf("URL() = %q, want %q", got, want)
		}
		if !strings.HasPrefix(pg.Addr(), "127.0.0.1:") || pg.Port() <= 0 {
			t.Errorf("Addr() = %q, Port() = %d; want a loopback address with a port", pg.Addr(), pg.Port())
		}
	})

	t.Run("answers over TCP with the password as leasehold", func(t *testing.T) {
		conn := connectPG(ctx, t, pg.URL())
		var user, db string
		if err := conn.QueryRow(ctx, "SELECT current_user, current_database()").Scan(&user, &db); err != nil {
			t.Fatalf("query: %v", err)
		}
		if user != "leasehold" || db != "leasehold" {
			t.Errorf("connected as %s to %s, want leasehold to leasehold", user, db)
		}
	})

	t.Run("rejects a wrong password over TCP", func(t *testing.T) {
		u, err := url.Parse(pg.URL())
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword("leasehold", "not-"+pg.Password())
		conn, err := pgx.Connect(ctx, u.String())
		if err == nil {
			_ = conn.Close(ctx)
			t.Fatal("connecting with a wrong password succeeded, want an authentication error")
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "28P01" { // invalid_password
			t.Errorf("error = %v, want SQLSTATE 28P01 (invalid_password)", err)
		}
	})

	t.Run("NewDatabase gives an empty database owned by leasehold", func(t *testing.T) {
		conn := connectPG(ctx, t, pg.NewDatabase(t))
		var db string
		var tables int
		if err := conn.QueryRow(ctx, "SELECT current_database(), (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')").Scan(&db, &tables); err != nil {
			t.Fatalf("query: %v", err)
		}
		if db == "leasehold" || tables != 0 {
			t.Errorf("database %q with %d tables, want a fresh empty database", db, tables)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE owned (id int)"); err != nil {
			t.Errorf("leasehold cannot create tables in its new database: %v", err)
		}
	})
}

func TestPostgresStopRestartKeepsData(t *testing.T) {
	t.Parallel()
	pg := testserver.StartPostgres(t)
	ctx := testContext(t)

	conn := connectPG(ctx, t, pg.URL())
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before restart')"); err != nil {
		t.Fatalf("writing: %v", err)
	}
	port := pg.Port()

	pg.Stop()
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("ping succeeded on a connection to a stopped server")
	}
	if c, err := pgx.Connect(ctx, pg.URL()); err == nil {
		_ = c.Close(ctx)
		t.Fatal("connecting to a stopped server succeeded")
	}

	if err := pg.Start(); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	if pg.Port() != port {
		t.Errorf("port changed across restart: %d, then %d", port, pg.Port())
	}
	var v string
	if err := connectPG(ctx, t, pg.URL()).QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil {
		t.Fatalf("reading after restart: %v", err)
	}
	if v != "before restart" {
		t.Errorf("read %q after restart, want %q", v, "before restart")
	}

	if err := pg.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if err := connectPG(ctx, t, pg.URL()).Ping(ctx); err != nil {
		t.Errorf("ping after Restart: %v", err)
	}
}

func TestPostgresForMainCleanupRemovesServer(t *testing.T) {
	t.Parallel()
	pg, cleanup, err := testserver.StartPostgresForMain()
	if err != nil {
		t.Fatalf("StartPostgresForMain: %v", err)
	}
	ctx := testContext(t)
	if err := connectPG(ctx, t, pg.URL()).Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	cleanup()
	if c, err := pgx.Connect(ctx, pg.URL()); err == nil {
		_ = c.Close(ctx)
		t.Fatal("server still answers after cleanup")
	}
}

func newRedisClient(t *testing.T, r *testserver.Redis) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(r.URL())
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", r.URL(), err)
	}
	opts.MaxRetries = -1 // a stopped server must show at once
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedis(t *testing.T) {
	t.Parallel()
	r := testserver.StartRedis(t)
	ctx := testContext(t)

	if want := "redis://" + r.Addr() + "/0"; r.URL() != want {
		t.Errorf("URL() = %q, want %q", r.URL(), want)
	}
	c := newRedisClient(t, r)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("GET = %q, %v; want \"v\"", got, err)
	}
}

func TestRedisExtraArgs(t *testing.T) {
	t.Parallel()
	r := testserver.StartRedis(t, "--notify-keyspace-events", "KEA")
	ctx := testContext(t)
	got, err := newRedisClient(t, r).ConfigGet(ctx, "notify-keyspace-events").Result()
	if err != nil {
		t.Fatalf("CONFIG GET: %v", err)
	}
	// Redis reports the flags in its own order; KEA is everything.
	if v := got["notify-keyspace-events"]; len(v) < 3 || !strings.Contains(v, "K") || !strings.Contains(v, "E") {
		t.Errorf("notify-keyspace-events = %q, want the KEA flags", v)
	}
}

func TestRedisWithPassword(t *testing.T) {
	t.Parallel()
	r := testserver.StartRedis(t, "--requirepass", "pa:ss@word")
	ctx := testContext(t)
	if r.Password() != "pa:ss@word" {
		t.Fatalf("Password() = %q", r.Password())
	}
	if err := newRedisClient(t, r).Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with the URL's password: %v", err)
	}
	anon := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING without a password = %v, want NOAUTH", err)
	}
}

func TestRedisStopRestartLosesData(t *testing.T) {
	t.Parallel()
	r := testserver.StartRedis(t)
	ctx := testContext(t)
	c := newRedisClient(t, r)
	if err := c.Set(ctx, "lost", "on restart", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	port := r.Port()

	r.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded against a stopped server")
	}

	if err := r.Start(); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	if r.Port() != port {
		t.Errorf("port changed across restart: %d, then %d", port, r.Port())
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}
	if err := c.Get(ctx, "lost").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET after restart: err = %v, want redis.Nil (no persistence)", err)
	}

	if err := c.Set(ctx, "lost", "again", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if err := r.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if err := c.Get(ctx, "lost").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET after Restart: err = %v, want redis.Nil", err)
	}
}

func TestRedisForMainCleanupRemovesServer(t *testing.T) {
	t.Parallel()
	r, cleanup, err := testserver.StartRedisForMain()
	if err != nil {
		t.Fatalf("StartRedisForMain: %v", err)
	}
	ctx := testContext(t)
	c := newRedisClient(t, r)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	cleanup()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("server still answers after cleanup")
	}
}
