package logging

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Formats accepted by New.
const (
	FormatAuto    = "auto"    // console on a terminal, JSON otherwise
	FormatConsole = "console" // human-readable lines
	FormatJSON    = "json"    // one JSON object per line
)

// Resolve turns FormatAuto into the concrete format for w.
func Resolve(format string, w io.Writer) (string, error) {
	switch format {
	case FormatConsole, FormatJSON:
		return format, nil
	case FormatAuto, "":
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			return FormatConsole, nil
		}
		return FormatJSON, nil
	}
	return "", fmt.Errorf("log format %q: want auto, console or json", format)
}

// New returns a logger writing to w in the given format at the given level.
func New(w io.Writer, format, level string) (zerolog.Logger, error) {
	format, err := Resolve(format, w)
	if err != nil {
		return zerolog.Nop(), err
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log level %q: %w", level, err)
	}
	out := w
	if format == FormatConsole {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}
