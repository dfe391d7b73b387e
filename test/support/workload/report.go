package workload

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Table formats results as an aligned text table, sorted by store,
// scenario and locker, so that libraries on one store sit side by side.
func Table(results []Result) string {
	rs := slices.Clone(results)
	slices.SortStableFunc(rs, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Store, b.Store), cmp.Compare(a.Scenario, b.Scenario), cmp.Compare(a.Locker, b.Locker))
	})
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "store\tscenario\tlocker\tacquisitions\tfaults\tleases lost\toverlaps\t"+
		"stale writes accepted\ttoken order errors\twrites fenced off\ttook\t\n")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\t%s\t\n", r.Store, r.Scenario, r.Locker, r.Acquisitions, r.Faults, r.Lost,
			r.overlapCell(), r.StaleAccepted, r.fencedCell(fmt.Sprint(r.TokenErrors)), r.fencedCell(fmt.Sprint(r.FencedOff)),
			r.Took.Round(100*time.Millisecond))
	}
	_ = tw.Flush()
	return sb.String()
}

// Markdown formats results as a Markdown table, in Table's order.
func Markdown(results []Result) string {
	rs := slices.Clone(results)
	slices.SortStableFunc(rs, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Store, b.Store), cmp.Compare(a.Scenario, b.Scenario), cmp.Compare(a.Locker, b.Locker))
	})
	var sb strings.Builder
	sb.WriteString("| store | scenario | locker | acquisitions | faults | leases lost | overlaps | " +
		"stale writes accepted | token order errors | writes fenced off |\n")
	sb.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		fmt.Fprintf(&sb, "| %s | %s | %s | %d | %d | %d | %s | %d | %s | %s |\n", r.Store, r.Scenario, r.Locker, r.Acquisitions, r.Faults, r.Lost,
			r.overlapCell(), r.StaleAccepted, r.fencedCell(fmt.Sprint(r.TokenErrors)), r.fencedCell(fmt.Sprint(r.FencedOff)))
	}
	return sb.String()
}

func (r Result) overlapCell() string {
	if r.OverlapAllowed {
		return fmt.Sprintf("%d (allowed)", r.Overlaps)
	}
	return fmt.Sprint(r.Overlaps)
}

// fencedCell is s, or "no token" for a locker without fencing tokens,
// where token order and refused writes mean nothing.
func (r Result) fencedCell(s string) string {
	if !r.Fenced {
		return "no token"
	}
	return s
}

// FenceTable formats the results of the scenarios whose writes went to a
// real protected resource (Result.Resource) as an aligned text table: per
// store and resource, the writes it decided, how many it refused, the late
// writes of holders resumed past their lease and how many of those it
// refused, and the stale writes it accepted. Empty when there are none.
func FenceTable(results []Result) string {
	var rs []Result
	for _, r := range results {
		if r.Resource != "" {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return ""
	}
	slices.SortStableFunc(rs, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Store, b.Store), cmp.Compare(a.Scenario, b.Scenario))
	})
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "store\tscenario\tresource\twrites\trefused\tlate writes\tlate refused\tstale writes accepted\t\n")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n",
			r.Store, r.Scenario, r.Resource, r.Writes, r.FencedOff, r.LateWrites, r.LateRefused, r.StaleAccepted)
	}
	_ = tw.Flush()
	return sb.String()
}
