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

package controllers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/leasehold/leasehold/pkg/lockmanager/lockmetrics"
)

// The monitoring manifests (config/prometheus's rules, config/grafana's
// dashboard) may only name metrics that the project registers: the
// controller's, controller-runtime's (as the running manager registers
// them) and the Go client's Prometheus observer's.
var _ = Describe("The monitoring manifests", func() {
	It("name only metrics the manager or the Go client registers", func() {
		// controller-runtime's per-controller series appear once the suite's
		// manager has started the controller, which may come after this spec
		// starts on a loaded machine.
		var registered []string
		Eventually(func() []string {
			registered = registeredMetricNames()
			return registered
		}).WithTimeout(time.Minute).Should(ContainElements("leasehold_distributedlocks",
			"controller_runtime_reconcile_errors_total", "leasehold_client_sessions_ended_total"))

		exprs := map[string][]string{ // file → PromQL expressions
			"config/prometheus/rules.yaml":  alertExpressions(),
			"config/grafana/leasehold.json": dashboardExpressions(),
		}
		for file, list := range exprs {
			Expect(list).NotTo(BeEmpty(), file)
			for _, expr := range list {
				names := promQLMetricNames(expr)
				Expect(names).NotTo(BeEmpty(), "%s: no metric in %q", file, expr)
				for _, name := range names {
					Expect(registered).To(ContainElement(name), "%s: %q names %s, which nothing registers", file, expr, name)
				}
			}
		}
	})
})

// registeredMetricNames returns every series name the project can export:
// controller-runtime's registry as the running manager filled it, and the
// descriptors of the controller's and the client observer's collectors
// (a vector without series yet has no family in a Gather). A histogram
// contributes its _bucket, _sum and _count series.
func registeredMetricNames() []string {
	GinkgoHelper()
	rec := &describingRegisterer{}
	newLockMetrics(rec)
	_, err := lockmetrics.NewObserver(rec)
	Expect(err).NotTo(HaveOccurred())
	names := rec.names
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		names = append(names, f.GetName())
		if f.GetType() == dto.MetricType_HISTOGRAM {
			names = append(names, f.GetName()+"_bucket", f.GetName()+"_sum", f.GetName()+"_count")
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// describingRegisterer is a prometheus.Registerer that only records the
// names of what is registered with it.
type describingRegisterer struct{ names []string }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describingRegisterer) Register(c prometheus.Collector) error {
	descs := make(chan *prometheus.Desc)
	go func() {
		c.Describe(descs)
		close(descs)
	}()
	_, histogram := c.(prometheus.Histogram)
	if _, ok := c.(*prometheus.HistogramVec); ok {
		histogram = true
	}
	for desc := range descs {
		m := fqName.FindStringSubmatch(desc.String())
		if m == nil {
			continue
		}
		d.names = append(d.names, m[1])
		if histogram {
			d.names = append(d.names, m[1]+"_bucket", m[1]+"_sum", m[1]+"_count")
		}
	}
	return nil
}

func (d *describingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describingRegisterer) Unregister(prometheus.Collector) bool { return false }

// alertExpressions returns the expr of every rule in config/prometheus.
func alertExpressions() []string {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join("..", "config", "prometheus", "rules.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var rule struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	Expect(yaml.Unmarshal(raw, &rule)).To(Succeed())
	Expect(rule.Kind).To(Equal("PrometheusRule"))
	var exprs []string
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			Expect(r.Alert).NotTo(BeEmpty())
			Expect(strings.TrimSpace(r.Expr)).NotTo(BeEmpty(), "alert %s", r.Alert)
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}

// dashboardExpressions returns the query of every panel target of
// config/grafana's dashboard, and the metric of each label_values
// variable.
func dashboardExpressions() []string {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join("..", "config", "grafana", "leasehold.json"))
	Expect(err).NotTo(HaveOccurred())
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"` // rows
	}
	var dash struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	Expect(json.Unmarshal(raw, &dash)).To(Succeed())
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if len(p.Panels) > 0 {
				var nested []panel
				for _, n := range p.Panels {
					var q panel
					Expect(json.Unmarshal(n, &q)).To(Succeed())
					nested = append(nested, q)
				}
				walk(nested)
				continue
			}
			Expect(p.Targets).NotTo(BeEmpty(), "panel %q", p.Title)
			for _, t := range p.Targets {
				exprs = append(exprs, t.Expr)
			}
		}
	}
	walk(dash.Panels)
	labelValues := regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,`)
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok {
			if m := labelValues.FindStringSubmatch(q); m != nil {
				exprs = append(exprs, m[1])
			}
		}
	}
	return exprs
}

var (
	promQLStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promQLMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promQLRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promQLGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promQLVars     = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	promQLIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promQLKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
		"group_left", "group_right", "inf", "nan", "Inf", "NaN"}
)

// promQLMetricNames returns the metric names a PromQL expression selects,
// without a PromQL parser: it drops strings, label matchers, ranges,
// grouping clauses and Grafana variables, then takes the identifiers that
// are not function calls, keywords or parts of numbers.
func promQLMetricNames(expr string) []string {
	s := promQLStrings.ReplaceAllString(expr, `""`)
	s = promQLMatchers.ReplaceAllString(s, " ")
	s = promQLRanges.ReplaceAllString(s, " ")
	s = promQLGrouping.ReplaceAllString(s, " ")
	s = promQLVars.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range promQLIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(s[loc[0]-1:loc[0]], "0123456789.") {
			continue // 1e3
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function
		}
		if slices.Contains(promQLKeywords, name) {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func TestPromQLMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (namespace) (leasehold_distributedlocks{phase="Expired"}) > 0`, []string{"leasehold_distributedlocks"}},
		{`histogram_quantile(0.99, sum by (le) (rate(a_bucket[10m]))) > 1e3`, []string{"a_bucket"}},
		{`sum(rate(x_total{controller="distributedlock"}[$__rate_interval])) / on(job) group_left sum(y)`, []string{"x_total", "y"}},
		{`a_sum / a_count offset 5m`, []string{"a_count", "a_sum"}},
		{`rate(m{l=~"a|b", q!="(x)"}[5m]) and bool m2 unless m3`, []string{"m", "m2", "m3"}},
		{"count without (pod) (k8s:series{${var}=\"}\"})", []string{"k8s:series"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, promQLMetricNames(tt.expr)); diff != "" {
			t.Errorf("promQLMetricNames(%q) (-want +got):\n%s", tt.expr, diff)
		}
	}
}
