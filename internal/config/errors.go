package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a configuration: where it is and what is wrong.
type Error struct {
	// File is the name the configuration was loaded under; empty for a
	// configuration built in code.
	File string `json:"file,omitempty"`
	// Line and Column locate the key or value in the file, from 1; zero when
	// unknown.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Path is the key path, like "backends[2].health.rise"; empty for the
	// file as a whole.
	Path string `json:"path,omitempty"`
	// Msg says what is wrong, in lowercase, without the location.
	Msg string `json:"message"`
}

// Error formats e as "file:line:col: path: message", leaving out what is
// unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		if e.Column > 0 {
			b.WriteString(strconv.Itoa(e.Column))
			b.WriteByte(':')
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration, in file order. Load
// and Validate return it as their error when it is not empty; use errors.As
// to get at each problem.
type Errors []*Error

// Error joins the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As and errors.Is see each problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// err returns es as an error, or nil when it is empty, so that a nil Errors
// never becomes a non-nil error interface.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// sort orders es by position; problems without a position keep their order
// and come last.
func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Column, b.Column)
	})
}
