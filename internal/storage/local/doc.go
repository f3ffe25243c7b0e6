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
//
// # Retention
//
// A backend opened WithRetention implements storage.Retainer with the
// filesystem's immutable attribute (FS_IMMUTABLE_FL, as chattr +i sets).
// An object's retention (mode, retain-until, legal hold) is recorded in the
// extended attribute trusted.bunker.retention of its file, a 16-byte
// versioned value described in docs/FORMAT.md. Only a process with
// CAP_SYS_ADMIN can read or write the trusted namespace, and only one with
// CAP_LINUX_IMMUTABLE can clear the attribute, so in practice retention
// needs the server to run as root; RetentionSupported checks both
// capabilities and tries the attribute on a file in tmp/.
//
// A retained Put writes the record on the temporary before the no-replace
// rename and sets the attribute on the file after it, before the directory
// fsync. A crash therefore leaves no object, or an object whose retention
// is recorded; an object visible without its record cannot exist. Between
// the rename and the attribute, and while Extend or SetLegalHold rewrite a
// record, a seal marker in tmp/ (made durable first, flocked while the
// operation runs) names the object, and the next Open WithRetention, or
// CleanTemp, sets the attribute again on objects whose markers a crash
// left. Retention changes and deletions hold an flock on the object file,
// so they never work from a record another process is rewriting.
//
// Delete refuses, with storage.ErrRetained, an object whose retention has
// not passed by the backend's clock (WithClock, the wall clock by default),
// one under a legal hold, one whose record does not decode, and one that
// carries the attribute without a record this process can read; otherwise
// it lifts the attribute and removes the file. Enforcement does not depend
// on WithRetention: a hardened vault opened without it still refuses to
// delete retained objects, it only refuses to add or change retention.
// Objects put without retention carry neither record nor attribute.
package local
