package main

import (
	"os"
	"strings"

	"github.com/forkmq/forkmq/internal/proctitle"
	"github.com/forkmq/forkmq/internal/worker"
)

func main() {
	// The process title is written over the memory os.Args points into:
	// copy the arguments first (see proctitle.Take).
	args := make([]string, len(os.Args)-1)
	for i, a := range os.Args[1:] {
		args[i] = strings.Clone(a)
	}
	os.Exit(int(worker.Main(args, os.Stderr, proctitle.Take())))
}
