// Command mochi runs the mochi-mqtt broker (v2.7.9, pinned in this
// directory's go.mod) on one TCP port with every client allowed, so that
// mqbench can measure it beside forkmq, mosquitto and the goroutine engine.
// It logs warnings only. With -print-config it prints the options the
// server runs with (its defaults, filled in by mqtt.New) as JSON and exits,
// so that the benchmark's report can give mochi's whole configuration.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:1883", "TCP address to serve MQTT on")
	printConfig := flag.Bool("print-config", false, "print the server's options as JSON and exit")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	server := mqtt.New(&mqtt.Options{Logger: logger, InlineClient: false})
	if *printConfig {
		opts := *server.Options
		opts.Logger = nil // a handler, not configuration
		b, err := json.MarshalIndent(struct {
			Options  mqtt.Options `json:"options"`
			Hooks    []string     `json:"hooks"`
			Listener string       `json:"listener"`
			LogLevel string       `json:"log_level"`
		}{opts, []string{"auth.AllowHook"}, "tcp " + *listen, "warn"}, "", "  ")
		if err != nil {
			log.Fatalf("mochi: print config: %v", err)
		}
		os.Stdout.Write(append(b, '\n'))
		return
	}
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		log.Fatalf("mochi: allow hook: %v", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: *listen})
	if err := server.AddListener(tcp); err != nil {
		log.Fatalf("mochi: listen %s: %v", *listen, err)
	}
	if err := server.Serve(); err != nil {
		log.Fatalf("mochi: serve: %v", err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	if err := server.Close(); err != nil {
		log.Fatalf("mochi: close: %v", err)
	}
}
