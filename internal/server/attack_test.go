package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/crypto"
	"github.com/bunkerhq/bunker/internal/server/servertest"
	"github.com/bunkerhq/bunker/internal/wire"
)

const day = 24 * time.Hour

// world is a server with the usual cast: a vault-admin, a backup host, a
// restore operator, an auditor, and a vault "prod" with one point.
type world struct {
	s      *servertest.Server
	vadmin *client.Client
	host   *client.Client
	ops    *client.Client
	aud    *client.Client
	src    string
	point  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t, servertest.Options{})
}

// newWorldWith is newWorld on a server started with opts.
func newWorldWith(t *testing.T, opts servertest.Options) *world {
	t.Helper()
	ctx := context.Background()
	s := servertest.Start(t, opts)
	w := &world{s: s}
	w.vadmin = s.User(t, "vadmin", "vault-admin")
	w.host = s.Service(t, "host1", "backup-operator@prod")
	w.ops = s.User(t, "ops", "restore-operator@prod")
	w.aud = s.User(t, "aud", "auditor")
	for _, v := range []string{"prod", "dev"} {
		if _, err := w.vadmin.CreateVault(ctx, api.VaultRequest{Name: v, Retention: "30d"}); err != nil {
			t.Fatal(err)
		}
	}
	w.src = t.TempDir()
	os.WriteFile(filepath.Join(w.src, "a.txt"), bytes.Repeat([]byte("precious data "), 1000), 0o644)
	os.WriteFile(filepath.Join(w.src, "b.bin"), bytes.Repeat([]byte{7, 1, 9}, 100000), 0o644)
	p, _ := backupTo(t, w.host, "prod", "host1", w.src)
	w.point = p.ID.String()
	return w
}

// raw sends a request straight to the server's handler as the holder of c's token.
func (w *world) raw(t *testing.T, c *client.Client, method, path, contentType string, body []byte) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c != nil && c.Token() != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token())
	}
	rec := httptest.NewRecorder()
	w.s.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// entries reads the whole audit log.
func (w *world) entries(t *testing.T) []audit.Entry {
	t.Helper()
	var all []audit.Entry
	var after uint64
	for {
		page, err := w.aud.Audit(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Entries...)
		if page.Next == 0 {
			return all
		}
		after = page.Next
	}
}

// state is what an attack must leave unchanged.
func (w *world) state(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, v := range []string{"prod", "dev"} {
		vv, err := w.vadmin.Vault(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		vv.LockDate, vv.Immutable = time.Time{}, false
		ps, err := w.vadmin.Points(ctx, v, client.PointFilter{State: "all"})
		if err != nil {
			t.Fatal(err)
		}
		hs, err := w.vadmin.Holds(ctx, v, true)
		if err != nil {
			t.Fatal(err)
		}
		json.NewEncoder(&b).Encode([]any{vv, ps, hs})
	}
	bs, err := w.s.Admin.Bindings(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	json.NewEncoder(&b).Encode(bs)
	// The stored objects, by name and size.
	filepath.Walk(filepath.Join(w.s.DataDir, "vaults"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.Contains(p, "/tmp/") && !strings.HasSuffix(p, "/lock") {
			b.WriteString(p + " " + fi.ModTime().String() + "\n")
		}
		return nil
	})
	return b.String()
}

// attempt runs one attack and checks that it fails with a 4xx that says
// something, changes nothing, and adds exactly one refusal to the audit log.
func (w *world) attempt(t *testing.T, name string, wantStatus int, actor string, do func() (int, string)) {
	t.Helper()
	before := w.state(t)
	logBefore := w.entries(t)
	status, msg := do()
	if status != wantStatus {
		t.Errorf("%s: status %d (%s), want %d", name, status, msg, wantStatus)
	}
	var eb api.ErrorBody
	if err := json.Unmarshal([]byte(msg), &eb); err != nil || eb.Error.Message == "" {
		t.Errorf("%s: no clear error message: %q", name, msg)
	}
	if after := w.state(t); after != before {
		t.Errorf("%s changed the state:\nbefore %s\nafter  %s", name, before, after)
	}
	logAfter := w.entries(t)
	if len(logAfter) != len(logBefore)+1 {
		t.Errorf("%s: %d audit entries added, want 1", name, len(logAfter)-len(logBefore))
		return
	}
	e := logAfter[len(logAfter)-1]
	if e.Outcome == audit.OutcomeOK || e.Actor != actor {
		t.Errorf("%s: audit entry %+v, want a refusal by %s", name, e, actor)
	}
}

// status runs an API call and returns its status and error body.
func status(err error) (int, string) {
	if err == nil {
		return 200, "no error"
	}
	var e *client.Error
	if ce, ok := err.(*client.Error); ok {
		e = ce
	} else {
		return 0, err.Error()
	}
	b, _ := json.Marshal(api.ErrorBody{Error: api.ErrorDetail{Code: e.Code, Message: e.Message}})
	return e.Status, string(b)
}

func (w *world) verifyAudit(t *testing.T) {
	t.Helper()
	rc, err := w.aud.Stream(context.Background(), "/v1/audit/export", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	pub, entries, cps, err := audit.ReadJSONL(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub, w.s.PublicKey()) {
		t.Fatal("export carries another public key")
	}
	rep := audit.Verify(entries, cps, w.s.PublicKey())
	if !rep.OK() || rep.Checkpoints == 0 {
		t.Fatalf("audit verify: %+v", rep)
	}
}

// The attacks of a compromised protected host, holding its backup-operator
// token: it can add points and nothing else.
func TestBackupOperatorAttacks(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	host := w.host
	short := w.point[:8]

	w.attempt(t, "delete a point", 403, "host1", func() (int, string) {
		_, err := host.DeletePoint(ctx, "prod", short)
		return status(err)
	})
	w.attempt(t, "shorten its retention", 403, "host1", func() (int, string) {
		_, err := host.Retain(ctx, "prod", short, api.RetentionRequest{ExtendBy: "-1d"})
		return status(err)
	})
	soon := w.s.Clock.Now().Add(time.Hour)
	w.attempt(t, "set its expiry to an hour from now", 403, "host1", func() (int, string) {
		_, err := host.Retain(ctx, "prod", short, api.RetentionRequest{Expires: &soon})
		return status(err)
	})
	w.attempt(t, "remove the vault lock", 403, "host1", func() (int, string) {
		_, err := host.Unlock(ctx, "prod")
		return status(err)
	})
	w.attempt(t, "lower the vault's retention", 403, "host1", func() (int, string) {
		r := "1h"
		_, err := host.UpdateVault(ctx, "prod", api.VaultUpdate{Retention: &r})
		return status(err)
	})
	w.attempt(t, "overwrite a pack through the API", 404, "host1", func() (int, string) {
		return w.raw(t, host, "PUT", "/v1/vaults/prod/packs/"+strings.Repeat("ab", 32), "application/octet-stream", []byte("ransom"))
	})
	w.attempt(t, "read another vault's points", 403, "host1", func() (int, string) {
		_, err := host.Points(ctx, "dev", client.PointFilter{})
		return status(err)
	})
	w.attempt(t, "list its own vault's points", 403, "host1", func() (int, string) {
		_, err := host.Points(ctx, "prod", client.PointFilter{})
		return status(err)
	})
	w.attempt(t, "back up into another vault", 403, "host1", func() (int, string) {
		_, err := host.StartBackup(ctx, "dev", api.SessionRequest{Hostname: "host1", Paths: []string{"/"}})
		return status(err)
	})
	w.attempt(t, "restore", 403, "host1", func() (int, string) {
		_, err := host.StartRestore(ctx, "prod", short)
		return status(err)
	})
	w.attempt(t, "bind itself a role", 403, "host1", func() (int, string) {
		_, err := host.Bind(ctx, api.BindingRequest{Principal: "host1", Role: "restore-operator", Vault: "prod"})
		return status(err)
	})
	w.attempt(t, "make itself a token for another principal", 403, "host1", func() (int, string) {
		_, err := host.CreateToken(ctx, api.TokenRequest{Principal: "vadmin"})
		return status(err)
	})
	w.attempt(t, "delete the audit log", 403, "host1", func() (int, string) {
		return w.raw(t, host, "DELETE", "/v1/audit", "", nil)
	})
	w.attempt(t, "read the audit log", 403, "host1", func() (int, string) {
		_, err := host.Audit(ctx, 0, 10)
		return status(err)
	})
	other := w.s.Service(t, "host2", "backup-operator@prod")
	p2, _ := backupTo(t, other, "prod", "host2", w.src)
	w.attempt(t, "name another host's point as parent", 403, "host1", func() (int, string) {
		_, err := host.StartBackup(ctx, "prod", api.SessionRequest{Hostname: "host1", Paths: []string{w.src}, Parent: p2.ID.String()})
		return status(err)
	})
	w.verifyAudit(t)
}

// A blob whose bytes do not match its id is refused, nothing of it is
// stored, and the refusal is audited.
func TestForgedUploadRefused(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	sess, err := w.host.StartBackup(ctx, "prod", api.SessionRequest{Hostname: "host1", Paths: []string{w.src}})
	if err != nil {
		t.Fatal(err)
	}
	// Name the forgery after real content of the existing point, so that a
	// server that stored it would corrupt every restore of a.txt.
	honest := bytes.Repeat([]byte("precious data "), 1000)
	ck, _ := base64Decode(sess.ContentKey)
	id := contentID(t, ck, honest)
	frame := wire.AppendFrame(nil, wire.Frame{Handle: blob.Handle{ID: id, Type: blob.DataBlob}, RawLen: 6, Payload: []byte("ransom")})
	w.attempt(t, "upload a blob whose bytes do not match its id", 400, "host1", func() (int, string) {
		return w.raw(t, w.host, "POST", "/v1/sessions/"+sess.Session+"/blobs", wire.FramesType, frame)
	})
	other := bytes.Repeat([]byte("planted content "), 100)
	forged := wire.AppendFrame(nil, wire.Frame{Handle: blob.Handle{ID: contentID(t, ck, []byte("x")), Type: blob.DataBlob}, RawLen: len(other), Payload: other})
	w.attempt(t, "upload new content under a false id", 400, "host1", func() (int, string) {
		return w.raw(t, w.host, "POST", "/v1/sessions/"+sess.Session+"/blobs", wire.FramesType, forged)
	})
	// The point still restores byte for byte.
	target := restoreFrom(t, w.ops, "prod", w.point[:8])
	got, err := os.ReadFile(filepath.Join(target, w.src, "a.txt"))
	if err != nil || !bytes.Equal(got, honest) {
		t.Fatalf("restore after forged upload: %v", err)
	}
	w.verifyAudit(t)
}

// A client's claimed time is a label only: points carry the server's clock,
// and a host cannot back-date or future-date them to game retention.
func TestPointTimeIsTheServers(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for _, claim := range []time.Time{time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)} {
		w.s.Clock.Advance(time.Hour)
		sess, err := w.host.StartBackup(ctx, "prod", api.SessionRequest{Hostname: "host1", Paths: []string{w.src}})
		if err != nil {
			t.Fatal(err)
		}
		parent := sess.Parent
		p, err := w.host.Commit(ctx, sess.Session, api.CommitRequest{Tree: parent.Tree, ClientTime: claim})
		if err != nil {
			t.Fatal(err)
		}
		now := w.s.Clock.Now()
		if !p.Time.Equal(now) || !p.ClientTime.Equal(claim) {
			t.Fatalf("point time %v (client claimed %v, kept as %v), want the server's %v", p.Time, claim, p.ClientTime, now)
		}
		if !p.Expires.Equal(now.Add(30 * day)) {
			t.Fatalf("expiry %v follows the claim, want %v", p.Expires, now.Add(30*day))
		}
	}
}

func TestUnauthenticatedAndBadTokens(t *testing.T) {
	w := newWorld(t)
	for _, tok := range []string{"", "garbage", "bkr_aaaaaaaaaaaaaaaa_" + strings.Repeat("A", 43)} {
		req := httptest.NewRequest("GET", "/v1/vaults", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		w.s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("token %q: status %d", tok, rec.Code)
		}
	}
	// A revoked token stops working at once.
	ctx := context.Background()
	tok, err := w.vadmin.CreateToken(ctx, api.TokenRequest{Label: "short-lived"})
	if err != nil {
		t.Fatal(err)
	}
	c := w.s.Anonymous(t).WithToken(tok.Token)
	if _, err := c.Vaults(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.vadmin.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Vaults(ctx); !client.IsStatus(err, 401) {
		t.Fatalf("revoked token: %v", err)
	}
	// And an expired one too.
	tok, _ = w.vadmin.CreateToken(ctx, api.TokenRequest{ExpiresIn: "1h"})
	c = w.s.Anonymous(t).WithToken(tok.Token)
	w.s.Clock.Advance(2 * time.Hour)
	if _, err := c.Vaults(ctx); !client.IsStatus(err, 401) {
		t.Fatalf("expired token: %v", err)
	}
}

func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// contentID names data under a vault's content key, as a client does.
func contentID(t *testing.T, key, data []byte) blob.ID {
	t.Helper()
	k, err := crypto.ParseIDKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return k.BlobID(data)
}

// A token limited to one vault cannot make a token that reaches further.
func TestScopedTokenCannotWiden(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	tok, err := w.vadmin.CreateToken(ctx, api.TokenRequest{Vaults: []string{"prod"}})
	if err != nil {
		t.Fatal(err)
	}
	scoped := w.s.Anonymous(t).WithToken(tok.Token)
	if _, err := scoped.Points(ctx, "dev", client.PointFilter{}); !client.IsStatus(err, 403) {
		t.Fatalf("scoped token read another vault: %v", err)
	}
	w.attempt(t, "scoped token makes an unlimited token", 403, "vadmin", func() (int, string) {
		_, err := scoped.CreateToken(ctx, api.TokenRequest{})
		return status(err)
	})
	w.attempt(t, "scoped token makes a token for another vault", 403, "vadmin", func() (int, string) {
		_, err := scoped.CreateToken(ctx, api.TokenRequest{Vaults: []string{"dev"}})
		return status(err)
	})
	if _, err := scoped.CreateToken(ctx, api.TokenRequest{Vaults: []string{"prod"}}); err != nil {
		t.Fatalf("scoped token making a token as narrow: %v", err)
	}
}

// Changing a password logs out every other session of that user; a TOTP
// confirmation with nothing pending is a clear 400.
func TestPasswordChangeAndTOTPEdges(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	a := w.s.Login(t, "vadmin", servertest.Password)
	b := w.s.Login(t, "vadmin", servertest.Password)
	if err := a.ChangePassword(ctx, servertest.Password, "another long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Whoami(ctx); err != nil {
		t.Fatalf("the session that changed the password was logged out: %v", err)
	}
	if _, err := b.Whoami(ctx); !client.IsStatus(err, 401) {
		t.Fatalf("another session survived the password change: %v", err)
	}
	if _, err := a.TOTP(ctx, "123456"); !client.IsStatus(err, 400) {
		t.Fatalf("TOTP confirmation with nothing pending: %v", err)
	}
	if _, err := a.TOTP(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Admin.UpdatePrincipal(ctx, "vadmin", api.PrincipalUpdate{ResetTOTP: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.TOTP(ctx, "123456"); client.IsStatus(err, 500) || err == nil {
		t.Fatalf("TOTP confirmation after a reset: %v", err)
	}
}

// Password guessing is slowed down: after five failures for a name, even
// the right password is refused for a while, and every attempt is audited.
func TestLoginThrottled(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	anon := w.s.Anonymous(t)
	for i := range 5 {
		if _, err := anon.Login(ctx, api.LoginRequest{Name: "vadmin", Password: fmt.Sprintf("guess %d guess", i)}); !client.IsStatus(err, 401) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, err := anon.Login(ctx, api.LoginRequest{Name: "vadmin", Password: servertest.Password}); !client.IsStatus(err, 429) {
		t.Fatalf("the right password right after five wrong ones: %v", err)
	}
	denied := 0
	for _, e := range w.entries(t) {
		if e.Action == "auth.login" && e.Outcome == audit.OutcomeDenied {
			denied++
		}
	}
	if denied != 6 {
		t.Fatalf("%d refused logins audited, want 6", denied)
	}
}

// Cached authentication never outlives a change: a revoked token, a removed
// binding and a disabled principal take effect on the next request.
func TestAuthCacheFollowsChanges(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	if _, err := w.ops.Points(ctx, "prod", client.PointFilter{}); err != nil {
		t.Fatal(err)
	}
	bs, err := w.s.Admin.Bindings(ctx, "ops")
	if err != nil || len(bs) != 1 {
		t.Fatalf("bindings of ops: %+v %v", bs, err)
	}
	if err := w.s.Admin.Unbind(ctx, bs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ops.Points(ctx, "prod", client.PointFilter{}); !client.IsStatus(err, 403) {
		t.Fatalf("request right after the binding was removed: %v", err)
	}
	if _, err := w.host.StartBackup(ctx, "prod", api.SessionRequest{Hostname: "h", Paths: []string{"/"}}); err != nil {
		t.Fatal(err)
	}
	disabled := true
	if _, err := w.s.Admin.UpdatePrincipal(ctx, "host1", api.PrincipalUpdate{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.host.StartBackup(ctx, "prod", api.SessionRequest{Hostname: "h", Paths: []string{"/"}}); !client.IsStatus(err, 401) {
		t.Fatalf("request right after the principal was disabled: %v", err)
	}
	tok, _ := w.vadmin.CreateToken(ctx, api.TokenRequest{})
	c := w.s.Anonymous(t).WithToken(tok.Token)
	if _, err := c.Vaults(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.vadmin.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Vaults(ctx); !client.IsStatus(err, 401) {
		t.Fatalf("request right after revocation: %v", err)
	}
	if err := c.Logout(ctx); !client.IsStatus(err, 401) {
		t.Fatalf("logout with a revoked token: %v", err)
	}
}
