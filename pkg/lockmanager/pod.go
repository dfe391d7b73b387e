package lockmanager

import (
	"os"

	"github.com/leasehold/leasehold/pkg/backends"
)

// The environment variables PodFromEnv reads. A Pod spec sets them from
// the downward API (fieldRef metadata.name, metadata.namespace and
// metadata.uid); docs/guide.md, "Binding a lock to a Pod", shows how. They
// carry Leasehold's prefix so that a variable set for something else never
// binds a lock by accident: a lock bound to the wrong Pod is freed when
// that Pod goes.
const (
	EnvPodName      = "LEASEHOLD_POD_NAME"
	EnvPodNamespace = "LEASEHOLD_POD_NAMESPACE"
	EnvPodUID       = "LEASEHOLD_POD_UID"
)

// PodFromEnv returns the Pod named by LEASEHOLD_POD_NAME,
// LEASEHOLD_POD_NAMESPACE and LEASEHOLD_POD_UID: nil when none of them is
// set, an ErrInvalidArgument naming the first one missing or invalid when
// only some are set or a value breaks Kubernetes' rules.
func PodFromEnv() (*PodRef, error) {
	return PodFromEnvFunc(os.Getenv)
}

// PodFromEnvFunc is PodFromEnv reading the variables with getenv.
func PodFromEnvFunc(getenv func(string) string) (*PodRef, error) {
	vars := []string{EnvPodName, EnvPodNamespace, EnvPodUID}
	vals := make([]string, len(vars))
	set := 0
	for i, v := range vars {
		if vals[i] = getenv(v); vals[i] != "" {
			set++
		}
	}
	if set == 0 {
		return nil, nil
	}
	for i, v := range vars {
		if vals[i] == "" {
			return nil, backends.InvalidArgument(v, "must be set with %s, %s and %s "+
				"(the downward API's metadata.name, metadata.namespace and metadata.uid), or none of them",
				EnvPodName, EnvPodNamespace, EnvPodUID)
		}
	}
	pod := &PodRef{Name: vals[0], Namespace: vals[1], UID: vals[2]}
	if err := backends.ValidatePod(pod, EnvPodNamespace, EnvPodName, EnvPodUID); err != nil {
		return nil, err
	}
	return pod, nil
}
