package retain

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/forkmq/forkmq/internal/topic"
)

// A message file is a text header followed by the raw payload:
//
//	forkmq-retained v1
//	topic "sport/tennis"
//	qos 1 size 5
//	hello
//
// The topic is Go-quoted, so any topic survives and `head -3` shows it
// safely. The file's length must be the header's plus size. A free slot of a
// chain (a tombstone, see store.go) is the magic line followed by "free".
const (
	magic = "forkmq-retained v1"
	// maxHeader bounds a header: strconv.Quote writes at most 4 bytes for
	// one byte of topic.
	maxHeader = len(magic) + 4*topic.MaxLen + 64
)

var tombstone = []byte(magic + "\nfree\n")

// ErrCorrupt reports a message file that cannot be parsed.
var ErrCorrupt = errors.New("retain: corrupt message file")

func encodeHeader(topic string, qos byte, size int) []byte {
	return fmt.Appendf(nil, "%s\ntopic %s\nqos %d size %d\n", magic, strconv.Quote(topic), qos, size)
}

// header is what a message file says before its payload.
type header struct {
	free  bool // a tombstone
	topic string
	qos   byte
	off   int64 // where the payload starts
	size  int64
}

// readHeader parses the header at the start of r (which it may read past).
func readHeader(r io.Reader) (h header, err error) {
	br := bufio.NewReaderSize(io.LimitReader(r, int64(maxHeader)), 1024)
	line := func(what string) (string, error) {
		s, err := br.ReadString('\n')
		h.off += int64(len(s))
		if err != nil {
			return "", fmt.Errorf("%w: %s line: %v", ErrCorrupt, what, err)
		}
		return s[:len(s)-1], nil
	}
	if s, err := line("magic"); err != nil || s != magic {
		return h, errors.Join(err, fmt.Errorf("%w: no %q line", ErrCorrupt, magic))
	}
	s, err := line("topic")
	if err != nil {
		return h, err
	}
	if s == "free" {
		h.free = true
		return h, nil
	}
	q, ok := strings.CutPrefix(s, "topic ")
	if h.topic, err = strconv.Unquote(q); !ok || err != nil || topic.ValidateName(h.topic) != nil {
		return h, fmt.Errorf("%w: bad topic line", ErrCorrupt)
	}
	if s, err = line("qos"); err != nil {
		return h, err
	}
	var qos int
	if n, err := fmt.Sscanf(s, "qos %d size %d", &qos, &h.size); n != 2 || err != nil || qos > 2 || qos < 0 || h.size <= 0 ||
		s != fmt.Sprintf("qos %d size %d", qos, h.size) {
		return h, fmt.Errorf("%w: bad qos line %q", ErrCorrupt, s)
	}
	h.qos = byte(qos)
	return h, nil
}
