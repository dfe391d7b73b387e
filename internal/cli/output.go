package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Output formats for -o.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

// LockView is a lock record as lockctl prints it with -o json or -o yaml.
// Field names are part of lockctl's interface.
type LockView struct {
	Key          string `json:"key"`
	Holder       string `json:"holder"`
	Version      string `json:"version"`
	FencingToken uint64 `json:"fencingToken"`
	Held         bool   `json:"held"`
	// Times are UTC, RFC 3339, by the backend's clock.
	AcquiredAt time.Time `json:"acquiredAt"`
	RenewedAt  time.Time `json:"renewedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	// LeaseDuration is a Go duration ("30s"), ready for --lease.
	LeaseDuration string            `json:"leaseDuration"`
	Metadata      map[string]string `json:"metadata,omitempty"`
}

func viewOf(l lockmanager.Lock) LockView {
	return LockView{
		Key:           l.Key,
		Holder:        l.Holder,
		Version:       l.Version,
		FencingToken:  l.FencingToken,
		Held:          l.Held,
		AcquiredAt:    l.AcquiredAt.UTC(),
		RenewedAt:     l.RenewedAt.UTC(),
		ExpiresAt:     l.ExpiresAt.UTC(),
		LeaseDuration: l.LeaseDuration.String(),
		Metadata:      l.Metadata,
	}
}

// addOutputFlag adds -o to cmd.
func addOutputFlag(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVarP(format, "output", "o", formatTable, "output format: table, json or yaml")
}

func checkFormat(format string) error {
	switch format {
	case formatTable, formatJSON, formatYAML:
		return nil
	}
	return usagef("--output: unknown format %q; use table, json or yaml", format)
}

// printLocks prints one lock (single: an object in json and yaml) or a
// list (an array, empty rather than null when there are none).
func printLocks(w io.Writer, format string, locks []lockmanager.Lock, single bool) error {
	views := make([]LockView, len(locks))
	for i, l := range locks {
		views[i] = viewOf(l)
	}
	var v any = views
	if single {
		v = views[0]
	}
	switch format {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case formatYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tHOLDER\tHELD\tTOKEN\tEXPIRES\tVERSION")
	for _, l := range locks {
		holder := l.Holder
		if holder == "" {
			holder = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\n",
			l.Key, holder, l.Held, strconv.FormatUint(l.FencingToken, 10),
			l.ExpiresAt.Local().Format(time.RFC3339), l.Version)
	}
	return tw.Flush()
}
