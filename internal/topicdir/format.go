package topicdir

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/forkmq/forkmq/internal/fsname"
)

// File formats (docs/FILES.md has the same with examples). Both are text,
// one item a line, written whole through renameio:
//
//	filter file            queue record
//	forkmq-topic v1        forkmq-queue v1
//	filter "a/b/+"         queue forkmq.1a2b3c4d.17
//	1 forkmq.1a2b3c4d.17   1 "a/b/+"
//	0 forkmq.1a2b3c4d.18   2 "c/#"
//
// Filters are Go-quoted (strconv.Quote), so any byte survives a round trip
// and a line never breaks inside one. Entries are sorted.
//
// Filter files are v2 since their names come from package fsname (v1 names
// kept upper-case letters). The contents did not change: a v1 file is read
// as it is, rewritten as v2 by its next change, and moved to its v2 name by
// Sweep.
const (
	filterMagic   = "forkmq-topic v2"
	filterMagicV1 = "forkmq-topic v1"
	queueMagic    = "forkmq-queue v1"
)

var errFormat = errors.New("topicdir: malformed file")

func formatError(what, line string) error {
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	return fmt.Errorf("%w: %s: %q", errFormat, what, line)
}

func encodeFilterFile(filter string, subs []Subscriber) []byte {
	slices.SortFunc(subs, func(a, b Subscriber) int { return strings.Compare(a.Queue, b.Queue) })
	var b bytes.Buffer
	b.WriteString(filterMagic + "\nfilter ")
	b.WriteString(strconv.Quote(filter))
	b.WriteByte('\n')
	for _, s := range subs {
		fmt.Fprintf(&b, "%d %s\n", s.QoS, s.Queue)
	}
	return b.Bytes()
}

func decodeFilterFile(data []byte) (filter string, subs []Subscriber, err error) {
	magic := filterMagic
	if bytes.HasPrefix(data, []byte(filterMagicV1+"\n")) {
		magic = filterMagicV1
	}
	q, lines, err := splitFile(data, magic, "filter")
	if err != nil {
		return "", nil, err
	}
	if filter, err = strconv.Unquote(q); err != nil {
		return "", nil, formatError("filter", q)
	}
	for _, line := range lines {
		qos, queue, err := cutQoS(line)
		if err != nil {
			return "", nil, err
		}
		if !validQueue(queue) {
			return "", nil, formatError("queue", line)
		}
		subs = append(subs, Subscriber{Queue: queue, QoS: qos})
	}
	return filter, subs, nil
}

func encodeRecord(queue string, subs []Subscription) []byte {
	slices.SortFunc(subs, func(a, b Subscription) int { return strings.Compare(a.Filter, b.Filter) })
	var b bytes.Buffer
	b.WriteString(queueMagic + "\nqueue " + queue + "\n")
	for _, s := range subs {
		fmt.Fprintf(&b, "%d %s\n", s.QoS, strconv.Quote(s.Filter))
	}
	return b.Bytes()
}

func decodeRecord(data []byte) (queue string, subs []Subscription, err error) {
	queue, lines, err := splitFile(data, queueMagic, "queue")
	if err != nil {
		return "", nil, err
	}
	if !validQueue(queue) {
		return "", nil, formatError("queue", queue)
	}
	for _, line := range lines {
		qos, q, err := cutQoS(line)
		if err != nil {
			return "", nil, err
		}
		filter, err := strconv.Unquote(q)
		if err != nil {
			return "", nil, formatError("filter", line)
		}
		subs = append(subs, Subscription{Filter: filter, QoS: qos})
	}
	return queue, subs, nil
}

// splitFile checks the magic first line and the "key value" second line,
// and returns value and the entry lines after it.
func splitFile(data []byte, magic, key string) (value string, entries []string, err error) {
	s := string(data)
	rest, ok := strings.CutPrefix(s, magic+"\n")
	if !ok {
		return "", nil, formatError("header", s[:min(len(s), len(magic)+1)])
	}
	if !strings.HasSuffix(rest, "\n") {
		return "", nil, formatError("unterminated last line", rest)
	}
	lines := strings.Split(rest[:len(rest)-1], "\n")
	if value, ok = strings.CutPrefix(lines[0], key+" "); !ok {
		return "", nil, formatError(key+" line", lines[0])
	}
	return value, lines[1:], nil
}

// cutQoS splits an entry line "<qos> <rest>".
func cutQoS(line string) (qos byte, rest string, err error) {
	if len(line) < 3 || line[1] != ' ' || line[0] < '0' || line[0] > '2' {
		return 0, "", formatError("entry", line)
	}
	return line[0] - '0', line[2:], nil
}

// validQueue checks a queue name as CONTRACTS.md defines it: at most 64
// bytes, no slash, space, newline or NUL; and usable as a file name.
func validQueue(q string) bool {
	return len(q) <= 64 && fsname.Safe(q) &&
		!strings.ContainsAny(q, " \n\r\t")
}

// parseLogHeader reads the epoch from the change log's first line.
func parseLogHeader(data []byte) (uint64, error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte(logMagic))
	if !ok {
		return 0, formatError("change log header", string(line))
	}
	return strconv.ParseUint(string(rest), 10, 64)
}

// wholeLines is data up to its last newline: a writer may be appending the
// next line of the change log, and its counter bump comes after.
func wholeLines(data []byte) []byte {
	return data[:bytes.LastIndexByte(data, '\n')+1]
}
