package state

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Version is the file format version that Save writes and Load accepts.
const Version = 1

// MaxFileSize is the most Load reads; a larger file is refused. Even a
// hundred thousand servers take a few tens of megabytes.
const MaxFileSize = 64 << 20

// asideLayout stamps the name a bad file is moved to: path.bad-20260102T150405.
const asideLayout = "20060102T150405"

// file is the saved document.
type file struct {
	Version int     `json:"version"`
	Saved   string  `json:"saved"`
	Servers []Entry `json:"servers"`
}

// fileIn is file as read, so that missing members are told apart from
// zero ones.
type fileIn struct {
	Version *int     `json:"version"`
	Saved   *string  `json:"saved"`
	Servers *[]Entry `json:"servers"`
}

// Save writes entries to path atomically: a reader, or a crash at any
// moment, sees either the old file or the new one, never part of one. It
// writes a temporary file in the same directory with mode 0600, fsyncs it,
// renames it over path and fsyncs the directory. Entries are written sorted
// by backend and server. Save refuses entries that Load would refuse (an
// unknown admin or health value, a weight out of range, a server twice),
// and on any error leaves the old file as it was.
func Save(path string, entries []Entry) error {
	if err := checkAll(entries); err != nil {
		return fmt.Errorf("state: save %s: %w", path, err)
	}
	sorted := slices.Clone(entries)
	if sorted == nil {
		sorted = []Entry{}
	}
	slices.SortFunc(sorted, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Backend, b.Backend), cmp.Compare(a.Server, b.Server))
	})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // reasons may quote "<html>"; keep them readable
	doc := file{Version: Version, Saved: time.Now().UTC().Format(time.RFC3339), Servers: sorted}
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("state: save %s: %w", path, err)
	}
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("state: save %s: %w", path, err)
	}
	return nil
}

// writeAtomic replaces path with data through a synced temporary file.
func writeAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// CreateTemp opens with mode 0600, which a umask can only narrow.
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// LoadError says why Load refused a state file, and where the file went.
type LoadError struct {
	// Path is the file Load was given.
	Path string
	// Err is what is wrong with it.
	Err error
	// Aside is where the file was moved for the operator to inspect;
	// empty when it was not moved (see MoveErr).
	Aside string
	// MoveErr is why the file could not be moved aside; nil when it was
	// moved, or when it was left alone on purpose (not a regular file).
	MoveErr error
}

func (e *LoadError) Error() string {
	msg := fmt.Sprintf("state: load %s: %v", e.Path, e.Err)
	switch {
	case e.Aside != "":
		msg += "; the file was moved aside to " + e.Aside
	case e.MoveErr != nil:
		msg += fmt.Sprintf("; it could not be moved aside: %v", e.MoveErr)
	}
	return msg
}

func (e *LoadError) Unwrap() error { return e.Err }

// Load reads the state saved at path. A missing file is no state: (nil,
// nil). A file that cannot be trusted whole (unreadable, empty, truncated,
// not JSON, an unknown member, a version other than Version, a server
// saved twice, an unknown admin or health value, larger than MaxFileSize)
// is refused with a *LoadError naming the problem, and moved aside to
// path.bad-YYYYMMDDTHHMMSS so that the operator can inspect it and the next
// Save starts afresh. Path itself is left alone if it is not a regular file
// (a directory, a device). Load returns entries in file order.
func Load(path string) ([]Entry, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err == nil && fi.IsDir() {
		return nil, &LoadError{Path: path, Err: errors.New("is a directory, not a regular file; left as it is")}
	}
	if err == nil && !fi.Mode().IsRegular() {
		return nil, &LoadError{Path: path, Err: fmt.Errorf("is not a regular file (mode %v); left as it is", fi.Mode())}
	}
	var entries []Entry
	if err == nil {
		entries, err = readFile(path)
	}
	if err == nil {
		return entries, nil
	}
	le := &LoadError{Path: path, Err: err}
	le.Aside, le.MoveErr = moveAside(path)
	return nil, le
}

// readFile reads and checks the file at path.
func readFile(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d MiB, the most Load reads", MaxFileSize>>20)
	}
	return parse(data)
}

// parse decodes and checks a state document.
func parse(data []byte) ([]Entry, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file")
	}
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, syntaxError(data, err)
	}
	if err := scan(data); err != nil {
		return nil, err
	}
	var doc fileIn
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s: %s: got JSON %s, want %s", position(data, te.Offset), te.Field, te.Value, te.Type)
		}
		return nil, err
	}
	switch {
	case doc.Version == nil:
		return nil, errors.New("version: missing")
	case *doc.Version != Version:
		return nil, fmt.Errorf("version: %d is not supported, only %d", *doc.Version, Version)
	case doc.Saved == nil:
		return nil, errors.New("saved: missing")
	case doc.Servers == nil:
		return nil, errors.New("servers: missing")
	}
	if _, err := time.Parse(time.RFC3339, *doc.Saved); err != nil {
		return nil, fmt.Errorf("saved: %q is not an RFC 3339 time", *doc.Saved)
	}
	if err := checkAll(*doc.Servers); err != nil {
		return nil, err
	}
	if len(*doc.Servers) == 0 {
		return nil, nil
	}
	return *doc.Servers, nil
}

// moveAside renames the bad file at path to a name that says when it was
// found bad, without replacing an earlier one.
func moveAside(path string) (string, error) {
	stamp := path + ".bad-" + time.Now().Format(asideLayout)
	aside := stamp
	for i := 1; ; i++ {
		_, err := os.Lstat(aside)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil { // not "exists": say why the name cannot be used
			return "", err
		}
		if i > 100 {
			return "", fmt.Errorf("%s and 100 more like it exist", stamp)
		}
		aside = fmt.Sprintf("%s-%d", stamp, i)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	return aside, nil
}
