// Command kubectl-leasehold is lockctl as a kubectl plugin: the same
// commands (run, hold, get, list, break, acquire, renew, release,
// version), always on the Kubernetes backend, with the cluster, user and
// namespace chosen the way kubectl chooses them.
//
// Install it by putting the binary on PATH (make build writes
// bin/kubectl-leasehold; go install works too), or with krew from the
// manifest in plugins/leasehold.yaml; kubectl then runs it as
//
//	kubectl leasehold run nightly-report -- ./report.sh
//	kubectl leasehold get nightly-report          # OBJECT: the DistributedLock's name
//	kubectl leasehold get nightly-report -o name  # distributedlock.locks.leasehold.dev/nightly-report
//	kubectl leasehold list -n reports
//
// The kubeconfig comes from --kubeconfig, else $KUBECONFIG, else
// ~/.kube/config (inside a Pod, its ServiceAccount); --context picks a
// context other than the current one; the namespace is -n/--namespace,
// else the context's namespace, else "default". kubectl's other
// connection flags (--cluster, --user, --server, --token, --as, ...) work
// as in kubectl.
//
// Objects are named after their keys: a key that is itself a valid
// object name is its own name; any other key gets a readable prefix and
// 16 hex digits of its SHA-256 (see pkg/backends/kubernetes ObjectName).
// get and list print the name in an OBJECT column, an "object" field in
// JSON and YAML, or alone with -o name, ready for kubectl get, describe
// or edit.
//
// Errors are one line on stderr starting with "kubectl-leasehold: " and
// the exit codes are lockctl's (kubectl leasehold --help lists them).
package main
