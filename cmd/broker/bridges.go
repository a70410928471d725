package main

import (
	"github.com/forkmq/forkmq/internal/bridge"
	"github.com/forkmq/forkmq/internal/brokerconf"
)

// bridges reads the file's connection blocks, for either engine.
func bridges(l brokerconf.Loaded) ([]bridge.Config, error) {
	if l.File == nil {
		return nil, nil
	}
	var out []bridge.Config
	for _, b := range l.File.Bridges {
		c, err := bridge.FromFile(b)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
