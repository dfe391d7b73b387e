package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/leasehold/leasehold/internal/buildinfo"
)

func newVersionCommand(o *options) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [flags]",
		Short: "Print the version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: runE(func(*cobra.Command, []string) error {
			info := buildinfo.Get()
			switch format {
			case formatTable:
				_, err := fmt.Fprintln(o.env.Stdout, o.program.Name+" "+info.String())
				return err
			case formatJSON:
				enc := json.NewEncoder(o.env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			return usagef("--output: unknown format %q; use text or json", format)
		}),
	}
	cmd.Flags().StringVarP(&format, "output", "o", formatTable, "output format: text or json")
	return cmd
}
