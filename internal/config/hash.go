package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Hash identifies the configuration's effective settings (defaults
// applied): the first 12 hex digits of the SHA-256 of its JSON form. Two
// configurations with the same settings have the same hash, however their
// files are written; /metrics shows the running one's.
func (c *Config) Hash() string {
	b, err := json.Marshal(c)
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}
