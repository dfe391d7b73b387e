package alerts

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// rulesFile is the shipped PrometheusRule; its spec is a Prometheus rule
// file.
var rulesFile = filepath.Join("..", "..", "config", "prometheus", "rules.yaml")

// promtool returns the promtool to run: $PROMTOOL, else bin/promtool (which
// make test-servers unpacks), else one on PATH.
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p
	}
	local, err := filepath.Abs(filepath.Join("..", "..", "bin", "promtool"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	t.Fatalf("promtool not found in bin/ or on PATH: run make test-servers (it unpacks Debian's prometheus package), or set PROMTOOL")
	return ""
}

// writeRules writes the spec of the shipped PrometheusRule as two rule
// files in dir: full.yaml as shipped, for promtool check rules, and
// firing.yaml without annotations, for promtool test rules (which compares
// annotations verbatim; they do not decide whether an alert fires, and
// check rules validates their templates). It returns the files and each
// alert's own labels by name.
func writeRules(t *testing.T, dir string) (full, firing string, alerts map[string]map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Kind string                 `json:"kind"`
		Spec map[string]interface{} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if obj.Kind != "PrometheusRule" {
		t.Fatalf("%s: kind %q, want PrometheusRule", rulesFile, obj.Kind)
	}
	full = filepath.Join(dir, "full.yaml")
	writeYAML(t, full, obj.Spec)

	// The same spec, walked as promtool will read it; a shape other than
	// groups of rules is left for promtool check rules to report.
	alerts = map[string]map[string]string{}
	groups, _ := obj.Spec["groups"].([]interface{})
	for _, g := range groups {
		group, _ := g.(map[string]interface{})
		if _, ok := group["interval"]; ok {
			t.Fatalf("group %v sets its own interval; the cases assume Prometheus' default of 1m", group["name"])
		}
		rules, _ := group["rules"].([]interface{})
		for _, r := range rules {
			rule, _ := r.(map[string]interface{})
			name, _ := rule["alert"].(string)
			if name == "" {
				continue
			}
			if _, dup := alerts[name]; dup {
				t.Fatalf("alert %s defined twice", name)
			}
			labels := map[string]string{}
			if ls, ok := rule["labels"].(map[string]interface{}); ok {
				for k, v := range ls {
					labels[k] = fmt.Sprint(v)
				}
			}
			alerts[name] = labels
			delete(rule, "annotations")
		}
	}
	firing = filepath.Join(dir, "firing.yaml")
	writeYAML(t, firing, obj.Spec)
	return full, firing, alerts
}

func writeYAML(t *testing.T, path string, v interface{}) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
}

func TestShippedRulesPassPromtoolCheck(t *testing.T) {
	tool := promtool(t)
	full, _, _ := writeRules(t, t.TempDir())
	run(t, tool, "check", "rules", full)
}

// series is one input series in promtool's expanding notation, one sample
// a minute from time 0.
type series struct{ name, values string }

func TestShippedAlerts(t *testing.T) {
	tool := promtool(t)
	dir := t.TempDir()
	_, firing, alerts := writeRules(t, dir)
	names := slices.Sorted(maps.Keys(alerts))
	want := []string{"LeaseholdLockHeldForManyLeases", "LeaseholdLockHeldPastItsLease", "LeaseholdReaperLagging",
		"LeaseholdReconcileErrors", "LeaseholdSessionsLost"}
	if !slices.Equal(want, names) {
		t.Fatalf("alerts in %s: %v, want %v. Every alert needs cases below.", rulesFile, names, want)
	}

	// Each case loads series and names the alerts firing at its time, with
	// their labels besides the rule's own; every other alert must be quiet.
	tests := []struct {
		name   string
		series []series
		at     string
		want   map[string][]map[string]string
	}{
		{
			name: "a holder renewing for ever: 10 more leases a minute, past 1000 for 15 minutes",
			series: []series{
				{`leasehold_distributedlock_longest_hold_leases{namespace="team-a"}`, "0+10x130"},
				{`leasehold_distributedlock_longest_hold_leases{namespace="team-b"}`, "0+1x130"},
			},
			at:   "120m",
			want: map[string][]map[string]string{"LeaseholdLockHeldForManyLeases": {{"namespace": "team-a"}}},
		},
		{
			name:   "past 1000 leases for less than 15 minutes: pending, not firing",
			series: []series{{`leasehold_distributedlock_longest_hold_leases{namespace="team-a"}`, "0+10x130"}},
			at:     "110m",
		},
		{
			name: "two replicas' views of one namespace make one alert",
			series: []series{
				{`leasehold_distributedlock_longest_hold_leases{namespace="team-a",pod="manager-1"}`, "2000x30"},
				{`leasehold_distributedlock_longest_hold_leases{namespace="team-a",pod="manager-2"}`, "0x30"},
			},
			at:   "20m",
			want: map[string][]map[string]string{"LeaseholdLockHeldForManyLeases": {{"namespace": "team-a"}}},
		},
		{
			name: "expired leases left in place for 15 minutes",
			series: []series{
				{`leasehold_distributedlocks{namespace="team-a",phase="Expired"}`, "2x30"},
				{`leasehold_distributedlocks{namespace="team-a",phase="Held"}`, "5x30"},
				{`leasehold_distributedlocks{namespace="team-b",phase="Expired"}`, "0x30"},
			},
			at:   "20m",
			want: map[string][]map[string]string{"LeaseholdLockHeldPastItsLease": {{"namespace": "team-a"}}},
		},
		{
			name:   "expired leases that are reaped within minutes",
			series: []series{{`leasehold_distributedlocks{namespace="team-a",phase="Expired"}`, "1 1 1 0 0 0 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"}},
			at:     "25m",
		},
		{
			name: "reaps 10 to 20 s after expiry for 30 minutes",
			series: []series{
				{`leasehold_distributedlock_reap_delay_seconds_bucket{le="5.12"}`, "0x40"},
				{`leasehold_distributedlock_reap_delay_seconds_bucket{le="10.24"}`, "0x40"},
				{`leasehold_distributedlock_reap_delay_seconds_bucket{le="20.48"}`, "0+10x40"},
				{`leasehold_distributedlock_reap_delay_seconds_bucket{le="+Inf"}`, "0+10x40"},
			},
			at:   "30m",
			want: map[string][]map[string]string{"LeaseholdReaperLagging": {{}}},
		},
		{
			name: "reaps within 5 s, and no reaps at all",
			series: []series{
				{`leasehold_distributedlock_reap_delay_seconds_bucket{le="5.12"}`, "0+10x20 200x20"},
				{`leasehold_distributedlock_reap_delay_seconds_bucket{le="10.24"}`, "0+10x20 200x20"},
				{`leasehold_distributedlock_reap_delay_seconds_bucket{le="20.48"}`, "0+10x20 200x20"},
				{`leasehold_distributedlock_reap_delay_seconds_bucket{le="+Inf"}`, "0+10x20 200x20"},
			},
			at: "40m",
		},
		{
			name: "reconcile errors for 20 minutes",
			series: []series{
				{`controller_runtime_reconcile_errors_total{controller="distributedlock"}`, "0+3x30"},
				{`controller_runtime_reconcile_errors_total{controller="other"}`, "0+3x30"},
			},
			at:   "25m",
			want: map[string][]map[string]string{"LeaseholdReconcileErrors": {{}}},
		},
		{
			name: "a burst of reconcile errors that stops, and another controller's errors",
			series: []series{
				{`controller_runtime_reconcile_errors_total{controller="distributedlock"}`, "0 5 10 10x30"},
				{`controller_runtime_reconcile_errors_total{controller="other"}`, "0+3x30"},
			},
			at: "25m",
		},
		{
			name: "sessions lost in the last 10 minutes, by store and cause",
			series: []series{
				{`leasehold_client_sessions_lost_total{backend="kubernetes",namespace="team-a",cause="taken_over",pod="app-1"}`, "0x10 1x10"},
				{`leasehold_client_sessions_lost_total{backend="kubernetes",namespace="team-a",cause="taken_over",pod="app-2"}`, "0x10 2x10"},
				{`leasehold_client_sessions_lost_total{backend="redis",namespace="default",cause="not_renewed",pod="app-3"}`, "3x20"},
			},
			at:   "15m",
			want: map[string][]map[string]string{"LeaseholdSessionsLost": {{"backend": "kubernetes", "cause": "taken_over", "namespace": "team-a"}}},
		},
		{
			name:   "sessions lost more than 10 minutes ago",
			series: []series{{`leasehold_client_sessions_lost_total{backend="kubernetes",namespace="team-a",cause="taken_over"}`, "0x5 1x30"}},
			at:     "30m",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name := range tt.want {
				if _, ok := alerts[name]; !ok {
					t.Fatalf("the case expects alert %s, which %s does not define", name, rulesFile)
				}
			}
			var input []map[string]string
			for _, s := range tt.series {
				input = append(input, map[string]string{"series": s.name, "values": s.values})
			}
			// One alert_rule_test per alert: those not in want must not fire.
			checks := make([]map[string]interface{}, 0, len(names))
			for _, name := range names {
				exp := []map[string]interface{}{}
				for _, extra := range tt.want[name] {
					labels := map[string]string{}
					for k, v := range alerts[name] {
						labels[k] = v
					}
					for k, v := range extra {
						labels[k] = v
					}
					exp = append(exp, map[string]interface{}{"exp_labels": labels})
				}
				checks = append(checks, map[string]interface{}{"eval_time": tt.at, "alertname": name, "exp_alerts": exp})
			}
			testFile := filepath.Join(dir, fmt.Sprintf("case-%02d.yaml", i))
			writeYAML(t, testFile, map[string]interface{}{
				"rule_files":          []string{firing},
				"evaluation_interval": "1m",
				"tests": []map[string]interface{}{{
					"interval":        "1m",
					"input_series":    input,
					"alert_rule_test": checks,
				}},
			})
			run(t, tool, "test", "rules", testFile)
		})
	}
}
