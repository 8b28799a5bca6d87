package main

import (
	"fmt"
	"os"

	"github.com/portier/portier/internal/config"
)

// loadConfig reads and parses a configuration file, expanding ${VAR} from
// the environment.
func loadConfig(path string) (*config.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("portier: %w", err)
	}
	return config.Load(path, data, os.LookupEnv)
}
