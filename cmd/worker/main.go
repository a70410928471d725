package main

import (
	"os"

	"github.com/forkmq/forkmq/internal/worker"
)

func main() {
	os.Exit(int(worker.Main(os.Args[1:], os.Stderr)))
}
