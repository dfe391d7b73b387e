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

// Package testserver starts throwaway PostgreSQL and Redis servers for tests:
// real servers (never mocks), each on a free loopback port, in a temporary
// folder of its own, killed and removed when the test ends.
//
// What it promises:
//
//   - A Start function returns only once the server answers (a pgx ping over
//     TCP with the password for PostgreSQL, PING for Redis), or fails with
//     the tail of the server's log.
//   - Servers are children of the test process and get SIGKILL (Redis) or
//     SIGQUIT (PostgreSQL's immediate shutdown) if the test process dies, so a
//     crashed test leaves no server running.
//   - Stop and Start (or Restart) keep the port, so clients configured with
//     the URL reconnect to the same place: fault tests use them to take a
//     server away and bring it back. PostgreSQL keeps its data across a
//     restart; Redis runs without persistence, so a restart empties it.
//   - PostgreSQL needs no system service and works as root: the cluster is
//     created and run as the "postgres" user in a folder that user owns.
//     Host (TCP) connections need a password (scram-sha-256) and URL returns
//     one for the role "leasehold", owner of the database "leasehold";
//     AdminURL connects as the superuser over the Unix socket (trust).
//
// Tests that need one server per test use StartPostgres(t) and StartRedis(t).
// A package whose tests share one server (faster: initdb takes seconds) starts
// it from TestMain or a Ginkgo BeforeSuite with StartPostgresForMain or
// StartRedisForMain and calls the returned cleanup function at the end;
// Postgres.NewDatabase gives each test a database of its own on that server.
//
// StartSentinel starts `redis-server --sentinel` watching a master started
// with StartRedis (its replicas are StartRedis servers given "--replicaof"),
// with timings short enough for a fail-over test to take seconds.
//
// The binaries come from the Debian packages postgresql and redis-server;
// hack/ensure-test-servers.sh (make test-servers) installs them. The
// environment variables LEASEHOLD_PG_BINDIR (the folder holding initdb and
// postgres) and LEASEHOLD_REDIS_SERVER (the redis-server binary) override
// where they are looked for.
package testserver
