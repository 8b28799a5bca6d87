package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
)

// loggers builds the process log (JSON on stderr) and the access log as the
// configuration says. The returned func closes an access log file.
func loggers(level, access string, stdout, stderr io.Writer) (*slog.Logger, *slog.Logger, func(), error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, nil, fmt.Errorf("log.level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lv}))
	closer := func() {}
	var w io.Writer
	switch access {
	case "off", "":
		return logger, nil, closer, nil
	case "stdout":
		w = stdout
	case "stderr":
		w = stderr
	default:
		f, err := os.OpenFile(access, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("log.access: %w", err)
		}
		w, closer = f, func() { _ = f.Close() }
	}
	accessLog := slog.New(slog.NewJSONHandler(w, nil)).With("log", "access")
	return logger, accessLog, closer, nil
}
