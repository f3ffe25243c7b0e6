package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/client"
	"github.com/bunkerhq/bunker/internal/fuzzseed"
	"github.com/bunkerhq/bunker/internal/server/servertest"
)

// checkAnswer fails unless a response is a well-formed success or a 4xx
// with a clear JSON error: never a 500, never a bare body.
func checkAnswer(t *testing.T, what string, code int, body string) {
	t.Helper()
	if code >= 500 {
		t.Fatalf("%s: status %d: %s", what, code, body)
	}
	if code >= 400 {
		var eb api.ErrorBody
		if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error.Message == "" || eb.Error.Code == "" {
			t.Fatalf("%s: status %d without a clear JSON error: %q", what, code, body)
		}
	}
}

func TestMalformedRequests(t *testing.T) {
	w := newWorld(t)
	sess, err := w.host.StartBackup(context.Background(), "prod", api.SessionRequest{Hostname: "host1", Paths: []string{w.src}})
	if err != nil {
		t.Fatal(err)
	}
	huge := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	cases := []struct {
		who              *client.Client
		method, path, ct string
		body             string
		status           int
		mentions         string
	}{
		{w.vadmin, "POST", "/v1/vaults", "application/json", `{"name":`, 400, "JSON"},
		{w.vadmin, "POST", "/v1/vaults", "application/json", `{"name":"ok","colour":"red"}`, 400, "colour"},
		{w.vadmin, "POST", "/v1/vaults", "application/json", `{"name":"ok"} {"name":"again"}`, 400, "after the JSON"},
		{w.vadmin, "POST", "/v1/vaults", "application/json", `[]`, 400, "JSON"},
		{w.vadmin, "POST", "/v1/vaults", "application/json", ``, 400, "JSON body"},
		{w.vadmin, "POST", "/v1/vaults", "text/plain", `{"name":"ok"}`, 415, "application/json"},
		{w.vadmin, "POST", "/v1/vaults", "application/json", huge, 413, "exceeds"},
		{w.vadmin, "POST", "/v1/vaults", "application/json", `{"name":"../../etc"}`, 400, "vault name"},
		{w.vadmin, "POST", "/v1/vaults", "application/json", `{"name":"UPPER"}`, 400, "vault name"},
		{w.vadmin, "POST", "/v1/vaults", "application/json", `{"name":"a\u0000b"}`, 400, "vault name"},
		{w.vadmin, "POST", "/v1/vaults", "application/json", `{"name":"ok","retention":"-5d"}`, 400, "retention"},
		{w.vadmin, "POST", "/v1/vaults", "application/json", `{"name":"ok","retention":"99999999999y"}`, 400, "retention"},
		{w.vadmin, "POST", "/v1/vaults", "application/json", `{"name":17}`, 400, "name"},
		{w.vadmin, "PUT", "/v1/vaults/prod/lock", "application/json", `{"mode":"lockdown"}`, 400, "lock mode"},
		{w.vadmin, "PUT", "/v1/vaults/prod/lock", "application/json", `{"mode":"governance","min_retention":"30d","max_retention":"1d"}`, 400, "maximum"},
		{w.vadmin, "GET", "/v1/vaults/prod/points/zz", "", ``, 400, "hex"},
		{w.vadmin, "GET", "/v1/vaults/prod/points/" + strings.Repeat("a", 65), "", ``, 400, "hex"},
		{w.vadmin, "GET", "/v1/vaults/prod/points/ffff", "", ``, 404, "no point"},
		{w.vadmin, "GET", "/v1/vaults/nope/points", "", ``, 404, "no vault"},
		{w.vadmin, "DELETE", "/v1/vaults/prod/holds/abc", "", ``, 400, "not a number"},
		{w.vadmin, "POST", "/v1/vaults/prod/holds", "application/json", `{"reason":"x"}`, 400, "one point"},
		{w.vadmin, "POST", "/v1/vaults/prod/holds", "application/json", `{"tag":"a","reason":"  "}`, 400, "reason"},
		{w.vadmin, "PUT", "/v1/vaults/prod/points/latest/retention", "application/json", `{}`, 400, "exactly one"},
		{w.vadmin, "GET", "/v1/audit?after=-1", "", ``, 403, "audit.read"},
		{w.aud, "GET", "/v1/audit?after=-1", "", ``, 400, "after"},
		{w.s.Admin, "POST", "/v1/principals", "application/json", `{"name":"x y","kind":"user","password":"long enough password"}`, 400, "principal name"},
		{w.s.Admin, "POST", "/v1/principals", "application/json", `{"name":"svc","kind":"robot"}`, 400, "kind"},
		{w.s.Admin, "POST", "/v1/principals", "application/json", `{"name":"weak","kind":"user","password":"short"}`, 400, "password"},
		{w.s.Admin, "POST", "/v1/bindings", "application/json", `{"principal":"ops","role":"god"}`, 400, "unknown role"},
		{w.s.Admin, "POST", "/v1/bindings", "application/json", `{"principal":"nobody","role":"auditor"}`, 404, "no principal"},
		{w.s.Admin, "DELETE", "/v1/bindings/99999", "", ``, 404, "no role binding"},
		{w.s.Admin, "POST", "/v1/tokens", "application/json", `{"expires_in":"10y"}`, 400, "expires_in"},
		{w.host, "POST", "/v1/vaults/prod/sessions", "application/json", `{"hostname":"h","paths":["relative/path"]}`, 400, "absolute"},
		{w.host, "POST", "/v1/vaults/prod/sessions", "application/json", `{"hostname":"h","paths":["/a/../b"]}`, 400, "clean"},
		{w.host, "POST", "/v1/vaults/prod/sessions", "application/json", `{"hostname":"","paths":["/a"]}`, 400, "hostname"},
		{w.host, "POST", "/v1/vaults/prod/sessions", "application/json", `{"hostname":"h","paths":["/a"],"tags":["a,b"]}`, 400, "tag"},
		{w.host, "POST", "/v1/sessions/" + sess.Session + "/missing", "application/json", `[]`, 415, "handles"},
		{w.host, "POST", "/v1/sessions/" + sess.Session + "/missing", "application/vnd.bunker.handles", "\x01abc", 400, "multiple"},
		{w.host, "POST", "/v1/sessions/" + sess.Session + "/blobs", "application/vnd.bunker.frames", "\x09\x00", 400, "truncated"},
		{w.host, "POST", "/v1/sessions/" + sess.Session + "/blobs", "application/vnd.bunker.frames", "\x01\x00\xff\xff\xff\x7f\xff\xff\xff\x7f" + strings.Repeat("\x00", 32), 400, "limit"},
		{w.host, "GET", "/v1/sessions/" + sess.Session + "/trees/nothex", "", ``, 400, "invalid id"},
		{w.host, "GET", "/v1/sessions/" + sess.Session + "/trees/" + strings.Repeat("0", 64), "", ``, 403, "parent"},
		{w.host, "POST", "/v1/sessions/" + sess.Session + "/commit", "application/json", `{"tree":"` + strings.Repeat("0", 64) + `"}`, 400, "incomplete"},
		{w.host, "POST", "/v1/sessions/" + sess.Session + "/commit", "application/json", `{"tree":"xyz"}`, 400, "tree"},
		{w.host, "POST", "/v1/sessions/not-a-session/commit", "application/json", `{"tree":"` + strings.Repeat("0", 64) + `"}`, 404, "no open session"},
		{w.vadmin, "POST", "/v1/sessions/" + sess.Session + "/missing", "application/vnd.bunker.handles", "", 404, "no open session"},
		{nil, "POST", "/v1/login", "application/json", `{"name":"admin","password":"wrong"}`, 401, "wrong"},
		{nil, "POST", "/v1/login", "application/json", `{"name":"nobody","password":"wrong"}`, 401, "wrong"},
		{nil, "GET", "/v1/no/such/thing", "", ``, 404, "no such API endpoint"},
	}
	for _, c := range cases {
		what := fmt.Sprintf("%s %s %.60q", c.method, c.path, c.body)
		code, body := w.raw(t, c.who, c.method, c.path, c.ct, []byte(c.body))
		checkAnswer(t, what, code, body)
		if code != c.status || !strings.Contains(strings.ToLower(body), strings.ToLower(c.mentions)) {
			t.Errorf("%s: %d %s, want %d mentioning %q", what, code, body, c.status, c.mentions)
		}
	}
	// The session survived the bad requests and still commits.
	if _, err := w.host.Commit(context.Background(), sess.Session, api.CommitRequest{Tree: sess.Parent.Tree}); err != nil {
		t.Fatalf("commit after bad requests: %v", err)
	}
}

// FuzzAPI throws arbitrary requests at the server as each kind of caller:
// whatever arrives, the answer is a success or a clear 4xx, never a 500 or
// a panic.
func FuzzAPI(f *testing.F) {
	s := servertest.Start(f, servertest.Options{})
	vadmin := s.User(f, "vadmin", "vault-admin")
	host := s.Service(f, "host1", "backup-operator@prod")
	if _, err := vadmin.CreateVault(context.Background(), api.VaultRequest{Name: "prod", Retention: "30d"}); err != nil {
		f.Fatal(err)
	}
	sess, err := host.StartBackup(context.Background(), "prod", api.SessionRequest{Hostname: "h", Paths: []string{"/"}})
	if err != nil {
		f.Fatal(err)
	}
	callers := []string{"", s.Admin.Token(), vadmin.Token(), host.Token()}
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	cts := []string{"application/json", "application/vnd.bunker.handles", "application/vnd.bunker.frames", ""}
	seeds := []struct {
		m, who, ct uint8
		path, body string
	}{
		{1, 2, 0, "/v1/vaults", `{"name":"fz","retention":"1d"}`},
		{2, 2, 0, "/v1/vaults/prod/lock", `{"mode":"governance","min_retention":"1d"}`},
		{1, 2, 0, "/v1/vaults/prod/holds", `{"tag":"t","reason":"r"}`},
		{1, 1, 0, "/v1/principals", `{"name":"u1","kind":"service"}`},
		{1, 1, 0, "/v1/bindings", `{"principal":"u1","role":"auditor","vault":"*"}`},
		{1, 3, 0, "/v1/vaults/prod/sessions", `{"hostname":"h","paths":["/x"]}`},
		{1, 3, 1, "/v1/sessions/" + sess.Session + "/missing", "\x01" + strings.Repeat("a", 32)},
		{1, 3, 2, "/v1/sessions/" + sess.Session + "/blobs", "\x01\x00\x01\x00\x00\x00\x01\x00\x00\x00" + strings.Repeat("b", 32) + "z"},
		{1, 3, 0, "/v1/sessions/" + sess.Session + "/commit", `{"tree":"` + strings.Repeat("c", 64) + `"}`},
		{0, 2, 3, "/v1/vaults/prod/points?state=all&host=h", ``},
		{2, 2, 0, "/v1/vaults/prod/points/latest/retention", `{"extend_by":"1d"}`},
		{1, 0, 0, "/v1/login", `{"name":"admin","password":"x","totp":"123456"}`},
	}
	if fuzzseed.Enabled() {
		for i, sd := range seeds {
			fuzzseed.WriteEntry(f, "FuzzAPI", fmt.Sprintf("seed-%02d", i),
				fmt.Sprintf("byte(%q)", rune(sd.m)), fmt.Sprintf("byte(%q)", rune(sd.who)), fmt.Sprintf("byte(%q)", rune(sd.ct)),
				fmt.Sprintf("string(%q)", sd.path), fmt.Sprintf("[]byte(%q)", sd.body))
		}
	}
	for _, sd := range seeds {
		f.Add(sd.m, sd.who, sd.ct, sd.path, []byte(sd.body))
	}
	f.Fuzz(func(t *testing.T, m, who, ct uint8, path string, body []byte) {
		if _, err := url.ParseRequestURI(path); err != nil || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") {
			return // not a request line an HTTP server would accept
		}
		req := httptest.NewRequest(methods[int(m)%len(methods)], "http://bunker"+path, bytes.NewReader(body))
		if c := cts[int(ct)%len(cts)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		if tok := callers[int(who)%len(callers)]; tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", req.Method, path, rec.Code, rec.Body.String())
		}
	})
}
