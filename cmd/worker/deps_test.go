package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWorkerLinksNoHeavyPackages keeps out of the worker binary the
// packages that only the broker needs (TLS termination, WebSocket, the
// bridge's Paho client, HTTP for the admin listener). Thousands of workers
// run at once and each pays, in private memory, for every package linked
// into it — its data, bss and init-time allocations: when the bridge's
// process role lived in the worker binary, each worker carried about
// 140 KiB of PSS more (scripts/idlepss, ARCHITECTURE "The bridge in the
// process engine").
func TestWorkerLinksNoHeavyPackages(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"crypto/tls",
		"net/http",
		"github.com/eclipse/paho.mqtt.golang",
		"github.com/coder/websocket",
		"github.com/gorilla/websocket",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f {
				t.Errorf("the worker links %s: move what needs it out of cmd/worker's imports", dep)
			}
		}
	}
}
