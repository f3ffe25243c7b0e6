package notify

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

func TestParseTargetSMTP(t *testing.T) {
	s, err := ParseTarget("smtp://user:p%40ss@mail.example.com:587?from=bunker@example.com&to=c@example.com,Ops%20Team%20<ops+alerts@example.com>&to=e@example.org&tls=starttls&server-name=mx.example.com&hello=backup1.example.com&timeout=45s")
	if err != nil {
		t.Fatal(err)
	}
	c := s.Email
	if c == nil || s.Webhook != nil {
		t.Fatalf("spec %+v", s)
	}
	want := EmailConfig{Host: "mail.example.com", Port: 587, From: "bunker@example.com", Username: "user", Password: "p@ss",
		TLS: TLSStartTLS, ServerName: "mx.example.com", HelloName: "backup1.example.com", Timeout: 45 * time.Second}
	to := c.To
	c.To = nil
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", *c, want)
	}
	if !slices.Equal(to, []string{"<c@example.com>", `"Ops Team" <ops+alerts@example.com>`, "<e@example.org>"}) {
		t.Errorf("to %q", to)
	}
}

func TestParseTargetDefaults(t *testing.T) {
	for spec, want := range map[string]EmailConfig{
		"smtp://mail.example.com?from=a@example.com&to=b@example.com":        {Host: "mail.example.com", TLS: ""},
		"smtps://mail.example.com?from=a@example.com&to=b@example.com":       {Host: "mail.example.com", TLS: TLSImplicit},
		"SMTPS://mail.example.com:2465/?from=a@example.com&to=b@example.com": {Host: "mail.example.com", Port: 2465, TLS: TLSImplicit},
		"smtp://127.0.0.1:2525?from=a@example.com&to=b@example.com&tls=none": {Host: "127.0.0.1", Port: 2525, TLS: TLSNone},
		"smtp://[::1]?from=a@example.com&to=b@example.com&tls=none":          {Host: "::1", TLS: TLSNone},
	} {
		s, err := ParseTarget(spec)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		if c := s.Email; c.Host != want.Host || c.Port != want.Port || c.TLS != want.TLS {
			t.Errorf("%s: %+v", spec, c)
		}
	}
	// The ports the TLS modes default to.
	for spec, port := range map[string]int{
		"smtp://h.example?from=a@example.com&to=b@example.com":              PortSubmission,
		"smtps://h.example?from=a@example.com&to=b@example.com":             PortSubmissions,
		"smtp://localhost?from=a@example.com&to=b@example.com&tls=none":     PortSMTP,
		"smtp://h.example:2525?from=a@example.com&to=b@example.com&tls=tls": 2525,
	} {
		s, err := ParseTarget(spec)
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewEmail(*s.Email)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(m.Name(), ":"+strconv.Itoa(port)) {
			t.Errorf("%s: %s, want port %d", spec, m.Name(), port)
		}
	}
}

func TestParseTargetWebhook(t *testing.T) {
	url := "https://example.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456?api-version=1&sig=x+y"
	s, err := ParseTarget(url)
	if err != nil {
		t.Fatal(err)
	}
	if s.Webhook == nil || s.Email != nil || s.Webhook.URL != url {
		t.Fatalf("spec %+v", s)
	}
	if _, err := s.Target(nil); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("a webhook without a secret: %v", err)
	}
	tg, err := s.Target(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if name := tg.Name(); strings.Contains(name, "abc") || !strings.HasPrefix(name, "https://example.webhook.office.com/…#") || s.String() != name {
		t.Errorf("name %q, spec %q", name, s)
	}
}

// Every bad spec gets an error naming the problem, and no error repeats
// the password.
func TestParseTargetErrors(t *testing.T) {
	const pw = "Sekr1tPw"
	base := "smtp://u:" + pw + "@mail.example.com"
	for _, tc := range []struct{ spec, want string }{
		{"", "want smtp://"},
		{"mail.example.com", "want smtp://"},
		{"ftp://mail.example.com", `scheme "ftp"`},
		{base, "no sender"},
		{base + "?from=a@example.com", "no recipient"},
		{base + "?to=b@example.com", "no sender"},
		{base + "?from=nobody&to=b@example.com", "sender"},
		{base + "?from=a@example.com&to=not-an-address", "to="},
		{base + "?from=a@example.com&to=b@example.com&tls=ssl", "want starttls, tls or none"},
		{base + "?from=a@example.com&to=b@example.com&tls=none", "loopback"},
		{"smtp://u:" + pw + "@127.0.0.1?from=a@example.com&to=b@example.com&tls=none", "only sent over TLS"},
		{"smtps://u:" + pw + "@mail.example.com?from=a@example.com&to=b@example.com&tls=starttls", "smtps://"},
		{base + "?from=a@example.com&to=b@example.com&color=red", `unknown setting "color"`},
		{base + "?from=a@example.com&from=c@example.com&to=b@example.com", "give from once"},
		{base + "?from=&to=b@example.com", "from has no value"},
		{base + "?from=a@example.com&to=b@example.com&timeout=forever", "timeout="},
		{base + "?from=a@example.com&to=b@example.com&timeout=1h", "timeout="},
		{base + "?from=a%ZZ@example.com&to=b@example.com", "percent-encoding"},
		{"smtp://u:" + pw + "@mail.example.com:99999?from=a@example.com&to=b@example.com", "port"},
		{"smtp://u:" + pw + "@mail.example.com:smtp?from=a@example.com&to=b@example.com", "not an smtp://"},
		{"smtp://u:" + pw + "@mail.example.com/inbox?from=a@example.com&to=b@example.com", "path"},
		{base + "?from=a@example.com&to=b@example.com#x", "fragment"},
		{"smtp://:" + pw + "@mail.example.com?from=a@example.com&to=b@example.com", "without a user name"},
		{"smtp://u@mail.example.com?from=a@example.com&to=b@example.com", "without a password"},
		{base + "?from=a@example.com&to=b@example.com&password-file=/p", "both a password and a password file"},
		{"smtp://u:" + pw + "@mail_example com?from=a@example.com&to=b@example.com", "not an smtp://"},
		{"smtp://?from=a@example.com&to=b@example.com", "not an smtp://"},
		{"http://hooks.example.com/x", "loopback"},
		{"https://u:" + pw + "@hooks.example.com/x", "user information"},
		{"https://hooks.example.com/x#y", "fragment"},
		{"https://" + strings.Repeat("a", 5000), "at most"},
	} {
		_, err := ParseTarget(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.spec, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("%q: error %q shows the password", tc.spec, err)
		}
	}
}

// String hides the password and parses back to the same settings.
func TestTargetSpecString(t *testing.T) {
	spec := "smtp://user:hunter2@mail.example.com:587?from=Bunker%20%3Cb@example.com%3E&to=%22Doe,%20J%22%20%3Cj@example.com%3E&to=ops+x@example.com&ca=/etc/ca%20file.pem&timeout=10s"
	s, err := ParseTarget(spec)
	if err != nil {
		t.Fatal(err)
	}
	str := s.String()
	if strings.Contains(str, "hunter2") || !strings.Contains(str, "user:xxxxx@") {
		t.Errorf("String %q", str)
	}
	again, err := ParseTarget(str)
	if err != nil {
		t.Fatalf("String %q does not parse: %v", str, err)
	}
	a, b := *s.Email, *again.Email
	a.Password, b.Password = "", ""
	if !slices.Equal(a.To, b.To) || a.From != b.From || a.CAFile != b.CAFile || a.Host != b.Host || a.Port != b.Port || a.Timeout != b.Timeout {
		t.Errorf("parsed back\n%+v\nfrom\n%+v", b, a)
	}
	if len(a.To) != 2 || a.To[1] != "<ops+x@example.com>" {
		t.Errorf("to %q: '+' must stay '+'", a.To)
	}
}

// An SMTP target reads its password file and CA file when it is made.
func TestTargetSpecFiles(t *testing.T) {
	s := startSMTP(t, smtpServerOptions{startTLS: true})
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(smtpPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, s.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := ParseTarget("smtp://" + smtpUser + "@127.0.0.1:" + strconv.Itoa(s.port) +
		"?from=a@example.com&to=b@example.com&password-file=" + pwFile + "&ca=" + caFile)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := spec.Target(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Deliver(t.Context(), testEvent()); err != nil {
		t.Fatal(err)
	}
	if len(s.received()) != 1 {
		t.Fatal("no message")
	}
	spec.Email.PasswordFile = filepath.Join(dir, "missing")
	if _, err := spec.Target(nil); err == nil || !strings.Contains(err.Error(), "password file") {
		t.Errorf("a missing password file: %v", err)
	}
	spec.Email.PasswordFile, spec.Email.CAFile = pwFile, pwFile
	if _, err := spec.Target(nil); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a CA file without certificates: %v", err)
	}
}

// FuzzParseTarget: nothing panics; whatever parses is one kind of target
// whose config validates; an SMTP spec's String parses back to the same
// settings and never holds the password.
func FuzzParseTarget(f *testing.F) {
	seeds := [][]byte{
		[]byte("smtp://user:pass@mail.example.com:587?from=a@example.com&to=c@example.com,e@example.com&tls=starttls"),
		[]byte("smtps://mail.example.com?from=Bunker%20<a@example.com>&to=b@example.com&server-name=mx.example.com&ca=/etc/ca.pem"),
		[]byte("smtp://127.0.0.1:2525?from=a@example.com&to=b@example.com&tls=none&hello=h&timeout=5s"),
		[]byte("smtp://u@h.example?from=a@example.com&to=b@example.com&password-file=/run/pw"),
		[]byte("smtp://[::1]:25?from=a@example.com&to=b@example.com&tls=none"),
		[]byte("smtp://u:p@h?from=a@b&to=c@d&tls=none"),
		[]byte("smtp://h?from=a@b&&to=%22x,y%22%20<c@d>&to=e@f"),
		[]byte("smtp://h:0?from=a@b&to=c@d"),
		[]byte("smtp://h/x?from=a@b&to=c@d#f"),
		[]byte("https://hooks.slack.com/services/T0/B0/XXXX"),
		[]byte("https://example.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d?x=1"),
		[]byte("http://127.0.0.1:9/hook"),
		[]byte("http://hooks.example.com/hook"),
		[]byte("https://u:p@h/"),
		[]byte("smtp://"),
		[]byte("smtp:/h"),
		[]byte("://"),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if fuzzseed.Enabled() {
		fuzzseed.Write(f, "FuzzParseTarget", seeds...)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseTarget(string(data))
		if err != nil {
			if s.Email != nil || s.Webhook != nil {
				t.Fatal("a target with an error")
			}
			return
		}
		switch {
		case s.Webhook != nil && s.Email == nil:
			if err := (WebhookConfig{URL: s.Webhook.URL, Secret: testSecret}).Validate(); err != nil {
				t.Fatalf("parsed webhook does not validate: %v", err)
			}
			if _, err := s.Target(testSecret); err != nil {
				t.Fatalf("parsed webhook: %v", err)
			}
		case s.Email != nil && s.Webhook == nil:
			checkEmailSpec(t, s)
		default:
			t.Fatalf("spec %+v", s)
		}
	})
}

// checkEmailSpec asserts the properties of a parsed SMTP spec.
func checkEmailSpec(t *testing.T, s TargetSpec) {
	c := *s.Email
	if err := c.Validate(); err != nil {
		t.Fatalf("parsed SMTP target does not validate: %v", err)
	}
	str := s.String()
	again, err := ParseTarget(str)
	if err != nil {
		t.Fatalf("String %q does not parse: %v", str, err)
	}
	b := *again.Email
	if b.Host != c.Host || b.Port != c.Port || b.From != c.From || !slices.Equal(b.To, c.To) || b.Username != c.Username ||
		b.Password != "" && b.Password != "xxxxx" || (b.Password != "") != (c.Password != "") || b.TLS != c.TLS && !(c.TLS == "" && b.TLS == TLSStartTLS) ||
		b.ServerName != c.ServerName || b.CAFile != c.CAFile || b.PasswordFile != c.PasswordFile || b.HelloName != c.HelloName || b.Timeout != c.Timeout {
		t.Fatalf("String %q parses to\n%+v\nnot\n%+v", str, b, c)
	}
}
