package notify

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of a target spec.
const (
	maxSpecLen      = 4096
	maxEmailTimeout = 10 * time.Minute
)

// emailKeys are the settings of an smtp:// spec.
var emailKeys = []string{"from", "to", "tls", "server-name", "ca", "password-file", "hello", "timeout"}

// TargetSpec is a notification target as ParseTarget read it: exactly one
// of Email and Webhook is set.
type TargetSpec struct {
	Email   *EmailConfig
	Webhook *WebhookConfig
}

// ParseTarget reads a target as the command line gives it. It reads no
// file and opens no connection.
//
// Mail goes to an SMTP server:
//
//	smtp://[USER[:PASSWORD]@]HOST[:PORT]?from=ADDR&to=ADDR[,ADDR…][&SETTING=VALUE…]
//	smtps://…  (the same, with tls=tls)
//
// where from is the sender and to the recipients (to may be repeated), and
// the further settings are tls (starttls, the default; tls; or none, for a
// loopback host only), server-name (the name the certificate must carry),
// ca (a PEM file of CAs to trust instead of the system's), password-file
// (instead of a password in the URL), hello (the EHLO name) and timeout (a
// Go duration such as 45s). The port defaults to 587 with starttls, 465
// with tls, 25 with none. Values are percent-decoded; '+' stays '+'.
//
// A webhook is its URL, https:// (or http:// to a loopback host), taken
// whole: its query belongs to the receiver. Its secret is given apart,
// to TargetSpec.Target.
func ParseTarget(spec string) (TargetSpec, error) {
	spec = strings.TrimSpace(spec)
	if len(spec) > maxSpecLen {
		return TargetSpec{}, fmt.Errorf("notification target of %d bytes: at most %d", len(spec), maxSpecLen)
	}
	scheme, _, ok := strings.Cut(spec, "://")
	switch strings.ToLower(scheme) {
	case "smtp", "smtps":
		c, err := parseEmailSpec(spec)
		if err != nil {
			return TargetSpec{}, err
		}
		return TargetSpec{Email: c}, nil
	case "https", "http":
		if _, err := parseWebhookURL(spec); err != nil {
			return TargetSpec{}, fmt.Errorf("notification target: %w", err)
		}
		return TargetSpec{Webhook: &WebhookConfig{URL: spec}}, nil
	}
	if !ok {
		return TargetSpec{}, errors.New("notification target: want smtp://…, smtps://… or https://…")
	}
	return TargetSpec{}, fmt.Errorf("notification target: scheme %q: want smtp, smtps or https", clip(clean(scheme), 20))
}

// parseEmailSpec reads an smtp:// or smtps:// spec. Its errors never
// repeat the spec, which may hold a password.
func parseEmailSpec(spec string) (*EmailConfig, error) {
	u, err := url.Parse(spec)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return nil, errors.New("notification target: not an smtp://host:port?from=…&to=… URL (percent-encode '@', ':', '/', '?' and '#' in the user name and password)")
	}
	c := &EmailConfig{Host: u.Hostname()}
	name := "smtp://" + clip(clean(u.Host), 120)
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("notification target %s: a path %q, but an SMTP server has none", name, clip(clean(u.Path), 60))
	}
	if u.Fragment != "" || strings.Contains(spec, "#") {
		return nil, fmt.Errorf("notification target %s: a fragment (#…); percent-encode '#' as %%23", name)
	}
	if p := u.Port(); p != "" {
		if c.Port, err = strconv.Atoi(p); err != nil || c.Port < 1 || c.Port > 65535 {
			return nil, fmt.Errorf("notification target %s: port %q is not 1 to 65535", name, clip(p, 10))
		}
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if strings.EqualFold(u.Scheme, "smtps") {
		c.TLS = TLSImplicit
	}
	if err := setEmailQuery(c, u.RawQuery, strings.EqualFold(u.Scheme, "smtps")); err != nil {
		return nil, fmt.Errorf("notification target %s: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("notification target %s: %w", name, err)
	}
	return c, nil
}

// setEmailQuery applies the settings of an smtp:// spec's query.
func setEmailQuery(c *EmailConfig, rawQuery string, smtps bool) error {
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		key, err1 := url.PathUnescape(k)
		val, err2 := url.PathUnescape(v)
		switch {
		case err1 != nil || err2 != nil:
			return fmt.Errorf("setting %q: bad percent-encoding", clip(clean(k), 30))
		case !slices.Contains(emailKeys, key):
			return fmt.Errorf("unknown setting %q (%s)", clip(clean(key), 30), strings.Join(emailKeys, ", "))
		case !ok || val == "":
			return fmt.Errorf("setting %s has no value", key)
		case seen[key] && key != "to":
			return fmt.Errorf("give %s once", key)
		}
		seen[key] = true
		if err := setEmail(c, key, val, smtps); err != nil {
			return err
		}
	}
	return nil
}

// setEmail applies one setting.
func setEmail(c *EmailConfig, key, val string, smtps bool) error {
	switch key {
	case "from":
		c.From = val
	case "to":
		list, err := mail.ParseAddressList(val)
		if err != nil {
			return fmt.Errorf("to=%q: %w", clip(clean(val), 80), err)
		}
		for _, a := range list {
			c.To = append(c.To, a.String())
		}
	case "tls":
		mode := TLSMode(strings.ToLower(val))
		if smtps && mode != TLSImplicit {
			return fmt.Errorf("tls=%s with smtps://, which is tls=tls; use smtp:// for %s", clip(clean(val), 20), clip(clean(val), 20))
		}
		c.TLS = mode
	case "server-name":
		c.ServerName = val
	case "ca":
		c.CAFile = val
	case "password-file":
		c.PasswordFile = val
	case "hello":
		c.HelloName = val
	case "timeout":
		d, err := time.ParseDuration(val)
		if err != nil || d <= 0 || d > maxEmailTimeout {
			return fmt.Errorf("timeout=%q: want a duration such as 30s, at most %v", clip(clean(val), 20), maxEmailTimeout)
		}
		c.Timeout = d
	}
	return nil
}

// Target makes the target. webhookSecret signs a webhook's requests and is
// not used by an SMTP target; an SMTP target reads its password and CA
// files now.
func (s TargetSpec) Target(webhookSecret []byte) (Target, error) {
	switch {
	case s.Email != nil && s.Webhook == nil:
		return NewEmail(*s.Email)
	case s.Webhook != nil && s.Email == nil:
		c := *s.Webhook
		c.Secret = webhookSecret
		return NewWebhook(c)
	}
	return nil, errors.New("notification target: want exactly one of email and webhook")
}

// String renders s with no secret: an SMTP password shows as "xxxxx" (the
// result parses back to the same settings), a webhook as its Name.
func (s TargetSpec) String() string {
	switch {
	case s.Email != nil:
		return emailString(s.Email)
	case s.Webhook != nil:
		return redactURL(s.Webhook.URL)
	}
	return "(no target)"
}

// emailString renders an SMTP target as a spec, the password hidden.
func emailString(c *EmailConfig) string {
	u := url.URL{Scheme: "smtp", Host: c.Host}
	if c.Port != 0 {
		u.Host = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	} else if strings.Contains(c.Host, ":") {
		u.Host = "[" + c.Host + "]"
	}
	switch {
	case c.Username != "" && c.Password != "":
		u.User = url.UserPassword(c.Username, "xxxxx")
	case c.Username != "":
		u.User = url.User(c.Username)
	}
	var q []string
	add := func(k, v string) {
		if v != "" {
			q = append(q, k+"="+strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		}
	}
	add("from", c.From)
	for _, t := range c.To {
		add("to", t)
	}
	add("tls", string(c.TLS))
	add("server-name", c.ServerName)
	add("ca", c.CAFile)
	add("password-file", c.PasswordFile)
	add("hello", c.HelloName)
	if c.Timeout > 0 {
		add("timeout", c.Timeout.String())
	}
	u.RawQuery = strings.Join(q, "&")
	return u.String()
}
