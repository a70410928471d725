package auth

import (
	"fmt"
	"strings"
)

// ParseError reports a malformed line in a password or ACL file. Path is
// the file name given to the loader (empty when the bytes came from no
// file); Line counts from 1.
type ParseError struct {
	Path string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// eachLine calls fn with every line of data that is neither blank nor a
// comment (first non-blank character '#'), trimmed of the spaces, tabs and
// carriage returns that hand editing and DOS line ends leave around it,
// with its 1-based number. A *ParseError that fn returns gets path filled in.
func eachLine(path string, data []byte, fn func(n int, line string) error) error {
	rest := string(data)
	for n := 1; rest != ""; n++ {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.Trim(line, " \t\r")
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(n, line); err != nil {
			if pe, ok := err.(*ParseError); ok {
				pe.Path = path
			}
			return err
		}
	}
	return nil
}
