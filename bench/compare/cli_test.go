package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSpliceSection(t *testing.T) {
	const section = cliHeading + "\n\nnew figures\n\n"
	tests := []struct {
		name, md, want string
	}{
		{
			name: "inserted before the memory line",
			md:   "# R\n\n## Reap\n\nx\n\nThe manager's memory is measured by bench/reap.\n\n## Settings\n\n- a\n",
			want: "# R\n\n## Reap\n\nx\n\n" + section + "The manager's memory is measured by bench/reap.\n\n## Settings\n\n- a\n",
		},
		{
			name: "replaces the earlier section, up to the memory line",
			md:   "# R\n\n" + cliHeading + "\n\nold figures\n\nThe manager's memory is measured by bench/reap.\n\n## Settings\n",
			want: "# R\n\n" + section + "The manager's memory is measured by bench/reap.\n\n## Settings\n",
		},
		{
			name: "replaces the earlier section, up to the next heading",
			md:   "# R\n\n" + cliHeading + "\n\nold figures\n\n## Settings\n",
			want: "# R\n\n" + section + "## Settings\n",
		},
		{
			name: "inserted before the settings without a memory line",
			md:   "# R\n\n## Settings\n",
			want: "# R\n\n" + section + "## Settings\n",
		},
		{
			name: "appended to a file with neither",
			md:   "# R\n",
			want: "# R\n\n" + section,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, spliceSection(tt.md, section)); diff != "" {
				t.Errorf("spliceSection (-want +got):\n%s", diff)
			}
		})
	}
}
