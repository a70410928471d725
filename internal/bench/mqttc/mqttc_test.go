package mqttc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestEncodersGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"CONNECT", AppendConnect(nil, "ab", 30, true), []byte{
			0x10, 14, // CONNECT, remaining length
			0, 4, 'M', 'Q', 'T', 'T', // protocol name
			4,     // level 3.1.1
			0x02,  // clean session
			0, 30, // keep-alive
			0, 2, 'a', 'b', // client identifier
		}},
		{"SUBSCRIBE", AppendSubscribe(nil, 7, 1, "a/+", "b"), []byte{
			0x82, 12, // SUBSCRIBE with reserved flags 0010
			0, 7, // packet identifier
			0, 3, 'a', '/', '+', 1, // filter, QoS
			0, 1, 'b', 1,
		}},
		{"PUBLISH QoS 0", append(AppendPublishHeader(nil, "t", 0, 0, 2), 'h', 'i'), []byte{
			0x30, 5, // PUBLISH QoS 0
			0, 1, 't', // topic
			'h', 'i', // payload
		}},
		{"PUBLISH QoS 1", AppendPublishHeader(nil, "t", 1, 0x0102, 200), []byte{
			0x32, 205, 1, // QoS 1; remaining length 205 takes two bytes
			0, 1, 't',
			1, 2, // packet identifier
		}},
		{"PUBACK", AppendPuback(nil, 0xbeef), []byte{0x40, 2, 0xbe, 0xef}},
		{"varint max", appendVarint(nil, maxRemaining), []byte{0xff, 0xff, 0xff, 0x7f}},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s = % x, want % x", tc.name, tc.got, tc.want)
		}
	}
}

// fakeBroker accepts one connection and runs script on it.
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
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		errc <- script(c)
	}()
	t.Cleanup(func() {
		if err := <-errc; err != nil {
			t.Errorf("fake broker: %v", err)
		}
	})
	return ln.Addr().String()
}

func expect(c net.Conn, want []byte) error {
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return errors.New("unexpected bytes: " + string(got))
	}
	return nil
}

func TestSessionAgainstFakeBroker(t *testing.T) {
	addr := fakeBroker(t, func(c net.Conn) error {
		if err := expect(c, AppendConnect(nil, "cli", 0, true)); err != nil {
			return err
		}
		c.Write([]byte{0x20, 2, 0, 0}) // CONNACK accepted
		if err := expect(c, AppendSubscribe(nil, 1, 1, "x/#")); err != nil {
			return err
		}
		c.Write([]byte{0x90, 3, 0, 1, 1}) // SUBACK, granted QoS 1
		pub := append(AppendPublishHeader(nil, "x/y", 1, 9, 3), "abc"...)
		pub = append(pub, AppendPublishHeader(nil, "x/z", 0, 0, 0)...)
		c.Write(pub)
		if err := expect(c, AppendPuback(nil, 9)); err != nil {
			return err
		}
		if err := expect(c, pingreq); err != nil {
			return err
		}
		c.Write([]byte{0xd0, 0})
		return expect(c, disconnect)
	})
	ctr := new(Counters)
	c, err := Dial(context.Background(), addr, Options{ClientID: "cli", Counters: ctr})
	if err != nil {
		t.Fatal(err)
	}
	if granted, err := c.Subscribe(1, 1, "x/#"); err != nil || granted != 1 {
		t.Fatalf("Subscribe = %d, %v; want QoS 1 granted", granted, err)
	}
	p, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != TypePublish || p.QoS() != 1 || p.ID != 9 || string(p.Topic) != "x/y" || string(p.Payload) != "abc" {
		t.Fatalf("first PUBLISH = %+v", p)
	}
	if err := c.Puback(p.ID); err != nil {
		t.Fatal(err)
	}
	if !c.Buffered() {
		t.Fatal("the second PUBLISH should already be buffered")
	}
	if p, err = c.ReadPacket(); err != nil || p.Type != TypePublish || p.QoS() != 0 || len(p.Payload) != 0 {
		t.Fatalf("second PUBLISH = %+v, %v", p, err)
	}
	if err := c.Ping(); err != nil { // flushes the PUBACK before it
		t.Fatal(err)
	}
	if p, err = c.ReadPacket(); err != nil || p.Type != TypePingresp {
		t.Fatalf("PINGRESP = %+v, %v", p, err)
	}
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	// out: CONNECT SUBSCRIBE PUBACK PINGREQ DISCONNECT; in: CONNACK (4 bytes)
	// SUBACK (5) PUBLISH (12) PUBLISH (7) PINGRESP (2)
	if ctr.PacketsOut.Load() != 5 || ctr.PacketsIn.Load() != 5 || ctr.Packets() != 10 {
		t.Fatalf("packets out %d in %d, want 5 and 5", ctr.PacketsOut.Load(), ctr.PacketsIn.Load())
	}
	if want := int64(4 + 5 + 12 + 7 + 2); ctr.BytesIn.Load() != want {
		t.Fatalf("bytes in = %d, want %d", ctr.BytesIn.Load(), want)
	}
}

func TestRefusedConnack(t *testing.T) {
	addr := fakeBroker(t, func(c net.Conn) error {
		if err := expect(c, AppendConnect(nil, "r", 0, true)); err != nil {
			return err
		}
		_, err := c.Write([]byte{0x20, 2, 0, 3})
		return err
	})
	_, err := Dial(context.Background(), addr, Options{ClientID: "r"})
	var ce *ConnackError
	if !errors.As(err, &ce) || ce.Code != 3 {
		t.Fatalf("Dial error = %v, want ConnackError code 3", err)
	}
}

func TestMalformedFromBroker(t *testing.T) {
	addr := fakeBroker(t, func(c net.Conn) error {
		if err := expect(c, AppendConnect(nil, "m", 0, true)); err != nil {
			return err
		}
		_, err := c.Write([]byte{0x20, 0xff, 0xff, 0xff, 0xff}) // 5-byte length
		return err
	})
	if _, err := Dial(context.Background(), addr, Options{ClientID: "m"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Dial error = %v, want ErrMalformed", err)
	}
}
