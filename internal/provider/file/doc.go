// Package file watches Portier's configuration file and tells the caller when
// its content may have changed, for the opt-in `watch: true` reload trigger.
//
// It watches directories, not the file: editors and deploy tools replace a
// file by writing a temporary one and renaming it over (vim, sed -i, atomic
// writers), and Kubernetes swaps a ConfigMap by renaming a symbolic link
// (config.yaml -> ..data/config.yaml, ..data -> ..2026_01_01_x). A watch on
// the file itself would follow the old inode and go quiet. Instead the
// package resolves the path's chain of symbolic links after every burst of
// events, watches the directory of each link and of the file, and reacts to
// events on those names only. A burst is debounced into one check, and the
// caller is told only when the bytes differ from the last ones read, so a
// touch, a chmod or a rewrite with the same content makes no reload.
//
// The package parses nothing: the caller loads and validates the file. It
// imports nothing of Portier (providers may import only internal/config).
package file
