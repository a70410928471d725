package proxyproto

import (
	"bytes"
	"io"
	"testing"
)

// FuzzRead feeds arbitrary bytes to both versions' readers: they never
// panic, never read past a header they accept, and an accepted header
// that is not Local has both addresses.
func FuzzRead(f *testing.F) {
	f.Add(byte(1), V1(src4, dst4))
	f.Add(byte(2), V2(src6, dst6))
	f.Add(byte(1), []byte("PROXY UNKNOWN\r\n"))
	f.Add(byte(2), []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, v byte, in []byte) {
		version := int(v%2) + 1
		r := bytes.NewReader(in)
		h, err := Read(r, version)
		if err != nil {
			return
		}
		if !h.Local && (h.Source == nil || h.Dst == nil) {
			t.Fatalf("header %+v without addresses", h)
		}
		rest, _ := io.ReadAll(r)
		used := len(in) - len(rest)
		if version == 1 && (used > v1Max || !bytes.HasSuffix(in[:used], []byte("\r\n"))) {
			t.Fatalf("v1 read %d bytes, up to %q", used, in[:used])
		}
	})
}
