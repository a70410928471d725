package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/forkmq/forkmq/internal/admin"
	"github.com/forkmq/forkmq/internal/supervisor"
)

// adminAddrFile is where a broker with an admin listener writes its
// address in the state directory, for `broker status`.
const adminAddrFile = "admin.addr"

// listenAdmin binds the admin listener (-admin-listen), before the engine
// starts, so that a broker dropping privileges (-user) has bound it first.
func listenAdmin(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	return ln, nil
}

// serveAdmin serves /metrics, the live view and /status on ln from the
// running engine until ctx ends, and records the address in the state
// directory for `broker status`.
func serveAdmin(ctx context.Context, log zerolog.Logger, ln net.Listener, stateDir string, src admin.Source) {
	if ln == nil {
		return
	}
	addr := ln.Addr().String()
	path := filepath.Join(stateDir, adminAddrFile)
	if err := os.WriteFile(path, []byte(addr+"\n"), 0o600); err != nil {
		log.Warn().Err(err).Msg("admin address not recorded; broker status will not find it")
	}
	log.Info().Str("addr", addr).Str("url", "http://"+addr+"/").Msg("admin listening")
	go func() {
		if err := admin.NewServer(src).Serve(ctx, ln); err != nil {
			log.Error().Err(err).Msg("admin listener stopped")
		}
		os.Remove(path)
	}()
}

// status is `broker status -state-dir DIR`: it prints the live view's
// table for a broker already running there — from its admin listener when
// it has one, else (the process engine) from its state directory itself,
// two readings a second apart so that the table has rates.
func status(argv []string) int {
	fs := flag.NewFlagSet("broker status", flag.ContinueOnError)
	stateDir := fs.String("state-dir", "", "the running broker's state `directory`")
	interval := fs.Duration("interval", time.Second, "time between the two readings the rates are taken over")
	if err := fs.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *stateDir == "" {
		fmt.Fprintln(os.Stderr, "broker status: -state-dir is required")
		return 2
	}
	if err := printStatus(os.Stdout, *stateDir, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "broker status:", err)
		return 1
	}
	return 0
}

func printStatus(w io.Writer, stateDir string, interval time.Duration) error {
	if b, err := os.ReadFile(filepath.Join(stateDir, adminAddrFile)); err == nil {
		return statusFromListener(w, strings.TrimSpace(string(b)), interval)
	}
	obs, err := supervisor.Observe(stateDir)
	if err != nil {
		return fmt.Errorf("%w (a goroutine-engine broker is read through its admin listener: start it with -admin-listen)", err)
	}
	defer obs.Close()
	ctx := context.Background()
	prev, err := obs.Snapshot(ctx)
	if err != nil {
		return err
	}
	time.Sleep(interval)
	cur, err := obs.Snapshot(ctx)
	if err != nil {
		return err
	}
	return admin.WriteTable(w, admin.NewView(prev, cur))
}

// statusFromListener asks the broker's admin listener for its table,
// twice, so that its view has rates.
func statusFromListener(w io.Writer, addr string, interval time.Duration) error {
	client := &http.Client{Timeout: 10 * time.Second}
	get := func() ([]byte, error) {
		resp, err := client.Get("http://" + addr + "/status")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s/status: %s: %s", addr, resp.Status, b)
		}
		return b, err
	}
	if _, err := get(); err != nil {
		return err
	}
	time.Sleep(interval)
	b, err := get()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
