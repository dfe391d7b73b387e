package alerts

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"go.yaml.in/yaml/v3"
)

// rulesFile is the shipped PrometheusRule; its spec is a Prometheus rule
// file.
var rulesFile = filepath.Join("..", "..", "config", "prometheus", "rules.yaml")

// evalInterval is how often the rules are evaluated: Prometheus' default
// evaluation_interval, which the groups do not override.
const evalInterval = time.Minute

// loadRules parses the spec of the shipped PrometheusRule as Prometheus
// parses a rule file, and returns its alerting rules by name.
func loadRules(t *testing.T) map[string]rulefmt.Rule {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Kind string    `yaml:"kind"`
		Spec yaml.Node `yaml:"spec"`
	}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if obj.Kind != "PrometheusRule" {
		t.Fatalf("%s: kind %q, want PrometheusRule", rulesFile, obj.Kind)
	}
	spec, err := yaml.Marshal(&obj.Spec)
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", rulesFile, errs)
	}
	byName := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		if g.Interval != 0 {
			t.Fatalf("group %s sets its own interval; the test evaluates every %s", g.Name, evalInterval)
		}
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if _, dup := byName[r.Alert]; dup {
				t.Fatalf("alert %s defined twice", r.Alert)
			}
			byName[r.Alert] = r
		}
	}
	return byName
}

// firing evaluates every alerting rule over the series that load describes
// (promqltest's load command) from time 0 to at, every evalInterval, and
// returns the alerts firing at at: alert name → the alerts' label sets
// (without alertname and the rule's own labels), sorted.
func firing(t *testing.T, defs map[string]rulefmt.Rule, load string, at time.Duration) map[string][]string {
	t.Helper()
	storage := promqltest.LoadedStorage(t, load)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	query := rules.EngineQueryFunc(engine, storage)
	p := parser.NewParser(parser.Options{})
	got := map[string][]string{}
	for name, def := range defs {
		expr, err := p.ParseExpr(def.Expr)
		if err != nil {
			t.Fatalf("alert %s: %v", name, err)
		}
		rule := rules.NewAlertingRule(name, expr, time.Duration(def.For), time.Duration(def.KeepFiringFor),
			labels.FromMap(def.Labels), labels.FromMap(def.Annotations), labels.EmptyLabels(), "", true, slog.New(slog.DiscardHandler))
		for ts := time.Duration(0); ts <= at; ts += evalInterval {
			if _, err := rule.Eval(context.Background(), 0, time.Unix(0, 0).Add(ts).UTC(), query, nil, 0); err != nil {
				t.Fatalf("alert %s at %s: %v", name, ts, err)
			}
		}
		for _, a := range rule.ActiveAlerts() {
			if a.State != rules.StateFiring {
				continue
			}
			b := labels.NewBuilder(a.Labels).Del(labels.AlertName)
			for k := range def.Labels {
				b.Del(k)
			}
			got[name] = append(got[name], b.Labels().String())
		}
		slices.Sort(got[name])
	}
	return got
}

func TestShippedAlerts(t *testing.T) {
	defs := loadRules(t)
	var names []string
	for name := range defs {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"LeaseholdLockHeldForManyLeases", "LeaseholdLockHeldPastItsLease", "LeaseholdReaperLagging",
		"LeaseholdReconcileErrors", "LeaseholdSessionsLost"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("alerts in %s (-want +got):\n%s\nEvery alert needs cases below.", rulesFile, diff)
	}

	// Each case loads series (every 1m from time 0) and names the alerts
	// firing at its time; every other alert must be quiet.
	tests := []struct {
		name string
		load string
		at   time.Duration
		want map[string][]string
	}{
		{
			name: "a holder renewing for ever: 10 more leases a minute, past 1000 for 15 minutes",
			load: `
leasehold_distributedlock_longest_hold_leases{namespace="team-a"} 0+10x130
leasehold_distributedlock_longest_hold_leases{namespace="team-b"} 0+1x130`,
			at:   120 * time.Minute,
			want: map[string][]string{"LeaseholdLockHeldForManyLeases": {`{namespace="team-a"}`}},
		},
		{
			name: "past 1000 leases for less than 15 minutes: pending, not firing",
			load: `leasehold_distributedlock_longest_hold_leases{namespace="team-a"} 0+10x130`,
			at:   110 * time.Minute,
			want: map[string][]string{},
		},
		{
			name: "two replicas' views of one namespace make one alert",
			load: `
leasehold_distributedlock_longest_hold_leases{namespace="team-a",pod="manager-1"} 2000x30
leasehold_distributedlock_longest_hold_leases{namespace="team-a",pod="manager-2"} 0x30`,
			at:   20 * time.Minute,
			want: map[string][]string{"LeaseholdLockHeldForManyLeases": {`{namespace="team-a"}`}},
		},
		{
			name: "expired leases left in place for 15 minutes",
			load: `
leasehold_distributedlocks{namespace="team-a",phase="Expired"} 2x30
leasehold_distributedlocks{namespace="team-a",phase="Held"} 5x30
leasehold_distributedlocks{namespace="team-b",phase="Expired"} 0x30`,
			at:   20 * time.Minute,
			want: map[string][]string{"LeaseholdLockHeldPastItsLease": {`{namespace="team-a"}`}},
		},
		{
			name: "expired leases that are reaped within minutes",
			load: `leasehold_distributedlocks{namespace="team-a",phase="Expired"} 1 1 1 0 0 0 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0`,
			at:   25 * time.Minute,
			want: map[string][]string{},
		},
		{
			name: "reaps 10 to 20 s after expiry for 30 minutes",
			load: `
leasehold_distributedlock_reap_delay_seconds_bucket{le="5.12"} 0x40
leasehold_distributedlock_reap_delay_seconds_bucket{le="10.24"} 0x40
leasehold_distributedlock_reap_delay_seconds_bucket{le="20.48"} 0+10x40
leasehold_distributedlock_reap_delay_seconds_bucket{le="+Inf"} 0+10x40`,
			at:   30 * time.Minute,
			want: map[string][]string{"LeaseholdReaperLagging": {`{}`}},
		},
		{
			name: "reaps within 5 s, and no reaps at all",
			load: `
leasehold_distributedlock_reap_delay_seconds_bucket{le="5.12"} 0+10x20 200x20
leasehold_distributedlock_reap_delay_seconds_bucket{le="10.24"} 0+10x20 200x20
leasehold_distributedlock_reap_delay_seconds_bucket{le="20.48"} 0+10x20 200x20
leasehold_distributedlock_reap_delay_seconds_bucket{le="+Inf"} 0+10x20 200x20`,
			at:   40 * time.Minute,
			want: map[string][]string{},
		},
		{
			name: "reconcile errors for 20 minutes",
			load: `
controller_runtime_reconcile_errors_total{controller="distributedlock"} 0+3x30
controller_runtime_reconcile_errors_total{controller="other"} 0+3x30`,
			at:   25 * time.Minute,
			want: map[string][]string{"LeaseholdReconcileErrors": {`{}`}},
		},
		{
			name: "a burst of reconcile errors that stops, and another controller's errors",
			load: `
controller_runtime_reconcile_errors_total{controller="distributedlock"} 0 5 10 10x30
controller_runtime_reconcile_errors_total{controller="other"} 0+3x30`,
			at:   25 * time.Minute,
			want: map[string][]string{},
		},
		{
			name: "sessions lost in the last 10 minutes, by store and cause",
			load: `
leasehold_client_sessions_lost_total{backend="kubernetes",namespace="team-a",cause="taken_over",pod="app-1"} 0x10 1x10
leasehold_client_sessions_lost_total{backend="kubernetes",namespace="team-a",cause="taken_over",pod="app-2"} 0x10 2x10
leasehold_client_sessions_lost_total{backend="redis",namespace="default",cause="not_renewed",pod="app-3"} 3x20`,
			at:   15 * time.Minute,
			want: map[string][]string{"LeaseholdSessionsLost": {`{backend="kubernetes", cause="taken_over", namespace="team-a"}`}},
		},
		{
			name: "sessions lost more than 10 minutes ago",
			load: `leasehold_client_sessions_lost_total{backend="kubernetes",namespace="team-a",cause="taken_over"} 0x5 1x30`,
			at:   30 * time.Minute,
			want: map[string][]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := firing(t, defs, "load 1m\n"+strings.TrimSpace(tt.load), tt.at)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("firing alerts at %s (-want +got):\n%s", tt.at, diff)
			}
		})
	}
}
