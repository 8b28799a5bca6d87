package admin

import (
	"fmt"
	"strconv"
	"time"
)

// DurationWords writes a duration the way a person reads it at a glance:
// "5s", "2m 5s", "3h 2m", "2d 3h". The dashboard and "portier ctl" both
// use it, so that they read the same.
func DurationWords(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
}

// LatencyWords writes a latency in seconds with the precision that
// matters: "0.4 ms", "12 ms", "1.25 s".
func LatencyWords(sec float64) string {
	switch ms := sec * 1000; {
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(sec, 'f', 2, 64) + " s"
}
