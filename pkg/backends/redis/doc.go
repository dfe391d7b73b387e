// Package redis is Leasehold's Redis backend: lock records kept as one
// Redis string each, decided and written by one Lua script per operation,
// over any go-redis UniversalClient (a single server, Sentinel, or
// Cluster).
//
// Use New with a client you build and own, or Open (and backends.Open) with
// a redis:// or rediss:// URL; importing this package registers both
// schemes. See Open for the URL's options (prefix, namespace, retention,
// cluster, master).
//
// # Errors from Open
//
// Open fails with ErrInvalidArgument, naming the part at fault, for what
// retrying cannot mend: a URL that does not parse or has another scheme,
// an unknown query parameter or a bad value for one (the error names the
// parameter). What the server says no to is ErrUnavailable, as a refused
// login or a missing database is on every backend: credentials it refuses
// (WRONGPASS, NOAUTH), a database index it does not have, a Sentinel
// master name the sentinels do not know (the error names it), and a server
// that cannot be reached (refused, timed out, TLS handshake failed). A
// context that ended first is reported as such. No error contains the
// password.
//
// # Keys
//
// A lock's record lives at PREFIX:NAMESPACE:{HEX} and, after a delete, its
// fence at PREFIX:NAMESPACE:{HEX}:fence, where HEX is the lowercase hex of
// the key's bytes. The Cluster hash tag is the braced part, so both keys of
// one lock are in one slot whatever the key contains ('{', '}', ':' and
// non-ASCII included), and hex keeps byte order, so List sorts by key.
// Prefix and namespace must not contain braces (New rejects them).
//
// # Storage format
//
// A record is one string: a format byte, a fixed binary header (token,
// change counter, acquired, renewed and expires at, lease, and the
// lengths of the holder and the key), then the holder, the key and the
// metadata (a JSON object, empty for none) verbatim, never joined with
// separators; internal/record gives the bytes. The scripts read it with
// one GET and write it with one SET whose PX is also its TTL. A fence is
// the last token in decimal.
//
// Upgrades: records written by the earlier format, a hash with one field
// per value, are read as they are by every operation and converted to a
// string by the next write to them (a grant, renewal or release), so a
// store needs no migration step and an upgrade loses no lock: a lock held
// in a hash is still held, its holder's version still matches (versions
// keep the form "<token>.<change>"), and tokens keep rising from the
// hash's token. Fences kept their format. During a rolling upgrade, a
// client of the earlier version that meets a converted record fails with
// ErrUnavailable (its scripts get WRONGTYPE), never with a wrong answer,
// until it is upgraded too.
//
// # One round trip per operation
//
// Acquire, Renew, Release and Get are each one EVALSHA of a script that
// reads, decides and writes atomically (Redis runs a script alone), and
// replies with one string that the client decodes without parsing text. When
// the server's script cache is empty (first use, or after a restart),
// go-redis gets NOSCRIPT and sends EVAL once: a second round trip that
// loads the script for every later call. List is a SCAN of the namespace
// plus one pipelined read of the page's records.
//
// # Clock rule
//
// The Redis server's clock decides everything: each script reads the
// server's TIME and judges a lease held while TIME < ExpiresAt, and all
// reported times (AcquiredAt, RenewedAt, ExpiresAt) are server times in
// microseconds. With Cluster or Sentinel, each lock is judged by the node
// that holds its slot.
//
// Records are not given a TTL equal to their lease: an expired record must
// stay readable (Held=false, the last holder and token), and an expired
// lease whose version still matches may be released. Instead, Redis's own
// expiry (the PX of each write) only cleans up abandoned records:
//
//   - on every grant and renewal, the record's TTL is lease + retention;
//   - on release without delete, its TTL is retention;
//   - on release with delete, the record is removed and the fence (its last
//     fencing token) is kept with a TTL of retention.
//
// Retention is 7 days unless WithRetention (or ?retention=) says otherwise.
//
// # Fencing tokens
//
// A new grant's token is max(floor + 1, T), where floor is the larger of
// the record's token and the fence's (whichever exist) and T is the
// server's TIME in microseconds when the script runs. Renewals keep the
// token. (The two never exist together: a delete moves the record's token
// into the fence, and the next grant moves it back and removes the fence,
// so a grant on an existing record need not read the fence.)
//
// While the record or its fence exists, floor + 1 alone makes tokens
// strictly increasing, across release, delete, expiry and takeover,
// whatever the clock does.
//
// When both are gone (the record and fence aged out after retention, or a
// Redis restart without persistence lost all data), the token is T. It is
// still above every earlier token for the key, provided the server's clock
// has not gone back across the gap: every token ever issued is at most the
// server time of its grant plus the number of grants of that key that
// happened within one microsecond of each other (floor + 1 only exceeds T
// when grants come faster than one per microsecond, which one key's
// grant-release-grant round trips through a single-threaded server do not
// reach), and a restart or a retention period takes far longer than that.
// So run Redis hosts with NTP that slews rather than steps the clock back,
// and keep the retention longer than any clock step you can suffer.
// Persistence (AOF or RDB) is not needed for fencing; it only keeps the
// records, and with them the current holders, across a restart.
//
// The same argument covers a Sentinel failover that loses the latest
// writes (replication is asynchronous): the promoted replica's clock must
// not be behind the old master's by more than the failover took, which
// NTP-synchronised hosts meet by orders of magnitude. A lost write can
// also lose the current grant itself, so that another holder is granted
// while the first still believes it holds the lock; that is inherent in
// asynchronous replication, and the higher fencing token is what lets the
// protected resource reject the old holder.
//
// Tokens are about 1.8e15 today and fit in a Lua double exactly until the
// year 2255.
//
// # Notifications
//
// Release publishes the key on the channel PREFIX:NAMESPACE:released from
// inside its script. Each Backend keeps one subscription to that channel
// while it has waiters, and fans messages out to them by key; after a
// reconnect every waiter is woken, as releases may have been missed.
// Expiry is not published (no keyspace notifications are needed): waiters
// are woken at the holder's reported expiry by the lock manager, and poll
// with jitter besides.
//
// # Retries
//
// No script is ever sent twice, whatever the client's MaxRetries: every
// script call is marked NoRetry, which go-redis honours on single-server,
// Sentinel, Cluster and Ring clients, so New accepts a client built with
// go-redis's default retries. After a network failure a script may have
// run although its reply was lost, and running it again would turn that
// success into a false error (a repeated Renew reports ErrVersionMismatch,
// a repeated Release ErrNotHolder) or apply it twice (a repeated Acquire
// renews). go-redis still follows a Cluster's MOVED and ASK redirects and
// retries a connection that failed before the command was written: the
// script has not run then. The first failure after the command was sent is
// returned as ErrUnavailable, an ambiguous outcome, and the lock manager's
// session retries within the lease's safe deadline and resolves an
// ambiguous renewal by reading the record. Read-only calls (List's
// pipeline, PING, the subscription) keep the client's retries.
//
// A Backend opened from a URL turns go-redis's retries off altogether
// (max_retries=-1; any other value is refused). test/linearize checks
// every operation for linearizability under connection resets with that
// setting.
package redis
