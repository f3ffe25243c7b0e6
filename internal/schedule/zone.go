package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	// The zone database is built in, so that a static binary finds every
	// zone on hosts without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// ErrZone reports a time zone that cannot be used.
var ErrZone = errors.New("invalid time zone")

// LoadZone returns the IANA time zone name, e.g. "Europe/Berlin"; the empty
// name is UTC. "Local" is refused: a plan must not depend on the time zone
// of the host that happens to run it.
func LoadZone(name string) (*time.Location, error) {
	switch {
	case name == "" || name == "UTC":
		return time.UTC, nil
	case name == "Local":
		return nil, fmt.Errorf("%w: name a zone such as Europe/Berlin or UTC, not Local", ErrZone)
	case len(name) > 64 || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }):
		return nil, fmt.Errorf("%w %q", ErrZone, clip(name))
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q: not in the zone database", ErrZone, clip(name))
	}
	return loc, nil
}
