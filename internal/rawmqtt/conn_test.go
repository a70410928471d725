package rawmqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// fakeBroker accepts one connection on 127.0.0.1 and runs script on it;
// the test fails with the script's error.
func fakeBroker(t *testing.T, script func(c net.Conn) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(WaitTimeout))
		errc <- script(c)
	}()
	t.Cleanup(func() {
		if err := <-errc; err != nil {
			t.Errorf("fake broker: %v", err)
		}
	})
	return ln.Addr().String()
}

// expectBytes reads len(want) bytes from the client and compares them.
func expectBytes(c net.Conn, want ...[]byte) error {
	w := bytes.Join(want, nil)
	got := make([]byte, len(w))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("want % x: %w", w, err)
	}
	if !bytes.Equal(got, w) {
		return fmt.Errorf("got % x, want % x", got, w)
	}
	return nil
}

var connackAccepted = []byte{HeaderConnack, 2, 0, Accepted}

// TestFastPathAgainstFakeBroker: the load generator's calls, byte for byte,
// and what the counters count.
func TestFastPathAgainstFakeBroker(t *testing.T) {
	addr := fakeBroker(t, func(c net.Conn) error {
		if err := expectBytes(c, MQTT311("cli").Bytes()); err != nil {
			return err
		}
		c.Write(connackAccepted)
		if err := expectBytes(c, Subscribe(1, 1, "x/#")); err != nil {
			return err
		}
		c.Write([]byte{HeaderSuback, 3, 0, 1, 1}) // granted QoS 1
		c.Write(append(Publish{Topic: "x/y", Payload: "abc", QoS: 1, ID: 9}.Bytes(), Publish{Topic: "x/z"}.Bytes()...))
		// BufferPublish's bytes are Publish.Bytes()'s: one encoder.
		if err := expectBytes(c, Ack(HeaderPuback, 9), Publish{Topic: "x", Payload: "head", QoS: 1, ID: 2}.Bytes(), Pingreq()); err != nil {
			return err
		}
		c.Write([]byte{HeaderPingresp, 0})
		return expectBytes(c, Disconnect())
	})
	ctr := new(Counters)
	c, err := Dial(context.Background(), addr, Options{ClientID: "cli", Counters: ctr})
	if err != nil {
		t.Fatal(err)
	}
	if codes, err := c.Subscribe(1, 1, "x/#"); err != nil || !bytes.Equal(codes, []byte{1}) {
		t.Fatalf("Subscribe = % x, %v; want QoS 1 granted", codes, err)
	}
	p, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	payload, err := p.Payload()
	id, _ := p.ID()
	if err != nil || p.Type() != TypePublish || p.QoS() != 1 || id != 9 || string(payload) != "abc" {
		t.Fatalf("first PUBLISH = %v (%v)", p, err)
	}
	if err := c.BufferAck(HeaderPuback, id); err != nil {
		t.Fatal(err)
	}
	if !c.Buffered() {
		t.Fatal("the second PUBLISH should already be buffered")
	}
	if p, err = c.ReadPacket(); err != nil || p.Type() != TypePublish || p.QoS() != 0 {
		t.Fatalf("second PUBLISH = %v, %v", p, err)
	}
	if err := c.BufferPublish("x", 1, 2, []byte("he"), []byte("ad")); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(Pingreq()); err != nil { // flushes the PUBACK and PUBLISH before it
		t.Fatal(err)
	}
	if p, err = c.ReadPacket(); err != nil || p.Header != HeaderPingresp {
		t.Fatalf("PINGRESP = %v, %v", p, err)
	}
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	// out: CONNECT SUBSCRIBE PUBACK PUBLISH PINGREQ DISCONNECT; in:
	// CONNACK (4 bytes) SUBACK (5) PUBLISH (12) PUBLISH (7) PINGRESP (2)
	if ctr.PacketsOut.Load() != 6 || ctr.PacketsIn.Load() != 5 || ctr.Packets() != 11 {
		t.Errorf("packets out %d in %d, want 6 and 5", ctr.PacketsOut.Load(), ctr.PacketsIn.Load())
	}
	if want := int64(4 + 5 + 12 + 7 + 2); ctr.BytesIn.Load() != want {
		t.Errorf("bytes in = %d, want %d", ctr.BytesIn.Load(), want)
	}
}

func TestDialRefused(t *testing.T) {
	addr := fakeBroker(t, func(c net.Conn) error {
		if err := expectBytes(c, MQTT311("r").Persistent().Bytes()); err != nil {
			return err
		}
		_, err := c.Write([]byte{HeaderConnack, 2, 0, RefusedServerUnavailable})
		return err
	})
	_, err := Dial(context.Background(), addr, Options{ClientID: "r", Persistent: true})
	var ce *ConnackError
	if !errors.As(err, &ce) || ce.Code != RefusedServerUnavailable {
		t.Fatalf("Dial error = %v, want ConnackError code 3", err)
	}
}

func TestDialMalformedAnswer(t *testing.T) {
	addr := fakeBroker(t, func(c net.Conn) error {
		if err := expectBytes(c, MQTT311("m").Bytes()); err != nil {
			return err
		}
		_, err := c.Write([]byte{HeaderConnack, 0xff, 0xff, 0xff, 0xff}) // 5-byte length
		return err
	})
	if _, err := Dial(context.Background(), addr, Options{ClientID: "m"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Dial error = %v, want ErrMalformed", err)
	}
}

// TestServeAnswersEveryFlow: Serve answers each flow step with the
// client's next one, in order, hands every packet over, and returns once
// the broker closes the connection.
func TestServeAnswersEveryFlow(t *testing.T) {
	addr := fakeBroker(t, func(c net.Conn) error {
		c.Write(bytes.Join([][]byte{
			Publish{Topic: "a", Payload: "1", QoS: 1, ID: 5}.Bytes(),
			Publish{Topic: "a", Payload: "2", QoS: 2, ID: 6}.Bytes(),
			Ack(HeaderPubrel, 6),
			Ack(HeaderPubrec, 7), // of a QoS 2 PUBLISH the client sent
			Publish{Topic: "a", Payload: "0"}.Bytes(),
			Ack(HeaderPubcomp, 7),
		}, nil))
		err := expectBytes(c, Ack(HeaderPuback, 5), Ack(HeaderPubrec, 6), Ack(HeaderPubcomp, 6), Ack(HeaderPubrel, 7))
		c.Close()
		return err
	})
	c := Open(t, addr)
	var got []string
	err := c.Serve(func(p *Packet) error {
		got = append(got, HeaderName(p.Header))
		return nil
	})
	if !IsClosed(err) {
		t.Errorf("Serve returned %v, want the close", err)
	}
	want := []string{"PUBLISH (0x32)", "PUBLISH (0x34)", "PUBREL (0x62)", "PUBREC (0x50)", "PUBLISH (0x30)", "PUBCOMP (0x70)"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("handled %v, want %v", got, want)
	}
}

// TestServeFlushesOnlyItsAnswers: a PUBACK for a publisher asks no answer,
// so Serve leaves the publisher's buffered batch alone; its own answer to a
// QoS 1 PUBLISH goes out, after what was buffered before it.
func TestServeFlushesOnlyItsAnswers(t *testing.T) {
	batch := Publish{Topic: "b", Payload: "batch", QoS: 1, ID: 1}.Bytes()
	buffered := make(chan struct{})
	addr := fakeBroker(t, func(c net.Conn) error {
		<-buffered
		c.Write(Ack(HeaderPuback, 9))
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(make([]byte, 1)); n > 0 {
			return errors.New("Serve flushed after a PUBACK, which it does not answer")
		} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(WaitTimeout))
		c.Write(Publish{Topic: "a", QoS: 1, ID: 5}.Bytes())
		return expectBytes(c, batch, Ack(HeaderPuback, 5))
	})
	c := Open(t, addr)
	if err := c.BufferPublish("b", 1, 1, []byte("bat"), []byte("ch")); err != nil {
		t.Fatal(err)
	}
	close(buffered)
	if err := c.Serve(nil); !IsClosed(err) { // the fake broker closes when done
		t.Errorf("Serve returned %v, want the close", err)
	}
}

// TestServeEnds: a packet identifier Serve cannot answer ends it, and so
// does an error of the handler.
func TestServeEnds(t *testing.T) {
	addr := fakeBroker(t, func(c net.Conn) error {
		_, err := c.Write(Publish{Topic: "a", QoS: 1}.Bytes()) // identifier 0
		return err
	})
	c := Open(t, addr)
	if err := c.Serve(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("Serve returned %v, want ErrMalformed", err)
	}

	addr = fakeBroker(t, func(c net.Conn) error {
		_, err := c.Write(Publish{Topic: "a"}.Bytes())
		return err
	})
	c = Open(t, addr)
	stop := errors.New("enough")
	if err := c.Serve(func(*Packet) error { return stop }); err != stop {
		t.Errorf("Serve returned %v, want the handler's error", err)
	}
}

// loopConn is a net.Conn whose reads repeat one packet forever and whose
// writes vanish: the fast path without a socket.
type loopConn struct {
	packet []byte
	off    int
}

func (l *loopConn) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c := copy(b[n:], l.packet[l.off:])
		n += c
		l.off = (l.off + c) % len(l.packet)
	}
	return n, nil
}
func (*loopConn) Write(b []byte) (int, error)      { return len(b), nil }
func (*loopConn) Close() error                     { return nil }
func (*loopConn) LocalAddr() net.Addr              { return nil }
func (*loopConn) RemoteAddr() net.Addr             { return nil }
func (*loopConn) SetDeadline(time.Time) error      { return nil }
func (*loopConn) SetReadDeadline(time.Time) error  { return nil }
func (*loopConn) SetWriteDeadline(time.Time) error { return nil }

// TestFastPathAllocates: publishing, acknowledging and reading on the load
// generator's path allocate nothing per message once the buffers have grown.
func TestFastPathAllocates(t *testing.T) {
	c := NewConn(&loopConn{packet: Publish{Topic: "t/x", Payload: "0123456789", QoS: 1, ID: 7}.Bytes()}, Options{})
	head, tail := make([]byte, 24), make([]byte, 1000)
	if n := testing.AllocsPerRun(1000, func() {
		_ = c.BufferPublish("t/x", 1, 7, head, tail)
		p, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Payload(); err != nil {
			t.Fatal(err)
		}
		_, _ = c.answer(p)
		_ = c.Flush()
	}); n != 0 {
		t.Errorf("%v allocations per message, want 0", n)
	}
}
