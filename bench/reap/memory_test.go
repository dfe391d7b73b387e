package main

import (
	"os"
	"testing"
)

// The memory run gives the manager the limit its Deployment gives it.
func TestDeployedMemoryLimit(t *testing.T) {
	if err := os.Chdir("../.."); err != nil {
		t.Fatal(err)
	}
	got, err := deployedMemoryLimit()
	if err != nil {
		t.Fatal(err)
	}
	if got != "256Mi" {
		t.Fatalf("deployedMemoryLimit() = %q, want config/manager's 256Mi", got)
	}
}
