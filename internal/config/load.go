package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load decodes and validates a YAML configuration. file names it in error
// messages. lookup expands ${VAR} and ${VAR:-default} in values; nil means
// the process environment.
//
// On any problem Load returns nil and an Errors holding every problem found,
// in file order, each with its line, column and key path: a configuration
// is taken whole or not at all.
func Load(file string, data []byte, lookup LookupEnv) (*Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	c, d, err := decode(file, data, lookup)
	if err != nil {
		return nil, err
	}
	errs := d.errs
	for _, e := range validate(c) {
		if d.suppressed(e.Path) {
			continue
		}
		e.File = file
		e.Line, e.Column = d.locate(e.Path)
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	return c, nil
}

// decode is Load before validation: the configuration with its defaults
// and derived values, and the decoder holding the problems found so far.
// The error is a YAML syntax error, when there is no configuration at all.
func decode(file string, data []byte, lookup LookupEnv) (*Config, *decoder, error) {
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, nil, err
	}
	c := New()
	d := newDecoder(file, lookup)
	if root != nil {
		d.decode(root, reflect.ValueOf(c).Elem(), "")
	}
	c.derive()
	return c, d, nil
}

// parseYAML returns the root node of the only document in data, or nil when
// data holds none.
func parseYAML(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, Errors{syntaxError(file, err)}
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		e := &Error{File: file, Line: next.Line, Column: next.Column,
			Msg: "a configuration is one YAML document; remove the second one"}
		if err != nil {
			e = syntaxError(file, err)
		}
		return nil, Errors{e}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// syntaxError turns a yaml.v3 parse error ("yaml: line 3: did not find
// expected key") into an Error with the line split out.
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Msg: "invalid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, text, _ := strings.Cut(rest, ": ")
		if line, err := strconv.Atoi(num); err == nil {
			e.Line, e.Msg = line, "invalid YAML: "+text
		}
	}
	return e
}

// suppressed reports whether path is at or under a value that failed to
// decode: what validation would say about its stand-in default is noise.
func (d *decoder) suppressed(path string) bool {
	for p := path; ; p = parentPath(p) {
		if d.bad[p] {
			return true
		}
		if p == "" {
			return false
		}
	}
}

// locate finds the position of path, or of its nearest ancestor that the
// file spells out.
func (d *decoder) locate(path string) (line, col int) {
	for p := path; p != ""; p = parentPath(p) {
		if at, ok := d.pos[p]; ok {
			return at.line, at.col
		}
	}
	return 0, 0
}

// parentPath strips the last key or index: "a.b[2]" -> "a.b" -> "a" -> "".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// derive fills in the defaults that depend on other settings, and puts
// values that have one canonical spelling into it.
func (c *Config) derive() {
	for i := range c.Routes {
		for j, h := range c.Routes[i].Hosts {
			c.Routes[i].Hosts[j] = strings.ToLower(h)
		}
	}
	for i := range c.Backends {
		b := &c.Backends[i]
		if b.InitialState == "" {
			b.InitialState = b.initialState()
		}
		if b.HashKey == "" {
			b.HashKey = HashClientIP
		}
	}
}
