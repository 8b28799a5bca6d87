package config

import "time"

// Duration is a time.Duration written as "500ms", "2s", "1m30s".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written as a plain integer or with a unit: "512",
// "32KiB", "10MiB", "1GiB" (powers of 1024) or "64KB", "10MB" (powers of 1000).
type Size int64
