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
	// formatName prints kind/name per lock, as kubectl's -o name does;
	// only for programs with a Store that names objects.
	formatName = "name"
)

// LockView is a lock record as lockctl prints it with -o json or -o yaml.
// Field names are part of lockctl's interface.
//
// A record without a holder (released, or reaped on Kubernetes) has the
// same shape on every backend: key, version, fencing token and held
// (false); its times, lease duration and metadata are left out, since they
// describe a lease that is over (and backends keep different traces of
// it).
type LockView struct {
	Key          string `json:"key"`
	Holder       string `json:"holder"`
	Version      string `json:"version"`
	FencingToken uint64 `json:"fencingToken"`
	Held         bool   `json:"held"`
	// Times are UTC, RFC 3339, by the backend's clock; left out when
	// unknown or when the record has no holder.
	AcquiredAt time.Time `json:"acquiredAt,omitzero"`
	RenewedAt  time.Time `json:"renewedAt,omitzero"`
	ExpiresAt  time.Time `json:"expiresAt,omitzero"`
	// LeaseDuration is a Go duration ("30s"), ready for --lease.
	LeaseDuration string            `json:"leaseDuration,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	// Object is the name of the store's object that holds the lock, from
	// programs whose Store names one (kubectl-leasehold).
	Object string `json:"object,omitempty"`
}

func viewOf(l lockmanager.Lock) LockView {
	v := LockView{
		Key:          l.Key,
		Holder:       l.Holder,
		Version:      l.Version,
		FencingToken: l.FencingToken,
		Held:         l.Held,
	}
	if l.Holder == "" {
		return v
	}
	v.AcquiredAt = utc(l.AcquiredAt)
	v.RenewedAt = utc(l.RenewedAt)
	v.ExpiresAt = utc(l.ExpiresAt)
	if l.LeaseDuration > 0 {
		v.LeaseDuration = l.LeaseDuration.String()
	}
	v.Metadata = l.Metadata
	return v
}

// utc is t in UTC, or the zero time for an unset one (a zero time.Time
// in any location, or the Unix epoch some stores use for "none").
func utc(t time.Time) time.Time {
	if t.IsZero() || t.Unix() <= 0 {
		return time.Time{}
	}
	return t.UTC()
}

// addOutputFlag adds -o to cmd.
func (o *options) addOutputFlag(cmd *cobra.Command, format *string) {
	usage := "output format: table, json or yaml"
	if o.program.Store != nil {
		usage = "output format: table, json, yaml or name"
	}
	cmd.Flags().StringVarP(format, "output", "o", formatTable, usage)
}

func (o *options) checkFormat(format string) error {
	switch format {
	case formatTable, formatJSON, formatYAML:
		return nil
	case formatName:
		if o.program.Store != nil {
			return nil
		}
	}
	if o.program.Store != nil {
		return usagef("--output: unknown format %q; use table, json, yaml or name", format)
	}
	return usagef("--output: unknown format %q; use table, json or yaml", format)
}

func (o *options) printLocks(format string, locks []lockmanager.Lock, single bool) error {
	return printLocks(o.env.Stdout, format, locks, single, o.program.Store)
}

// printLocks prints one lock (single: an object in json and yaml) or a
// list (an array, empty rather than null when there are none). A store
// that names objects (nil for lockctl) adds their names.
func printLocks(w io.Writer, format string, locks []lockmanager.Lock, single bool, store Store) error {
	views := make([]LockView, len(locks))
	for i, l := range locks {
		views[i] = viewOf(l)
		if store != nil {
			views[i].Object = store.ObjectName(l.Key)
		}
	}
	var v any = views
	if single {
		v = views[0]
	}
	switch format {
	case formatName:
		for _, v := range views {
			if _, err := fmt.Fprintf(w, "%s/%s\n", store.ObjectKind(), v.Object); err != nil {
				return err
			}
		}
		return nil
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
	header := "KEY\tHOLDER\tHELD\tTOKEN\tEXPIRES\tVERSION"
	if store != nil {
		header += "\tOBJECT"
	}
	fmt.Fprintln(tw, header)
	for _, v := range views {
		holder, expires := v.Holder, "-"
		if holder == "" {
			holder = "-"
		}
		if !v.ExpiresAt.IsZero() {
			expires = v.ExpiresAt.Local().Format(time.RFC3339)
		}
		row := fmt.Sprintf("%s\t%s\t%t\t%s\t%s\t%s",
			v.Key, holder, v.Held, strconv.FormatUint(v.FencingToken, 10), expires, v.Version)
		if store != nil {
			row += "\t" + v.Object
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}
