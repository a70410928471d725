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
