package sqlstore

// schemaVersion is the version of the schema below. Opening a database with
// a newer version is refused; an older one is migrated.
const schemaVersion = 1

// sqliteSchema creates every table. Times are Unix nanoseconds (UTC) in
// integers, lists and records JSON in text.
var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
	`CREATE TABLE principals (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		name TEXT NOT NULL UNIQUE,
		kind TEXT NOT NULL,
		password_hash TEXT NOT NULL DEFAULT '',
		totp_sealed BLOB,
		totp_last_step INTEGER NOT NULL DEFAULT 0,
		disabled INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL,
		created_by TEXT NOT NULL)`,
	`CREATE TABLE tokens (
		id TEXT PRIMARY KEY,
		principal_id INTEGER NOT NULL REFERENCES principals(id),
		hash BLOB NOT NULL,
		kind TEXT NOT NULL,
		label TEXT NOT NULL DEFAULT '',
		vaults TEXT NOT NULL DEFAULT '[]',
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		revoked_at INTEGER NOT NULL DEFAULT 0,
		last_used INTEGER NOT NULL DEFAULT 0)`,
	`CREATE TABLE bindings (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		principal_id INTEGER NOT NULL REFERENCES principals(id),
		role TEXT NOT NULL,
		vault TEXT NOT NULL,
		bypass_governance INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL,
		created_by TEXT NOT NULL,
		UNIQUE (principal_id, role, vault))`,
	`CREATE TABLE vaults (
		name TEXT PRIMARY KEY,
		storage_id TEXT NOT NULL,
		backend TEXT NOT NULL,
		location TEXT NOT NULL,
		policy TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		created_by TEXT NOT NULL)`,
	`CREATE TABLE points (
		vault TEXT NOT NULL REFERENCES vaults(name),
		id TEXT NOT NULL,
		time INTEGER NOT NULL,
		hostname TEXT NOT NULL,
		username TEXT NOT NULL DEFAULT '',
		paths TEXT NOT NULL,
		tags TEXT NOT NULL,
		tree TEXT NOT NULL,
		parent TEXT NOT NULL DEFAULT '',
		summary TEXT NOT NULL DEFAULT 'null',
		client_time INTEGER NOT NULL DEFAULT 0,
		created_by TEXT NOT NULL,
		expires INTEGER NOT NULL DEFAULT 0,
		state TEXT NOT NULL,
		binned_at INTEGER NOT NULL DEFAULT 0,
		purge_after INTEGER NOT NULL DEFAULT 0,
		binned_by TEXT NOT NULL DEFAULT '',
		bin_reason TEXT NOT NULL DEFAULT '',
		key_id TEXT NOT NULL,
		signature BLOB NOT NULL,
		PRIMARY KEY (vault, id))`,
	`CREATE INDEX points_by_time ON points (vault, time)`,
	`CREATE TABLE holds (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		vault TEXT NOT NULL REFERENCES vaults(name),
		point TEXT NOT NULL DEFAULT '',
		tag TEXT NOT NULL DEFAULT '',
		range_from INTEGER NOT NULL DEFAULT 0,
		range_to INTEGER NOT NULL DEFAULT 0,
		reason TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		created_by TEXT NOT NULL,
		released_at INTEGER NOT NULL DEFAULT 0,
		released_by TEXT NOT NULL DEFAULT '')`,
	`CREATE TABLE jobs (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		kind TEXT NOT NULL,
		vault TEXT NOT NULL DEFAULT '',
		state TEXT NOT NULL,
		started INTEGER NOT NULL,
		finished INTEGER NOT NULL DEFAULT 0,
		by TEXT NOT NULL,
		detail TEXT NOT NULL DEFAULT '{}',
		error TEXT NOT NULL DEFAULT '')`,
	`CREATE TABLE audit (
		seq INTEGER PRIMARY KEY,
		time INTEGER NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		outcome TEXT NOT NULL,
		remote TEXT NOT NULL,
		detail TEXT NOT NULL,
		prev TEXT NOT NULL,
		hash TEXT NOT NULL)`,
	`CREATE TABLE audit_checkpoints (
		seq INTEGER PRIMARY KEY,
		hash TEXT NOT NULL,
		time INTEGER NOT NULL,
		key_id TEXT NOT NULL,
		signature BLOB NOT NULL)`,
	`CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
	`CREATE TABLE object_retention (
		vault TEXT NOT NULL,
		object TEXT NOT NULL,
		until INTEGER NOT NULL,
		mode TEXT NOT NULL,
		held INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (vault, object))`,
	// The audit log is append-only even to code that reaches the database
	// directly; tampering at the file level is what the hash chain and the
	// signed checkpoints detect.
	`CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END`,
	`CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END`,
	`CREATE TRIGGER checkpoint_no_update BEFORE UPDATE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END`,
	`CREATE TRIGGER checkpoint_no_delete BEFORE DELETE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END`,
	// Statements from here on are added to older databases when they open.
	`CREATE TABLE pack_verifications (
		vault TEXT NOT NULL,
		pack TEXT NOT NULL,
		verified_at INTEGER NOT NULL,
		ok INTEGER NOT NULL,
		PRIMARY KEY (vault, pack))`,
	`CREATE TABLE point_verifications (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		vault TEXT NOT NULL,
		point TEXT NOT NULL,
		job INTEGER NOT NULL DEFAULT 0,
		verified_at INTEGER NOT NULL,
		ok INTEGER NOT NULL,
		signature_ok INTEGER NOT NULL,
		problems TEXT NOT NULL DEFAULT '[]',
		packs_read INTEGER NOT NULL DEFAULT 0,
		bytes_read INTEGER NOT NULL DEFAULT 0)`,
	`CREATE INDEX point_verifications_by_point ON point_verifications (vault, point, id)`,
}

// v1Statements is how many statements of sqliteSchema a database of
// schema version 1 was created with, before the applied count was kept.
const v1Statements = 17
