package main

import (
	"github.com/forkmq/forkmq/internal/bridge"
	"github.com/forkmq/forkmq/internal/brokerconf"
	"github.com/forkmq/forkmq/internal/mosqconf"
	"github.com/forkmq/forkmq/internal/options"
)

// bridges reads the file's connection blocks. The process engine refuses
// them: its bridge worker pair is not written yet.
func bridges(l brokerconf.Loaded) ([]bridge.Config, error) {
	if l.File == nil {
		return nil, nil
	}
	var out []bridge.Config
	for _, b := range l.File.Bridges {
		if l.Options.Engine == options.Process {
			return nil, &mosqconf.Error{Pos: b.Pos, Key: "connection", Msg: "the process engine has no bridges yet (its bridge worker pair is not written); use engine goroutine"}
		}
		c, err := bridge.FromFile(b)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
