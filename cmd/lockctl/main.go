package main

import (
	"os"

	"github.com/leasehold/leasehold/internal/cli"

	// The backends lockctl can open, registered by URL scheme.
	_ "github.com/leasehold/leasehold/pkg/backends/kubernetes"
	_ "github.com/leasehold/leasehold/pkg/backends/postgres"
	_ "github.com/leasehold/leasehold/pkg/backends/redis"
	_ "github.com/leasehold/leasehold/pkg/backends/sqlite"
)

func main() { os.Exit(cli.Main()) }
