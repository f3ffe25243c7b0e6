package local

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/bunkerhq/bunker/internal/storage"
)

// retentionXattr is the extended attribute of an object file that holds its
// retention record. The trusted namespace is readable and writable only with
// CAP_SYS_ADMIN, so no other user can read, forge or remove it.
const retentionXattr = "trusted.bunker.retention"

// Layout of an encoded retention record (version 1), 16 bytes:
//
//	[0]     version, 1
//	[1]     mode: 0 none, 1 governance, 2 compliance
//	[2]     flags: bit 0 legal hold; the other bits are zero
//	[3]     reserved, zero
//	[4:12]  retain-until, Unix seconds, big-endian signed
//	[12:16] retain-until's nanoseconds, big-endian, below 1e9
//
// retain-until is zero (seconds and nanoseconds) exactly when the mode is
// none.
const (
	recordVersion = 1
	recordLen     = 16

	recordModeNone       = 0
	recordModeGovernance = 1
	recordModeCompliance = 2

	recordFlagLegalHold = 1
)

// maxRetainUnix is the latest retain-until a record holds, in Unix seconds:
// the end of the year 9999, far enough for any retention and small enough
// that time arithmetic on it cannot overflow. Records hold no date before
// the Unix epoch.
const maxRetainUnix = 253402300799

// errBadRecord reports a retention record that does not decode. A backend
// treats an object holding one as retained: it cannot prove otherwise.
var errBadRecord = errors.New("malformed retention record")

// record is an object's retention as the backend stores it.
type record struct {
	mode  storage.RetentionMode
	until time.Time // zero when mode is none
	hold  bool
}

// empty reports whether r protects nothing, now or later.
func (r record) empty() bool { return r.mode == storage.RetentionNone && !r.hold }

// blocks reports why r forbids deleting its object at now: a legal hold,
// or a retention that has not passed. bypass lets governance retention be
// overridden. It returns "" when the object may go.
func (r record) blocks(now time.Time, bypass bool) string {
	switch {
	case r.hold:
		return "under legal hold"
	case r.mode == storage.RetentionNone || !now.Before(r.until):
		return ""
	case bypass && r.mode == storage.RetentionGovernance:
		return ""
	}
	return fmt.Sprintf("under %s retention until %s", r.mode, r.until.UTC().Format(time.RFC3339Nano))
}

// public returns r as the storage package describes retention.
func (r record) public() storage.Retention {
	return storage.Retention{Mode: r.mode, Until: r.until, LegalHold: r.hold}
}

// checkRetention validates a mode and retain-until pair as Put takes them:
// both set, a known mode, a representable date.
func checkRetention(mode storage.RetentionMode, until time.Time) error {
	if _, err := modeCode(mode); err != nil {
		return err
	}
	if mode == storage.RetentionNone || until.IsZero() {
		return errors.New("retention needs both a mode and a retain-until date")
	}
	if until.Unix() < 0 || until.Unix() > maxRetainUnix {
		return fmt.Errorf("retain-until %s is outside 1970 to 9999", until.Format(time.RFC3339))
	}
	return nil
}

func modeCode(m storage.RetentionMode) (byte, error) {
	switch m {
	case storage.RetentionNone:
		return recordModeNone, nil
	case storage.RetentionGovernance:
		return recordModeGovernance, nil
	case storage.RetentionCompliance:
		return recordModeCompliance, nil
	}
	return 0, fmt.Errorf("unknown retention mode %q", m)
}

// encodeRecord returns the stored form of r. r must be valid: a known mode,
// an until set exactly when the mode is, within the years 1970 to 9999.
func encodeRecord(r record) ([]byte, error) {
	code, err := modeCode(r.mode)
	if err != nil {
		return nil, err
	}
	if (r.mode == storage.RetentionNone) != r.until.IsZero() {
		return nil, errors.New("encode retention record: a retain-until date goes with a mode, and only with one")
	}
	if !r.until.IsZero() && (r.until.Unix() < 0 || r.until.Unix() > maxRetainUnix) {
		return nil, fmt.Errorf("encode retention record: retain-until %s is outside 1970 to 9999", r.until.Format(time.RFC3339))
	}
	buf := make([]byte, recordLen)
	buf[0] = recordVersion
	buf[1] = code
	if r.hold {
		buf[2] = recordFlagLegalHold
	}
	if !r.until.IsZero() {
		binary.BigEndian.PutUint64(buf[4:12], uint64(r.until.Unix()))
		binary.BigEndian.PutUint32(buf[12:16], uint32(r.until.Nanosecond()))
	}
	return buf, nil
}

// decodeRecord parses a stored record. Anything but the exact canonical
// encoding of a valid record is refused with an error wrapping errBadRecord.
func decodeRecord(b []byte) (record, error) {
	if len(b) < 1 {
		return record{}, fmt.Errorf("%w: empty", errBadRecord)
	}
	if b[0] != recordVersion {
		return record{}, fmt.Errorf("%w: unknown version %d", errBadRecord, b[0])
	}
	if len(b) != recordLen {
		return record{}, fmt.Errorf("%w: %d bytes, want %d", errBadRecord, len(b), recordLen)
	}
	var r record
	switch b[1] {
	case recordModeNone:
		r.mode = storage.RetentionNone
	case recordModeGovernance:
		r.mode = storage.RetentionGovernance
	case recordModeCompliance:
		r.mode = storage.RetentionCompliance
	default:
		return record{}, fmt.Errorf("%w: unknown mode %d", errBadRecord, b[1])
	}
	if b[2]&^recordFlagLegalHold != 0 {
		return record{}, fmt.Errorf("%w: unknown flags %#x", errBadRecord, b[2])
	}
	r.hold = b[2]&recordFlagLegalHold != 0
	if b[3] != 0 {
		return record{}, fmt.Errorf("%w: reserved byte %#x", errBadRecord, b[3])
	}
	sec := int64(binary.BigEndian.Uint64(b[4:12]))
	nsec := binary.BigEndian.Uint32(b[12:16])
	if nsec >= 1e9 {
		return record{}, fmt.Errorf("%w: %d nanoseconds", errBadRecord, nsec)
	}
	noDate := sec == 0 && nsec == 0
	if (r.mode == storage.RetentionNone) != noDate {
		return record{}, fmt.Errorf("%w: mode %d with retain-until %d.%09d", errBadRecord, b[1], sec, nsec)
	}
	if noDate {
		return r, nil
	}
	if sec < 0 || sec > maxRetainUnix {
		return record{}, fmt.Errorf("%w: retain-until %d out of range", errBadRecord, sec)
	}
	r.until = time.Unix(sec, int64(nsec)).UTC()
	return r, nil
}
