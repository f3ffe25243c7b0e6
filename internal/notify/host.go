package notify

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// isLoopback reports whether host, a name or an IP address, is this
// machine: "localhost" or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkHost accepts an IP address or a host name of letters, digits, '.',
// '-' and '_'.
func checkHost(host string) error {
	if host == "" {
		return errors.New("no host")
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if len(host) > 253 {
		return fmt.Errorf("host name of %d characters: at most 253", len(host))
	}
	for i := range len(host) {
		c := host[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '-' && c != '_' {
			return fmt.Errorf("host %q: character %q is not allowed in a host name", clip(clean(host), 60), c)
		}
	}
	return nil
}
