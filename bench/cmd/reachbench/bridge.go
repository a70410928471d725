package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// bridgeThroughput: messages/s of a 1→1 stream published to forkmq and
// carried by its bridge to a local mosquitto, where the subscriber is,
// over the same stream published to that mosquitto directly; target ≥ 50 %.
// Both streams are QoS 0 end to end (the bridge's topic line says `out 0`):
// with `out 1` the bridged stream would make mosquitto take QoS 1 — a
// PUBACK per message, which the direct QoS 0 stream does not cost it —
// and the ratio would compare two different workloads on mosquitto's side.
func bridgeThroughput(ctx context.Context, o opts) error {
	m, err := startMosquitto(o.dir)
	if err != nil {
		return err
	}
	defer m.stop()
	direct := dialer{addr: m.addr["plain"]}
	for _, e := range o.engines {
		conf := filepath.Join(o.dir, "bridge-"+e+".conf")
		text := fmt.Sprintf("allow_anonymous true\n\nconnection bench\naddress %s\nremote_clientid bench-bridge-%s\ncleansession true\ntopic b/# out 0\n",
			m.addr["plain"], e)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return err
		}
		b, err := startForkmq(o.bin, o.dir, e, o.certs, "-c", conf)
		if err != nil {
			return err
		}
		via := dialer{addr: b.addr["plain"]}
		sub, err := subscribe(ctx, direct, "bridge-sub-"+e, "b/#", nil)
		if err != nil {
			b.stop()
			return err
		}
		if err := bridgeUp(ctx, via, sub); err != nil {
			b.stop()
			return fmt.Errorf("%s: %w", b.name, err)
		}
		rates := map[string]float64{}
		for _, run := range []struct {
			name string
			d    dialer
		}{{"direct", direct}, {"bridged", via}, {"direct", direct}, {"bridged", via}} {
			pub, err := run.d.mqtt(ctx, "bridge-pub-"+e+"-"+run.name)
			if err != nil {
				b.stop()
				return err
			}
			got, took, err := stream(pub, sub, "b/"+run.name, o.n, o.size)
			pub.Close()
			if err != nil {
				b.stop()
				return fmt.Errorf("%s %s: %w", b.name, run.name, err)
			}
			r := float64(got) / took.Seconds()
			fmt.Printf("%-16s %-8s to mosquitto: %d msgs in %v, %.0f msg/s\n", b.name, run.name, got, took.Round(time.Millisecond), r)
			rates[run.name] = max(rates[run.name], r) // the better of two
		}
		sub.c.Close()
		b.stop()
		fmt.Printf("%-16s bridged/direct messages/s: %.0f %% (target ≥ 50 %%)\n", b.name, 100*rates["bridged"]/rates["direct"])
	}
	return nil
}

// bridgeUp publishes probes through via until sub (on the remote) has one.
func bridgeUp(ctx context.Context, via dialer, sub *subscriber) error {
	pub, err := via.mqtt(ctx, "bridge-probe")
	if err != nil {
		return err
	}
	defer pub.Close()
	deadline := time.Now().Add(15 * time.Second)
	for sub.got.Load() == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("the bridge carried nothing in 15 s")
		}
		if err := pub.BufferPublish("b/probe", 0, 0, nil, []byte("probe")); err != nil {
			return err
		}
		if err := pub.Flush(); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	return nil
}
