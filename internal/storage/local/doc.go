// Package local stores a vault in a directory of the local filesystem.
//
// # Layout
//
//	<dir>/config               the vault config (kind config, name "config")
//	<dir>/keys/<name>          key slots
//	<dir>/packs/<xx>/<name>    packs, fanned out by the first two hex digits xx
//	<dir>/index/<name>         index objects
//	<dir>/points/<name>        recovery-point records
//	<dir>/tmp/                 temporaries of Puts in progress
//	<dir>/lock                 the file that Lock locks with flock(2)
//
// Every name except "config" is 64 lowercase hex digits; any other name is
// refused with storage.ErrInvalidName before the filesystem is touched, so no
// name can reach outside its directory. The 256 pack subdirectories are made
// on demand by the first Put that needs one (and fsynced into packs/ before
// the object is moved in).
//
// # Durability
//
// Put writes the object to a fresh file in tmp/, fsyncs it, makes it
// read-only (mode 0400), and moves it to its final name with
// renameat2(RENAME_NOREPLACE); on filesystems without that flag it links the
// file into place and unlinks the temporary instead. Either way the kernel
// refuses to replace an existing name, so an object, once stored, is never
// overwritten, even by concurrent writers. The destination directory is then
// fsynced, so when Put returns nil the object survives a crash or power loss.
// A crash at any instant leaves either the complete object under its final
// name or nothing there; at worst a temporary stays behind in tmp/, which
// CleanTemp removes. Delete fsyncs the directory it removed the name from.
//
// Get and Stat refuse anything at an object's path that is not a regular file
// (a symbolic link, a FIFO, a directory), and List skips such entries, as it
// skips files whose names are not valid object names.
package local
