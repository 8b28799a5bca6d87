package file

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxLinks bounds the symbolic links followed for one path, as the kernel
// does (ELOOP after 40), so that a link cycle ends the walk.
const maxLinks = 40

// errLinkLoop is returned for a path whose links do not end.
var errLinkLoop = errors.New("too many levels of symbolic links")

// chain is what a path leads to when it is opened: every symbolic link met
// on the way, in order, and the path the walk ended on. Each entry is an
// absolute path whose directories are real (no links), so it is spelled as
// the events of a watch on its directory spell it.
type chain struct {
	// links are the symbolic links followed, the config path itself first
	// when it is a link. A change to any of them may change what is read.
	links []string
	// end is the file the path leads to when exists is true; otherwise the
	// first component that is missing, whose creation may bring the file
	// back.
	end string
	// exists reports whether end exists.
	exists bool
}

// paths returns every name whose change may change what the path reads.
func (c chain) paths() []string {
	return append(c.links[:len(c.links):len(c.links)], c.end)
}

// resolve walks an absolute, clean path component by component the way
// opening it would, and records the links it follows. It differs from
// filepath.EvalSymlinks in that it keeps the links and stops, without error,
// at the first missing component: a file between remove and create is
// normal while editors save.
func resolve(path string) (chain, error) {
	var c chain
	root, rest := splitRoot(path)
	cur := root
	for len(rest) > 0 {
		next := filepath.Join(cur, rest[0])
		rest = rest[1:]
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			c.end = next
			return c, nil
		}
		if err != nil {
			return c, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if len(c.links) == maxLinks {
			return c, &fs.PathError{Op: "resolve", Path: path, Err: errLinkLoop}
		}
		c.links = append(c.links, next)
		target, err := os.Readlink(next)
		if err != nil {
			return c, err
		}
		if !filepath.IsAbs(target) {
			// cur has no links, so ".." in target may be applied lexically.
			target = filepath.Join(cur, target)
		}
		var more []string
		cur, more = splitRoot(filepath.Clean(target))
		rest = append(more, rest...)
	}
	c.end, c.exists = cur, true
	return c, nil
}

// splitRoot splits an absolute, clean path into its root ("/" or a volume
// with its separator) and its components.
func splitRoot(path string) (root string, parts []string) {
	vol := filepath.VolumeName(path)
	root = vol + string(filepath.Separator)
	for _, p := range strings.Split(path[len(vol):], string(filepath.Separator)) {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return root, parts
}
