package retain

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/forkmq/forkmq/internal/proctest"
)

// TestConcurrentProcesses runs many processes that set and delete
// overlapping topics, some with 1 MiB payloads, while goroutines here read
// every message they can see and check it is whole. Each process ends by
// setting every topic, so exactly one intact message per topic must remain.
func TestConcurrentProcesses(t *testing.T) {
	for _, mode := range []string{"plain", "collide"} {
		t.Run(mode, func(t *testing.T) {
			concurrentProcesses(t, mode == "collide")
		})
	}
}

func concurrentProcesses(t *testing.T, colliding bool) {
	procs, ops := 12, 150
	if testing.Short() {
		procs, ops = 4, 40
	}
	path := storeDir(t)
	s := openAt(t, path)
	if colliding {
		collide(s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Readers: every message visible at any moment must be whole.
	var stop atomic.Bool
	var reads atomic.Int64
	var readers sync.WaitGroup
	readErr := make(chan error, 3)
	for _, filter := range []string{"#", "$SYS/#", "long/#"} {
		readers.Go(func() {
			for !stop.Load() {
				err := s.Match(filter, func(m Message) error {
					r, size := m.Open()
					p := make([]byte, size)
					if _, err := io.ReadFull(r, p); err != nil {
						return err
					}
					if _, err := checkPayload(m.Topic, p); err != nil {
						return fmt.Errorf("%.20q: %w", m.Topic, err)
					}
					reads.Add(1)
					return nil
				})
				if err != nil {
					readErr <- fmt.Errorf("Match(%s): %w", filter, err)
					return
				}
			}
		})
	}

	cmds := make([]*exec.Cmd, procs)
	outs := make([]strings.Builder, procs)
	for i := range cmds {
		mode := "plain"
		if colliding {
			mode = "collide"
		}
		cmd := proctest.Command(ctx, "churn", path, strconv.Itoa(i), strconv.Itoa(ops), mode)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v\n%s", i, err, outs[i].String())
		}
	}
	stop.Store(true)
	readers.Wait()
	close(readErr)
	for err := range readErr {
		t.Error(err)
	}
	t.Logf("%d messages read while writing", reads.Load())

	for _, topic := range churnTopics {
		m, ok, err := s.Get(topic)
		if err != nil || !ok {
			t.Errorf("Get(%.20q) = %v, %v", topic, ok, err)
			continue
		}
		if id, err := checkPayload(topic, m.Payload); err != nil || id < 0 || id >= procs {
			t.Errorf("Get(%.20q): writer %d, %v", topic, id, err)
		}
	}
	if n, err := s.Count(); n != len(churnTopics) || err != nil {
		t.Errorf("Count = %d, %v; want %d", n, err, len(churnTopics))
	}
	names, err := s.readNames(msgsName)
	if err != nil || len(names) != len(churnTopics) {
		t.Errorf("msgs/ holds %d files, want %d: %v", len(names), len(churnTopics), err)
	}
	top, err := s.readNames(".")
	if err != nil || strings.Join(top, " ") != lockName+" "+msgsName {
		t.Errorf("top level = %q, %v; want no temporary files", top, err)
	}
}
