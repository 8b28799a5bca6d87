package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a state file. The format needs three
// levels (document, servers, entry, identity); a deeper file is not one.
const maxDepth = 8

// frame is one open object or array while scanning.
type frame struct {
	object    bool
	expectKey bool                // object: the next string is a member name
	keys      map[string]struct{} // object: member names seen, folded
}

// scan checks that data, which is valid JSON, is an object nested at most
// maxDepth deep with no member name twice in any object. encoding/json
// would silently keep the last of two "admin" members; a file that says
// two things about a server is not one to trust. Names are compared as
// encoding/json matches them to fields, ignoring case.
func scan(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []frame
	for {
		at := skipSpace(data, dec.InputOffset())
		tok, err := dec.Token()
		if err == io.EOF {
			return fmt.Errorf("truncated: the JSON ends early at %s", position(data, int64(len(data))))
		}
		if err != nil {
			return syntaxError(data, err)
		}
		if len(stack) == 0 {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return fmt.Errorf("%s: the top level is not a JSON object", position(data, at))
			}
		}
		top := len(stack) - 1
		switch tok := tok.(type) {
		case json.Delim:
			if tok == '{' || tok == '[' {
				if len(stack) == maxDepth {
					return fmt.Errorf("%s: nested more than %d deep", position(data, at), maxDepth)
				}
				stack = append(stack, frame{object: tok == '{', expectKey: tok == '{'})
				continue
			}
			stack = stack[:top]
			if top == 0 {
				return nil // the caller checked that nothing follows
			}
			stack[top-1].expectKey = stack[top-1].object
		case string:
			if f := &stack[top]; f.object && f.expectKey {
				if err := f.addKey(tok); err != nil {
					return fmt.Errorf("%s: %w", position(data, at), err)
				}
				f.expectKey = false
				continue
			}
			stack[top].expectKey = stack[top].object
		default:
			stack[top].expectKey = stack[top].object
		}
	}
}

// addKey records a member name of an object and refuses a repeat.
func (f *frame) addKey(name string) error {
	folded := fold(name)
	if _, dup := f.keys[folded]; dup {
		return fmt.Errorf("member %q appears twice in one object", name)
	}
	if f.keys == nil {
		f.keys = make(map[string]struct{})
	}
	f.keys[folded] = struct{}{}
	return nil
}

// fold maps name to a form equal for all names that encoding/json would
// match to the same field. ToUpper first catches the letters whose lower
// case is not unique (the Kelvin sign K, the long s ſ).
func fold(name string) string {
	for i := range len(name) {
		if name[i] >= utf8.RuneSelf {
			return strings.ToLower(strings.ToUpper(name))
		}
	}
	return strings.ToLower(name) // no allocation when already lower case
}

// skipSpace returns the offset of the first byte at or after offset that is
// neither white space nor a separator, where the next token starts.
func skipSpace(data []byte, offset int64) int64 {
	for offset < int64(len(data)) && strings.IndexByte(" \t\r\n,:", data[offset]) >= 0 {
		offset++
	}
	return offset
}

// syntaxError words a JSON syntax error with its line and column.
func syntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &se) && se.Offset >= int64(len(data)) && strings.Contains(se.Error(), "unexpected end"):
		return fmt.Errorf("truncated: the JSON ends early at %s", position(data, int64(len(data))))
	case se != nil:
		// Offset counts the offending byte.
		return fmt.Errorf("%s: %w", position(data, se.Offset-1), err)
	}
	return err
}

// position renders a byte offset into data as "line L, column C", both
// counted from 1, columns in bytes.
func position(data []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}
