package lockmanager

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPodFrom(t *testing.T) {
	const uid = "0f6a3c1e-1111-4d2e-9a7b-000000000000"
	tests := []struct {
		name    string
		env     map[string]string
		want    *PodRef
		wantErr string // the variable the error names
	}{
		{name: "none set", env: nil, want: nil},
		{name: "all set", env: map[string]string{EnvPodName: "worker-0", EnvPodNamespace: "jobs", EnvPodUID: uid},
			want: &PodRef{Namespace: "jobs", Name: "worker-0", UID: uid}},
		{name: "uid missing", env: map[string]string{EnvPodName: "worker-0", EnvPodNamespace: "jobs"}, wantErr: EnvPodUID},
		{name: "name missing", env: map[string]string{EnvPodNamespace: "jobs", EnvPodUID: uid}, wantErr: EnvPodName},
		{name: "bad name", env: map[string]string{EnvPodName: "Worker_0", EnvPodNamespace: "jobs", EnvPodUID: uid}, wantErr: EnvPodName},
		{name: "bad namespace", env: map[string]string{EnvPodName: "worker-0", EnvPodNamespace: "a.b", EnvPodUID: uid}, wantErr: EnvPodNamespace},
		{name: "uid too long", env: map[string]string{EnvPodName: "worker-0", EnvPodNamespace: "jobs", EnvPodUID: strings.Repeat("u", 129)}, wantErr: EnvPodUID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PodFromEnvFunc(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tt.wantErr+":") {
					t.Fatalf("err = %v, want ErrInvalidArgument naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestAcquireOptionsRejectAnInvalidHolderPod(t *testing.T) {
	o := AcquireOptions{Key: "k", Holder: "h", LeaseDuration: MinLeaseDuration,
		HolderPod: &PodRef{Namespace: "jobs", Name: "worker-0", UID: ""}}
	err := o.validate()
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "HolderPod.UID: must not be empty") {
		t.Fatalf("err = %v, want ErrInvalidArgument naming HolderPod.UID", err)
	}
}
