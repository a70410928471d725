package e2e

// Hostile input: bytes no honest client sends, connections that never get
// anywhere, floods. Each must cost the offender its connection and nothing
// else: the supervisor lives on, other clients keep exchanging messages,
// and nothing of the offender is left behind.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/forkmq/forkmq/internal/rawmqtt"
)

// hostileConnectWait is the -connect-timeout of the hostile-input brokers.
const hostileConnectWait = time.Second

// hostileFlags: a short connect timeout, and no accept-rate limit (the
// floods below measure the broker, not its throttle).
var hostileFlags = brokerFlags("-connect-timeout", hostileConnectWait.String(), "-max-accept-rate", "0")

// pingFloodTimeout bounds how long a client flooding PINGREQs and never
// reading stays connected. Before the broker can tell, the PINGRESPs fill
// the socket's buffers (a few MB, some 2 million PINGRESPs); then the
// deliverer's writes block, the client's queue fills, and the router gives
// up waiting for room after 10 s. About 25 s in all here.
const pingFloodTimeout = time.Minute

// barrierTimeout bounds how long the backlog of a connection flood may
// take to drain.
const barrierTimeout = time.Minute

// maxClaimRSSKiB bounds a router's resident memory while it waits for the
// body of a packet that claims 256 MiB: nothing is allocated before bytes
// arrive.
const maxClaimRSSKiB = 32 << 10

// claim256MiB is a fixed header claiming the largest remaining length,
// 268,435,455 bytes [MQTT-2.2.3], after the given first byte.
func claim256MiB(header byte) []byte {
	return rawmqtt.FrameClaiming(header, rawmqtt.MaxRemaining)
}

// bystanders are the well-behaved clients whose traffic each hostile
// scenario must leave alone.
type bystanders struct {
	pub mqtt.Client
	in  *inbox
}

func newBystanders(t testing.TB, b *broker) *bystanders {
	t.Helper()
	sub := connectPaho(t, b, newClientID("bystand"))
	return &bystanders{in: subscribe(t, sub, "hostile/fence"), pub: connectPaho(t, b, newClientID("bystpub"))}
}

// check requires that the supervisor still runs, the bystanders still
// exchange messages, and that no worker, queue or record beyond theirs
// is left.
func (s *bystanders) check(t testing.TB, b *broker) {
	t.Helper()
	if b.hasExited() {
		t.Fatalf("the supervisor died: %v", b.cmd.ProcessState)
	}
	fence(t, s.pub, s.in, "hostile/fence")
	b.assertClean(t, 2)
	b.assertNoZombies(t)
}

// TestHostileInput: random bytes, truncated packets, a remaining length
// claiming 256 MiB and then nothing, a CONNECT that never completes, and a
// thousand connections opened and dropped (200 with -short). Each costs the offender its
// connection [MQTT-4.8.0-1] and nothing else. (A remaining length of 5
// bytes is TestMalformedInput's and TestMalformedConnectionFlood's.)
func TestHostileInput(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine), hostileFlags, quietLog)
		by := newBystanders(t, b)

		t.Run("RandomBytesFirst", func(t *testing.T) {
			// Not a CONNECT first [MQTT-3.1.0-1], or a CONNECT that is
			// malformed or never completes: closed at the latest after
			// the connect timeout.
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 1))
				rc := rawmqtt.Open(t, b.Addr)
				rc.Send(t, randomBytes(rng, 1+rng.IntN(4096)))
				rc.DrainUntilClosed(t, hostileConnectWait+ioTimeout)
			}
			by.check(t, b)
		})

		t.Run("RandomBytesAfterConnect", func(t *testing.T) {
			// Whatever the bytes decode to, a client with keep-alive 1 s
			// that stops sending is closed 1.5 s later at the latest
			// [MQTT-3.1.2-24]; most are malformed and closed at once.
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 2))
				c := rawmqtt.MQTT311(newClientID("random"))
				c.KeepAlive = 1
				rc := rawmqtt.Connected(t, b.Addr, c)
				rc.Send(t, randomBytes(rng, 1+rng.IntN(4096)))
				rc.DrainUntilClosed(t, 2*ioTimeout)
			}
			by.check(t, b)
		})

		t.Run("Truncated", func(t *testing.T) {
			connect := rawmqtt.MQTT311(newClientID("trunc")).Bytes()
			// A CONNECT cut short, then silence: the connect timeout.
			rc := rawmqtt.Open(t, b.Addr)
			rc.Send(t, connect[:len(connect)-3])
			if took := rc.DrainUntilClosed(t, hostileConnectWait+ioTimeout); took < hostileConnectWait/2 {
				t.Errorf("a CONNECT that may still complete was closed after %v, before the %v connect timeout", took, hostileConnectWait)
			}
			// A CONNECT cut short, then the client's half-close: the
			// broker closes at once.
			rc = rawmqtt.Open(t, b.Addr)
			rc.Send(t, connect[:len(connect)-3])
			if err := rc.NetConn().(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			rc.DrainUntilClosed(t, ioTimeout)
			// A SUBSCRIBE cut short after CONNECT, then silence: the
			// keep-alive ends it [MQTT-3.1.2-24].
			c := rawmqtt.MQTT311(newClientID("trunc"))
			c.KeepAlive = 1
			rc = rawmqtt.Connected(t, b.Addr, c)
			sub := rawmqtt.Subscribe(1, 0, "hostile/truncated")
			rc.Send(t, sub[:len(sub)-4])
			rc.DrainUntilClosed(t, ioTimeout)
			by.check(t, b)
		})

		t.Run("Claim256MiBFirst", func(t *testing.T) {
			// The broker's connect timeout runs from its accept, which may
			// come before Open returns here: the time is taken before the
			// dial, so that what is measured is never shorter than it.
			sent := time.Now()
			rc := rawmqtt.Open(t, b.Addr)
			rc.Send(t, claim256MiB(rawmqtt.HeaderConnect), []byte{0, 4, 'M', 'Q'})
			if engine == "process" {
				pair, _, err := b.routerServing(rc.NetConn().LocalAddr().String())
				if err != nil {
					t.Fatal(err)
				}
				checkRSSWhileWaiting(t, pair.router)
			}
			rc.DrainUntilClosed(t, hostileConnectWait+ioTimeout)
			if took := time.Since(sent); took < hostileConnectWait {
				t.Errorf("closed after %v, before the connect timeout %v; the claim alone is not malformed", took, hostileConnectWait)
			}
			by.check(t, b)
		})

		t.Run("Claim256MiBAfterConnect", func(t *testing.T) {
			c := rawmqtt.MQTT311(newClientID("claim"))
			rc := rawmqtt.Connected(t, b.Addr, c)
			rc.Send(t, claim256MiB(rawmqtt.HeaderPublish), rawmqtt.Str("hostile/fence"), []byte("a few bytes of 256 MiB"))
			if engine == "process" {
				checkRSSWhileWaiting(t, pairOf(b.connectedLine(t, c.ClientID)).router)
			}
			// The claim is within -max-packet-size: the router waits for
			// the rest until the client gives up; meanwhile it routes
			// nothing (the bystander's fence sees no extra message).
			if got := fence(t, by.pub, by.in, "hostile/fence"); len(got) > 0 {
				t.Errorf("part of a packet was routed: %q", payloads(got))
			}
			rc.Close()
			by.check(t, b)
		})

		t.Run("ConnectNeverCompletes", func(t *testing.T) {
			start := time.Now()
			silent := rawmqtt.Open(t, b.Addr) // not a byte
			partial := rawmqtt.Open(t, b.Addr)
			partial.Send(t, rawmqtt.MQTT311(newClientID("never")).Bytes()[:6])
			for _, rc := range []*rawmqtt.Conn{silent, partial} {
				rc.DrainUntilClosed(t, hostileConnectWait+ioTimeout)
				if took := time.Since(start); took < hostileConnectWait/2 || took > hostileConnectWait+2*time.Second {
					t.Errorf("closed after %v, want about the %v connect timeout", took, hostileConnectWait)
				}
			}
			if engine == "process" {
				b.waitLog(t, ioTimeout, "session ended", func(e logEntry) bool {
					return e.str("end") == "connect timeout" && e.str("remote") == partial.NetConn().LocalAddr().String()
				})
			}
			by.check(t, b)
		})

		t.Run("OpenAndDrop", func(t *testing.T) {
			n := 1000
			if testing.Short() {
				n = 200
			}
			fds := b.supervisorFDs()
			start := time.Now()
			made, err := floodConnections(b.Addr, n, 8, func(i int, conn *net.TCPConn) bool {
				if i%2 == 0 {
					_ = conn.SetLinger(0) // a reset instead of a FIN, at once
					return false
				}
				return true // a FIN, then wait for the broker's close
			})
			if err != nil {
				t.Fatal(err)
			}
			barrier(t, b)
			t.Logf("%d connections opened and dropped in %v", made, time.Since(start).Round(time.Millisecond))
			by.check(t, b)
			b.assertFDsAtMost(t, fds)
		})
	})
}

// checkRSSWhileWaiting requires the router's resident memory to stay
// small while it waits for the rest of a packet claiming 256 MiB.
func checkRSSWhileWaiting(t testing.TB, router int) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // let the router read the header and wait
	kib, err := rssKiB(router)
	if err != nil {
		t.Fatalf("router %d: %v", router, err)
	}
	t.Logf("router %d waits for 256 MiB with VmRSS %d KiB", router, kib)
	if kib > maxClaimRSSKiB {
		t.Errorf("router %d: VmRSS %d KiB while waiting for a claimed 256 MiB, want at most %d KiB", router, kib, maxClaimRSSKiB)
	}
}

// barrier connects a client and waits for its CONNACK: the supervisor
// accepts connections in order, so by then it has taken every connection
// made before, however long its backlog.
func barrier(t testing.TB, b *broker) {
	t.Helper()
	rc := rawmqtt.Open(t, b.Addr)
	rc.Send(t, rawmqtt.MQTT311(newClientID("barrier")).Bytes())
	p, err := rc.Read(barrierTimeout)
	if err != nil || p.Header != rawmqtt.HeaderConnack || len(p.Body) != 2 || p.Body[1] != rawmqtt.Accepted {
		t.Fatalf("barrier client: want CONNACK 0 within %v, got %v, %v", barrierTimeout, p, err)
	}
	rc.Send(t, rawmqtt.Disconnect())
	rc.ExpectClosed(t, ioTimeout)
}

func randomBytes(rng *rand.Rand, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(rng.Uint32())
	}
	return out
}

// floodConnections makes n connections to addr, at most `at` at once.
// Each is handed to use, which may write to it; when use returns true the
// connection is half-closed and read until the broker closes it, so that
// at most `at` connections are being served at once. It returns how many
// connections were made, or the first error.
func floodConnections(addr string, n, at int, use func(i int, conn *net.TCPConn) (wait bool)) (int, error) {
	var (
		next, made atomic.Int64
		wg         sync.WaitGroup
		mu         sync.Mutex
		firstErr   error
	)
	for range at {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				conn, err := net.DialTimeout("tcp", addr, ioTimeout)
				if err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, fmt.Errorf("connection %d: %w", i, err))
					mu.Unlock()
					return
				}
				tcp := conn.(*net.TCPConn)
				if use(i, tcp) {
					_ = tcp.CloseWrite()
					_ = tcp.SetReadDeadline(time.Now().Add(ioTimeout))
					_, _ = io.Copy(io.Discard, tcp) // until the broker closes
				}
				conn.Close()
				made.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(made.Load()), firstErr
}

// garbage is the i-th malformed opening of TestMalformedConnectionFlood:
// each kind is malformed by the bytes alone, or never completes. None is
// a CONNECT the broker accepts: the harness checks, at the end, that the
// pids of connected clients' workers are gone, and after thousands of
// forks some would be other processes' pids.
func garbage(i int, rng *rand.Rand) []byte {
	connect := rawmqtt.MQTT311(fmt.Sprintf("flood-%d", i)).Bytes()
	switch i % 8 {
	case 0: // random bytes
		return randomBytes(rng, 1+rng.IntN(512))
	case 1: // a remaining length of 5 bytes [MQTT-2.2.3]
		return []byte{rawmqtt.HeaderConnect, 0xff, 0xff, 0xff, 0xff, 0x7f}
	case 2: // a CONNECT cut short
		return connect[:rng.IntN(len(connect))]
	case 3: // an unknown protocol name [MQTT-3.1.2-1]
		c := rawmqtt.MQTT311(fmt.Sprintf("flood-%d", i))
		c.ProtocolName = "MQTX"
		return c.Bytes()
	case 4: // PUBLISH before CONNECT [MQTT-3.1.0-1]
		return rawmqtt.Publish{Topic: "flood/x", Payload: "x"}.Bytes()
	case 5: // the will flag without a will topic and message [MQTT-3.1.2-9]
		return rawmqtt.Frame(rawmqtt.HeaderConnect, rawmqtt.Str("MQTT"), []byte{4}, []byte{rawmqtt.ConnectClean | rawmqtt.ConnectWill}, rawmqtt.U16(0), rawmqtt.Str(fmt.Sprintf("flood-%d", i)))
	case 6: // a CONNECT with the reserved flag set [MQTT-3.1.2-3]
		c := rawmqtt.MQTT311(fmt.Sprintf("flood-%d", i))
		c.Flags |= rawmqtt.ConnectReserved
		return c.Bytes()
	default: // a 256 MiB claim, then the close
		return claim256MiB(rawmqtt.HeaderConnect)
	}
}

// TestMalformedConnectionFlood: 5,000 connections in a row, 8 at a time,
// each writing a malformed opening (random bytes, a 5-byte remaining
// length, a truncated CONNECT, a bad protocol name, PUBLISH first, …)
// and closing. The broker serves on (a publish/subscribe round trip), the
// supervisor keeps its descriptor count, and no worker, zombie, queue,
// record or spool file is left.
//
// Not parallel: a load test on a 2-core machine. Skipped with -short.
func TestMalformedConnectionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 connections; skipped with -short")
	}
	const n, at = 5000, 8
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine), withMaxClients(40), hostileFlags, quietLog)
		by := newBystanders(t, b)
		fds := b.supervisorFDs()
		start := time.Now()
		made, err := floodConnections(b.Addr, n, at, func(i int, conn *net.TCPConn) bool {
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			_ = conn.SetWriteDeadline(time.Now().Add(ioTimeout))
			_, _ = conn.Write(garbage(i, rng)) // the broker may close first
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		barrier(t, b)
		took := time.Since(start)
		refused := 0
		for _, l := range b.logLines("client refused: server unavailable") {
			refused += 1 + l.int("refused_since_last_line")
		}
		t.Logf("%d malformed connections in %v (%.0f/s); %d refused with CONNACK 3 at a limit",
			made, took.Round(time.Millisecond), float64(made)/took.Seconds(), refused)

		by.check(t, b)
		b.assertFDsAtMost(t, fds)
	})
}

// TestPingreqFloodNeverReading: a client (keep-alive 2 s) writes PINGREQs
// as fast as it can and never reads the PINGRESPs [MQTT-3.12.4-1]. The
// broker answers while it can; once the answers cannot be written, it ends
// the connection, and the bystanders and supervisor are unaffected.
//
// Not parallel: the flood keeps one core busy for some 25 s, which would
// upset the timing of other tests. Skipped with -short.
func TestPingreqFloodNeverReading(t *testing.T) {
	if testing.Short() {
		t.Skip("about 25 s of a busy core; skipped with -short")
	}
	forEachEngine(t, func(t *testing.T, engine string) {
		b := startBroker(t, withEngine(engine), quietLog)
		by := newBystanders(t, b)
		c := rawmqtt.MQTT311(newClientID("pingflood"))
		c.KeepAlive = 2
		rc := rawmqtt.Connected(t, b.Addr, c)
		flood := bytes.Repeat(rawmqtt.Pingreq(), 4096)
		start := time.Now()
		sent := 0
		var err error
		for time.Since(start) < pingFloodTimeout {
			_ = rc.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
			var n int
			n, err = rc.NetConn().Write(flood)
			sent += n / len(rawmqtt.Pingreq())
			var ne net.Error
			if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
				break // not held back: closed
			}
		}
		took := time.Since(start)
		t.Logf("%d PINGREQs written in %v, then: %v", sent, took.Round(time.Millisecond), err)
		if !rawmqtt.IsClosed(err) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("a client flooding PINGREQs and never reading still connected after %v", pingFloodTimeout)
		}
		if engine == "process" {
			gone := b.disconnectedLine(t, c.ClientID)
			end, _, _ := b.findLog(0, 0, "session ended", func(e logEntry) bool { return e.str("client_id") == c.ClientID })
			t.Logf("disconnected after %v: reason %q, session end %q (%s)", took.Round(time.Millisecond), gone.str("reason"), end.str("end"), end.str("error"))
		}
		by.check(t, b)
	})
}
