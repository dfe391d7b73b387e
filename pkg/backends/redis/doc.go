// Package redis is Leasehold's Redis backend: each lock record is one Redis
// string, read, decided and written by one Lua script per operation, over
// any go-redis UniversalClient (a single server, Sentinel or Cluster).
//
// [New] takes a client the caller built and keeps owning. [Open] builds
// one from a redis:// or rediss:// URL, with Leasehold's query options
// (prefix, namespace, retention, cluster=true for a Cluster, master=NAME
// for Sentinel) beside go-redis's own; importing the package registers
// both schemes for backends.Open. Options: [WithNamespace], [WithPrefix]
// and [WithRetention]. Open fails with ErrInvalidArgument, naming the
// part at fault, for what retrying cannot mend (the URL, a parameter), and
// with ErrUnavailable for what the server refuses (credentials, a database
// index, a Sentinel master it does not know) or a server it cannot reach.
// No error contains the password.
//
// # Keys
//
// A lock's record lives at PREFIX:NAMESPACE:{HEX} and, after a delete, its
// fence at PREFIX:NAMESPACE:{HEX}:fence, where HEX is the hex of the key's
// bytes. The braced hash tag puts both in one Cluster slot whatever the key
// contains, and hex keeps byte order, so List sorts by key. Prefix and
// namespace must not contain braces.
//
// # Clock and retention
//
// The Redis server's clock decides: each script judges a lease held while
// the server's TIME is before ExpiresAt, and every reported time is a
// server time in microseconds. In a Cluster, each lock is judged by the
// node that holds its slot.
//
// An expired record stays readable (Held false, the last holder and
// token), so records get no TTL equal to their lease; Redis's expiry only
// removes abandoned ones. A grant or renewal sets the record's TTL to
// lease + retention, a release to retention, and a delete removes the
// record and keeps its last fencing token in the fence for retention.
// Retention is 7 days unless WithRetention (or ?retention=) says
// otherwise.
//
// # Fencing tokens
//
// A new grant's token is max(floor + 1, T), where floor is the token of
// the record or of its fence (they never exist together) and T the
// server's TIME in microseconds; renewals keep the token. While the record
// or its fence exists, floor + 1 makes tokens rise strictly, whatever the
// clock does. Once both are gone (aged out after retention, or lost in a
// restart without persistence), T keeps them rising provided the server's
// clock has not gone back across the gap: every earlier token is at most
// its grant's server time plus the number of the key's grants less than a
// microsecond apart. So run Redis hosts with NTP
// that slews rather than steps the clock back, and keep the retention
// longer than any clock step you can suffer; persistence is not needed
// for fencing. A Sentinel failover that loses the latest writes is covered
// alike, as long as the promoted replica's clock is not behind by more
// than the failover took; it can lose the current grant itself, and then
// the new holder's higher token is what lets the protected resource refuse
// the old one.
//
// # Notifications
//
// Release publishes the key on the channel PREFIX:NAMESPACE:released from
// inside its script; each Backend keeps one subscription to it while it
// has waiters. Expiry is not published, so Redis needs no keyspace
// notifications: lockmanager wakes waiters at the holder's reported
// expiry.
//
// # Retries
//
// No script is sent twice, whatever the client's MaxRetries, since one
// whose reply was lost may have run: script calls are marked NoRetry
// (reads keep the client's retries), so New accepts a client with
// go-redis's default retries, and Open turns retries off (max_retries=-1;
// any other value is refused). A failure after a script was sent is
// ErrUnavailable, an ambiguous outcome that lockmanager's session resolves
// by reading the record.
//
// # Upgrades and limits
//
// Records of the earlier format, a hash per lock, are read as they are and
// converted to a string by the next write, so an upgrade needs no
// migration and loses no lock. During a rolling upgrade, a client of the
// earlier version that meets a converted record fails with ErrUnavailable,
// never with a wrong answer. List scans the namespace's keys for every
// page: it is meant for inspection, not for hot paths.
package redis
