// Package lease reads a DistributedLock as a lease: its duration, its
// expiry, the identity of its lock state (the version clients see) and the
// verdict of the Kubernetes expiry rule. It is the one home of that rule.
// The Kubernetes backend (package kubernetes) applies it to report Held,
// to refuse an expired renewal, to grant over an expired lease and to wake
// waiters when a lease runs out; the controller (package controllers)
// applies it to reap. So every party agrees on the boundary, the duration
// and the skew allowance.
//
// # The rule
//
// Kubernetes has no server clock, so each party judges expiry on its own
// clocks. A held lease is expired at the earlier of
//
//	(a) ObservedSince + Duration: the party has itself seen the same lock
//	    state (Identity) unchanged for a whole lease, on its monotonic clock;
//	(b) RenewTime + Duration + SkewAllowance: the holder's renewTime,
//	    written from the holder's wall clock, trusted within the allowance.
//
// The lease is expired from that instant on (Verdict.Remaining <= 0).
// [Rule.Judge] applies the rule at one instant of the party's clock: a
// lease without renewTime is judged by (a) alone, and one the party has
// not observed (ObservedSince zero) by (b) alone. Verdict.ExpiresAt, the
// expiry clients report, is renewTime + lease as the holder wrote them.
//
// (a) is always safe: a party sees a lock state only after the API server
// committed it, so after the holder sent it, and the holder's session
// counts its lease from the moment it sent the request and stops a safety
// margin before the end (package lockmanager). The wait runs on the
// monotonic clock, so a step of the wall clock does not shorten it, and a
// holder whose clock runs ahead cannot make its lease outlast it.
//
// (b) lets a party that started watching late (a restarted controller, a
// new client) judge without waiting a whole lease. It is safe while the
// holder's wall clock runs behind the party's by less than the allowance:
// [DefaultSkewAllowance] (1 s), set by the backend's WithSkewAllowance
// and the manager's --clock-skew-allowance. A holder whose clock lags by
// more may find its lease taken before its session stops; fencing tokens
// still refuse its late writes.
//
// # Lock state identity
//
// The lock state that (a) watches is the object's [Identity]: its UID and
// metadata.generation. The API server moves generation on with every
// change of the spec and never for status or metadata, so every grant,
// renewal and release is a new state, while the controller's status writes
// and people's labels and annotations, which move resourceVersion, restart
// no party's wait. The UID tells a re-created object from an earlier one.
// [Identity.Version], "GENERATION.UID", is the record's Version as the
// clients report it: the same in every process, so a version printed by
// one client is accepted by another.
//
// # Observations
//
// Each party keeps a table of first sightings: per lock, the Identity it
// last saw and when it first saw it, which is the ObservedSince it passes
// to [Of]. A sighting is noted when the party receives the object (a read,
// a list, a watch event, the reply to its own write); the same Identity
// keeps its first instant, and a new one starts anew. The tables are
// bounded: a party that forgot a lock, or never noted it, starts (a) later
// or judges by (b) alone, so its judgement can come later, never earlier.
// The backend's table is bounded by WithObservationLimit, the controller's
// by DistributedLockReconciler.MaxObservations.
//
// # Duration
//
// spec.leaseDurationSeconds holds whole seconds, rounded up; [Set] keeps a
// lease that is not a whole number of seconds exactly in
// [MillisAnnotation], and [Duration] prefers it while it agrees with the
// spec. A party that reads only the spec therefore judges expiry later,
// never earlier, than the holder asked.
package lease
