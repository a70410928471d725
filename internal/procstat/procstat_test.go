package procstat

import (
	"os"
	"testing"
)

// TestReadSelf: this process has spent CPU time and holds memory.
func TestReadSelf(t *testing.T) {
	buf := make([]byte, 8<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for i := 0; i < 3e7; i++ {
		buf[i%len(buf)]++
	}
	st, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU <= 0 || st.RSS < 8<<20 || st.RSSAnon < 8<<20 || st.RSSAnon > st.RSS {
		t.Errorf("%+v: want CPU time, and at least the 8 MiB written, anonymous", st)
	}
	if _, err := Read(1 << 30); err == nil {
		t.Error("a pid that cannot exist was read")
	}
}

// TestAnonRSS: statm's resident less shared is status's RssAnon, within
// what the process may allocate between the two reads.
func TestAnonRSS(t *testing.T) {
	buf := make([]byte, 8<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	anon, err := AnonRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	st, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	diff := int64(anon) - int64(st.RSSAnon)
	if anon < 8<<20 || diff > 1<<20 || diff < -1<<20 {
		t.Errorf("statm gives %d anonymous bytes, status %d: want both at least the 8 MiB written and within 1 MiB of each other", anon, st.RSSAnon)
	}
	if _, err := AnonRSS(1 << 30); err == nil {
		t.Error("a pid that cannot exist was read")
	}
	_ = buf[len(buf)-1]
}
