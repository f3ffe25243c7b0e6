package notify

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

// testEvent is an approval request with non-ASCII text and details.
func testEvent() Event {
	return Event{
		ID: "ev-1", Kind: KindApprovalRequested, Time: t0, Vault: "prod",
		Subject: "Löschen: delete point 3fa9", Actor: "ann", RequestID: "req-7",
		Detail: map[string]any{"operation": "point.delete", "points": []any{"3fa9"}},
	}
}

// emailConfig is a target for the test server s.
func emailConfig(s *smtpServer, mode TLSMode) EmailConfig {
	return EmailConfig{
		Host: s.host, Port: s.port,
		From:     "Bunker <bunker@example.com>",
		To:       []string{"ops+alerts@example.com", "Sécurité <sec@example.org>"},
		Username: smtpUser, Password: smtpPass,
		TLS: mode, RootCAs: s.pool, HelloName: "bunker.test",
		Timeout: 10 * time.Second, Now: fixedNow,
	}
}

func newEmail(t *testing.T, c EmailConfig) *Email {
	t.Helper()
	m, err := NewEmail(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// onlyMessage returns the one message s received, parsed.
func onlyMessage(t *testing.T, s *smtpServer) (received, *mail.Message) {
	t.Helper()
	got := s.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got[0].data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, got[0].data)
	}
	return got[0], msg
}

// checkMessage asserts the envelope, headers and body of the message sent
// for e with emailConfig.
func checkMessage(t *testing.T, r received, msg *mail.Message, e Event) {
	t.Helper()
	if r.from != "bunker@example.com" || !slices.Equal(r.to, []string{"ops+alerts@example.com", "sec@example.org"}) {
		t.Errorf("envelope from %q to %q", r.from, r.to)
	}
	if !r.tls || r.authUser != smtpUser {
		t.Errorf("message received with TLS %v, authenticated as %q", r.tls, r.authUser)
	}
	h := msg.Header
	if d, err := mail.ParseDate(h.Get("Date")); err != nil || !d.Equal(t0) {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Bunker" || from[0].Address != "bunker@example.com" {
		t.Errorf("From %q: %v", h.Get("From"), err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "ops+alerts@example.com" || to[1].Name != "Sécurité" || to[1].Address != "sec@example.org" {
		t.Errorf("To %q: %v", h.Get("To"), err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != e.Line() {
		t.Errorf("Subject %q decodes to %q (%v), want %q", h.Get("Subject"), subject, err, e.Line())
	}
	if !regexp.MustCompile(`^<[0-9a-f]{32}\.bunker@example\.com>$`).MatchString(h.Get("Message-ID")) {
		t.Errorf("Message-ID %q", h.Get("Message-ID"))
	}
	for k, want := range map[string]string{
		"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable", "Auto-Submitted": "auto-generated",
		HeaderEvent: e.Kind, HeaderEventID: e.ID,
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); strings.TrimRight(got, "\n") != strings.TrimRight(e.Text(), "\n") {
		t.Errorf("body:\n%s\nwant:\n%s", got, e.Text())
	}
	checkRawHeaders(t, r.data)
}

// checkRawHeaders asserts that every line of the header section is at most
// 998 characters, ends in CRLF, and is a field or a folded continuation.
func checkRawHeaders(t *testing.T, data []byte) {
	t.Helper()
	head, _, ok := bytes.Cut(data, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("no blank line after the headers")
	}
	field := regexp.MustCompile(`^[!-9;-~]+: |^[ \t]\S`)
	for line := range strings.SplitSeq(string(head), "\r\n") {
		if len(line) > 998 || strings.ContainsAny(line, "\r\n") || !field.MatchString(line) {
			t.Errorf("bad header line %q", line)
		}
	}
}

func TestEmailSTARTTLS(t *testing.T) {
	s := startSMTP(t, smtpServerOptions{startTLS: true})
	m := newEmail(t, emailConfig(s, TLSStartTLS))
	e := testEvent()
	if err := m.Deliver(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	r, msg := onlyMessage(t, s)
	checkMessage(t, r, msg, e)
}

func TestEmailImplicitTLS(t *testing.T) {
	s := startSMTP(t, smtpServerOptions{implicitTLS: true})
	m := newEmail(t, emailConfig(s, TLSImplicit))
	e := testEvent()
	if err := m.Deliver(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	r, msg := onlyMessage(t, s)
	checkMessage(t, r, msg, e)
}

// A server that does not offer STARTTLS gets neither the password nor the
// message, even though it would take both in plain text.
func TestEmailRefusesWithoutSTARTTLS(t *testing.T) {
	s := startSMTP(t, smtpServerOptions{plainAuth: true})
	m := newEmail(t, emailConfig(s, TLSStartTLS))
	err := m.Deliver(context.Background(), testEvent())
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("Deliver: %v, want a permanent refusal naming STARTTLS", err)
	}
	if auths, mails := s.counts(); auths != 0 || mails != 0 || len(s.received()) != 0 {
		t.Errorf("server saw %d AUTH, %d MAIL, %d messages", auths, mails, len(s.received()))
	}
}

func TestEmailWrongPassword(t *testing.T) {
	s := startSMTP(t, smtpServerOptions{startTLS: true})
	c := emailConfig(s, TLSStartTLS)
	c.Password = "wrong"
	err := newEmail(t, c).Deliver(context.Background(), testEvent())
	if err == nil || !IsPermanent(err) {
		t.Fatalf("Deliver: %v, want a permanent failure", err)
	}
	for _, want := range []string{"AUTH PLAIN", `"bunker"`, "535"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q shows the password", err)
	}
	if auths, mails := s.counts(); auths != 1 || mails != 0 {
		t.Errorf("server saw %d AUTH and %d MAIL, want 1 and 0", auths, mails)
	}
}

// A certificate nobody vouches for is a permanent failure, before the
// password is sent.
func TestEmailUntrustedCertificate(t *testing.T) {
	for _, mode := range []TLSMode{TLSStartTLS, TLSImplicit} {
		s := startSMTP(t, smtpServerOptions{startTLS: mode == TLSStartTLS, implicitTLS: mode == TLSImplicit})
		c := emailConfig(s, mode)
		c.RootCAs = nil // the system's roots
		err := newEmail(t, c).Deliver(context.Background(), testEvent())
		if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: Deliver: %v, want a permanent certificate failure", mode, err)
		}
		if auths, _ := s.counts(); auths != 0 {
			t.Errorf("%s: %d AUTH attempts", mode, auths)
		}
	}
}

// A temporary SMTP reply is not permanent, so the dispatcher retries it.
func TestEmailTemporaryReply(t *testing.T) {
	s := startSMTP(t, smtpServerOptions{startTLS: true, failMail: 1})
	err := newEmail(t, emailConfig(s, TLSStartTLS)).Deliver(context.Background(), testEvent())
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "451") {
		t.Fatalf("Deliver: %v, want a temporary 451 failure", err)
	}
	if len(s.received()) != 0 {
		t.Fatal("message received despite the 451")
	}
}

// tls=none talks to a loopback server without TLS and without a password.
func TestEmailNoTLSLoopback(t *testing.T) {
	s := startSMTP(t, smtpServerOptions{})
	c := emailConfig(s, TLSNone)
	c.Username, c.Password, c.RootCAs = "", "", nil
	if err := newEmail(t, c).Deliver(context.Background(), testEvent()); err != nil {
		t.Fatal(err)
	}
	if r, _ := onlyMessage(t, s); r.tls {
		t.Error("message arrived over TLS")
	}
}

// Event fields an attacker controls (a request's subject, a vault or
// principal name, a detail) cannot add headers or recipients.
func TestEmailHeaderInjection(t *testing.T) {
	s := startSMTP(t, smtpServerOptions{startTLS: true})
	m := newEmail(t, emailConfig(s, TLSStartTLS))
	e := Event{
		ID:      "ev-2\r\nX-Injected-Id: 1",
		Kind:    "approval.requested\r\nX-Injected-Kind: 1",
		Vault:   "prod\nBcc: victim@evil.example",
		Subject: "delete\r\nBcc: victim@evil.example\r\nX-Injected: yes\r\n\r\nforged body",
		Actor:   "ann\rTo: evil@evil.example",
		Detail:  map[string]any{"k\r\nX-Injected-Detail: 1": "v\r\n.\r\nMAIL FROM:<evil@evil.example>"},
	}
	if err := m.Deliver(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	r, msg := onlyMessage(t, s)
	if !slices.Equal(r.to, []string{"ops+alerts@example.com", "sec@example.org"}) {
		t.Errorf("recipients %q", r.to)
	}
	for k := range msg.Header {
		switch k {
		case textproto.CanonicalMIMEHeaderKey(HeaderEvent), textproto.CanonicalMIMEHeaderKey(HeaderEventID):
		case "Date", "From", "To", "Subject", "Message-Id", "Mime-Version", "Content-Type",
			"Content-Transfer-Encoding", "Auto-Submitted":
		default:
			t.Errorf("unexpected header %s: %q", k, msg.Header[k])
		}
	}
	if n := len(msg.Header["Subject"]); n != 1 {
		t.Errorf("%d Subject headers", n)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subject != e.Line() || strings.ContainsAny(subject, "\r\n") {
		t.Errorf("Subject %q, want %q", subject, e.Line())
	}
	checkRawHeaders(t, r.data)
	body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "Bcc:") || strings.HasPrefix(l, "X-Injected") || strings.HasPrefix(l, "MAIL") || l == "." {
			t.Errorf("body has an injected line %q", l)
		}
	}
}

// writeHeader is the last guard: a value with a line break is refused.
func TestWriteHeaderRefusesLineBreaks(t *testing.T) {
	for _, v := range []string{"a\r\nBcc: x@y", "a\nb", "a\rb", "a\x00b"} {
		var b bytes.Buffer
		if err := writeHeader(&b, "Subject", v); err == nil {
			t.Errorf("writeHeader accepted %q", v)
		}
	}
	var b bytes.Buffer
	long := strings.Repeat("word ", 60)
	if err := writeHeader(&b, "Subject", long); err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(strings.TrimSuffix(b.String(), "\r\n"), "\r\n") {
		if len(line) > maxHeaderLine {
			t.Errorf("folded line of %d characters: %q", len(line), line)
		}
	}
	if got := strings.ReplaceAll(b.String(), "\r\n", ""); got != "Subject: "+long {
		t.Errorf("unfolded header %q", got)
	}
}

// Deliver gives up when its context ends, even against a server that
// stops talking.
func TestEmailContext(t *testing.T) {
	ln := listenSilent(t)
	c := EmailConfig{Host: "127.0.0.1", Port: ln, From: "a@example.com", To: []string{"b@example.com"}, TLS: TLSNone}
	m := newEmail(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := m.Deliver(ctx, testEvent())
	if err == nil || IsPermanent(err) {
		t.Fatalf("Deliver: %v, want a temporary failure", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Deliver took %v after its context ended", d)
	}
}

func TestEmailConfigValidate(t *testing.T) {
	ok := EmailConfig{Host: "mail.example.com", From: "a@example.com", To: []string{"b@example.com"}, Username: "u", Password: "p"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		change func(*EmailConfig)
		want   string
	}{
		{func(c *EmailConfig) { c.Host = "" }, "no host"},
		{func(c *EmailConfig) { c.Host = "mail example" }, "not allowed"},
		{func(c *EmailConfig) { c.TLS = TLSNone }, "loopback"},
		{func(c *EmailConfig) { c.Host, c.TLS = "127.0.0.1", TLSNone }, "AUTH PLAIN is only sent over TLS"},
		{func(c *EmailConfig) { c.TLS = "ssl" }, "want starttls, tls or none"},
		{func(c *EmailConfig) { c.Port = 70000 }, "port"},
		{func(c *EmailConfig) { c.From = "" }, "no sender"},
		{func(c *EmailConfig) { c.From = "not an address" }, "sender"},
		{func(c *EmailConfig) { c.To = nil }, "no recipient"},
		{func(c *EmailConfig) { c.To = []string{"b@example.com\r\nBcc: x@y"} }, "recipient"},
		{func(c *EmailConfig) { c.Password = "" }, "without a password"},
		{func(c *EmailConfig) { c.Username = "" }, "without a user name"},
		{func(c *EmailConfig) { c.PasswordFile = "/p" }, "both a password and a password file"},
		{func(c *EmailConfig) { c.Password = "a\x00b" }, "NUL"},
		{func(c *EmailConfig) { c.HelloName = "a b" }, "hello name"},
	} {
		c := ok
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error saying %q", c, err, tc.want)
		}
	}
}
