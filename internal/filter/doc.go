// Package filter decides what a backup leaves out: paths matched by
// gitignore-style exclude patterns, cache directories tagged with
// CACHEDIR.TAG, and, with --one-file-system, everything below a mount point.
package filter
