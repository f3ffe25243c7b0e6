// Package fsmeta captures and applies the POSIX metadata of filesystem
// objects on Linux: type, permission bits, ownership, times with
// nanoseconds, device numbers, symlink targets and extended attributes.
//
// Capture reads metadata without following symbolic links. The restore
// functions (CreateSpecial, CreateSymlink and Apply) work only through an
// *os.Root and never follow a symbolic link in the final path element, so
// that nothing outside the restore target is created or modified, whatever
// the recovery point contains.
package fsmeta
