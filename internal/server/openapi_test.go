package server

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/prune"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/repo"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
)

// The OpenAPI tests keep internal/server/openapi.yaml honest: every route
// registered in routes.go is documented and nothing else is, every $ref
// resolves, path parameters match the path templates, public routes are
// the ones without security, and the schemas of the api and store types
// list exactly the fields their JSON encoding has.

// apiRoute is one route registered in routes.go.
type apiRoute struct {
	method, path string
	public       bool
}

func (r apiRoute) key() string { return r.method + " " + r.path }

// registeredRoutes parses routes.go and returns the routes its add(…),
// mux.HandleFunc(…) and mux.Handle(…) calls register with a literal
// pattern, without the catch-all "/".
func registeredRoutes(t *testing.T) map[string]apiRoute {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "routes.go", nil, 0)
	if err != nil {
		t.Fatalf("parse routes.go: %v", err)
	}
	out := map[string]apiRoute{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		public := false
		switch fn := call.Fun.(type) {
		case *ast.Ident:
			if fn.Name != "add" {
				return true
			}
			if len(call.Args) < 3 {
				t.Errorf("%s: add call with %d arguments", fset.Position(call.Pos()), len(call.Args))
				return true
			}
			auth, ok := call.Args[2].(*ast.Ident)
			if !ok || (auth.Name != "true" && auth.Name != "false") {
				t.Errorf("%s: add call whose authenticated argument is not a literal true or false", fset.Position(call.Pos()))
				return true
			}
			public = auth.Name == "false"
		case *ast.SelectorExpr:
			recv, ok := fn.X.(*ast.Ident)
			if !ok || recv.Name != "mux" || (fn.Sel.Name != "HandleFunc" && fn.Sel.Name != "Handle") {
				return true
			}
			public = true // registered without the authenticating wrapper
		default:
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true // add's own mux.Handle(s.route(…)) inside the closure
		}
		pattern, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Errorf("%s: %v", fset.Position(lit.Pos()), err)
			return true
		}
		if pattern == "/" {
			return true
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || method == "" || !strings.HasPrefix(path, "/") {
			t.Errorf("%s: route %q names no method: every route must have one to be documented", fset.Position(lit.Pos()), pattern)
			return true
		}
		r := apiRoute{method: method, path: normalizePattern(path), public: public}
		if _, dup := out[r.key()]; dup {
			t.Errorf("%s: route %s registered twice", fset.Position(lit.Pos()), r.key())
		}
		out[r.key()] = r
		return true
	})
	if len(out) == 0 {
		t.Fatal("found no routes in routes.go")
	}
	return out
}

// normalizePattern turns ServeMux wildcards into OpenAPI templates:
// {name...} becomes {name} and {$} goes.
func normalizePattern(p string) string {
	p = strings.ReplaceAll(p, "{$}", "")
	return regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\.\.\.\}`).ReplaceAllString(p, "{$1}")
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIDoc parses the embedded document.
func openAPIDoc(t *testing.T) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatal("openapi.yaml is not one YAML mapping")
	}
	return doc.Content[0]
}

// get returns the value of key in a mapping node, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// pairs returns the keys and values of a mapping node in order.
func pairs(n *yaml.Node) (keys []string, values []*yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
		values = append(values, n.Content[i+1])
	}
	return keys, values
}

// resolve follows a local JSON pointer ("#/components/schemas/X").
func resolve(root *yaml.Node, ref string) (*yaml.Node, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("%q is not a reference into this document", ref)
	}
	n := root
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		switch n.Kind {
		case yaml.MappingNode:
			n = get(n, part)
		case yaml.SequenceNode:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil, fmt.Errorf("%q: no element %q", ref, part)
			}
			n = n.Content[i]
		default:
			n = nil
		}
		if n == nil {
			return nil, fmt.Errorf("%q does not resolve (no %q)", ref, part)
		}
	}
	return n, nil
}

// deref follows $ref until it reaches a node without one.
func deref(t *testing.T, root, n *yaml.Node) *yaml.Node {
	t.Helper()
	for range 32 {
		ref := get(n, "$ref")
		if ref == nil {
			return n
		}
		target, err := resolve(root, ref.Value)
		if err != nil {
			t.Fatal(err)
		}
		n = target
	}
	t.Fatal("$ref chain longer than 32")
	return nil
}

type operation struct {
	key      string // "METHOD /path"
	path     string
	node     *yaml.Node
	pathItem *yaml.Node
}

func documentedOperations(t *testing.T, root *yaml.Node) []operation {
	t.Helper()
	paths := get(root, "paths")
	if paths == nil {
		t.Fatal("openapi.yaml has no paths")
	}
	var out []operation
	ps, items := pairs(paths)
	for i, p := range ps {
		ks, ops := pairs(items[i])
		for j, k := range ks {
			if slices.Contains(httpMethods, k) {
				out = append(out, operation{key: strings.ToUpper(k) + " " + p, path: p, node: ops[j], pathItem: items[i]})
			}
		}
	}
	return out
}

func TestOpenAPIRoutesMatchDocument(t *testing.T) {
	routes := registeredRoutes(t)
	root := openAPIDoc(t)
	ops := documentedOperations(t, root)
	documented := map[string]operation{}
	for _, op := range ops {
		documented[op.key] = op
	}
	var missing, extra []string
	for k := range routes {
		if _, ok := documented[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if _, ok := routes[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, k := range missing {
		t.Errorf("route %s is registered in routes.go but not documented in openapi.yaml", k)
	}
	for _, k := range extra {
		t.Errorf("openapi.yaml documents %s, which routes.go does not register", k)
	}

	// Public routes, and only they, say that they need no token.
	for k, r := range routes {
		op, ok := documented[k]
		if !ok {
			continue
		}
		sec := get(op.node, "security")
		open := sec != nil && sec.Kind == yaml.SequenceNode && len(sec.Content) == 0
		if r.public && !open {
			t.Errorf("%s is public in routes.go; document it with security: []", k)
		}
		if !r.public && open {
			t.Errorf("%s needs a token in routes.go but is documented with security: []", k)
		}
	}
}

func TestOpenAPIOperations(t *testing.T) {
	root := openAPIDoc(t)
	if v := get(get(root, "info"), "version"); v == nil || v.Value != Version {
		t.Errorf("info.version is %v, want the server's version %s", v, Version)
	}
	if v := get(root, "openapi"); v == nil || !strings.HasPrefix(v.Value, "3.1.") {
		t.Errorf("openapi is %v, want 3.1.x", v)
	}
	ids := map[string]string{}
	tmpl := regexp.MustCompile(`\{([^}]+)\}`)
	for _, op := range documentedOperations(t, root) {
		for _, field := range []string{"summary", "description", "operationId", "responses"} {
			if get(op.node, field) == nil {
				t.Errorf("%s has no %s", op.key, field)
			}
		}
		if id := get(op.node, "operationId"); id != nil {
			if other, dup := ids[id.Value]; dup {
				t.Errorf("operationId %s is used by %s and %s", id.Value, other, op.key)
			}
			ids[id.Value] = op.key
		}
		sec := get(op.node, "security")
		public := sec != nil && len(sec.Content) == 0
		if d := get(op.node, "description"); d != nil && !public {
			for _, want := range []string{"**Permission:**", "**Audit:**"} {
				if !strings.Contains(d.Value, want) {
					t.Errorf("%s: the description does not say %s", op.key, want)
				}
			}
		}
		if rs := get(op.node, "responses"); rs != nil {
			codes, _ := pairs(rs)
			ok := false
			for _, c := range codes {
				ok = ok || strings.HasPrefix(c, "2")
			}
			if !ok && op.key != "DELETE /v1/audit" {
				t.Errorf("%s documents no successful response", op.key)
			}
		}

		// Path parameters: exactly the template's names, all required.
		want := map[string]bool{}
		for _, m := range tmpl.FindAllStringSubmatch(op.path, -1) {
			want[m[1]] = true
		}
		have := map[string]bool{}
		for _, list := range []*yaml.Node{get(op.pathItem, "parameters"), get(op.node, "parameters")} {
			if list == nil {
				continue
			}
			for _, p := range list.Content {
				p = deref(t, root, p)
				if in := get(p, "in"); in == nil || in.Value != "path" {
					continue
				}
				name := get(p, "name")
				if name == nil {
					t.Errorf("%s: a path parameter without a name", op.key)
					continue
				}
				if req := get(p, "required"); req == nil || req.Value != "true" {
					t.Errorf("%s: path parameter %s is not required: true", op.key, name.Value)
				}
				have[name.Value] = true
			}
		}
		for n := range want {
			if !have[n] {
				t.Errorf("%s: path parameter {%s} is not described", op.key, n)
			}
		}
		for n := range have {
			if !want[n] {
				t.Errorf("%s: describes path parameter %s, which the path does not have", op.key, n)
			}
		}
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	root := openAPIDoc(t)
	n := 0
	var walk func(node *yaml.Node, where string)
	walk = func(node *yaml.Node, where string) {
		switch node.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(node.Content); i += 2 {
				k, v := node.Content[i], node.Content[i+1]
				if k.Value == "$ref" {
					n++
					if v.Kind != yaml.ScalarNode {
						t.Errorf("line %d: $ref is not a string", v.Line)
					} else if _, err := resolve(root, v.Value); err != nil {
						t.Errorf("line %d: %v", v.Line, err)
					}
					continue
				}
				walk(v, where+"/"+k.Value)
			}
		case yaml.SequenceNode:
			for _, c := range node.Content {
				walk(c, where)
			}
		case yaml.AliasNode:
			t.Errorf("line %d: YAML aliases are not used in this document", node.Line)
		}
	}
	walk(root, "#")
	if n == 0 {
		t.Fatal("found no $ref at all")
	}

	// Every schema in components is used somewhere.
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`#/components/schemas/([A-Za-z0-9_.-]+)`).FindAllStringSubmatch(string(OpenAPI), -1) {
		used[m[1]] = true
	}
	names, _ := pairs(get(get(root, "components"), "schemas"))
	for _, name := range names {
		if !used[name] {
			t.Errorf("schema %s is defined but never referenced", name)
		}
	}
}

// schemaTypes names the schema that documents each Go type of a JSON body.
var schemaTypes = map[string]any{
	// api
	"AuditPage":               api.AuditPage{},
	"CopyRequest":             api.CopyRequest{},
	"RemoteRequest":           api.RemoteRequest{},
	"Remote":                  api.Remote{},
	"Follow":                  store.Follow{},
	"PullRequest":             api.PullRequest{},
	"EventRule":               api.EventRule{},
	"EventRuleList":           api.EventRuleList{},
	"DeliveryList":            api.DeliveryList{},
	"Delivery":                store.Delivery{},
	"PushTargetRequest":       api.PushTargetRequest{},
	"PushTarget":              api.PushTarget{},
	"PushRequest":             api.PushRequest{},
	"PushReport":              api.PushReport{},
	"SyncReport":              api.SyncReport{},
	"RemoteEventAnswer":       api.RemoteEventAnswer{},
	"Posture":                 api.Posture{},
	"SourcePosture":           api.SourcePosture{},
	"PostureLocation":         api.PostureLocation{},
	"CopyStats":               api.CopyStats{},
	"CopyReport":              api.CopyReport{},
	"PointOrigin":             repo.Origin{},
	"SessionRequest":          api.SessionRequest{},
	"SessionResponse":         api.SessionResponse{},
	"UploadResult":            api.UploadResult{},
	"CommitRequest":           api.CommitRequest{},
	"BindingRequest":          api.BindingRequest{},
	"Role":                    api.Role{},
	"ErrorBody":               api.ErrorBody{},
	"ErrorDetail":             api.ErrorDetail{},
	"MaintenanceReport":       api.MaintenanceReport{},
	"PlanMaintenance":         api.PlanMaintenance{},
	"PlanPoint":               api.PlanPoint{},
	"Point":                   api.Point{},
	"RetentionRequest":        api.RetentionRequest{},
	"HoldRequest":             api.HoldRequest{},
	"LoginRequest":            api.LoginRequest{},
	"NewToken":                api.NewToken{},
	"Whoami":                  api.Whoami{},
	"PrincipalRequest":        api.PrincipalRequest{},
	"Principal":               api.Principal{},
	"PrincipalUpdate":         api.PrincipalUpdate{},
	"PasswordChange":          api.PasswordChange{},
	"TOTPRequest":             api.TOTPRequest{},
	"TokenRequest":            api.TokenRequest{},
	"RestoreResponse":         api.RestoreResponse{},
	"ServerInfo":              api.ServerInfo{},
	"VaultRequest":            api.VaultRequest{},
	"Vault":                   api.Vault{},
	"VaultUpdate":             api.VaultUpdate{},
	"LockRequest":             api.LockRequest{},
	"VerifyRequest":           api.VerifyRequest{},
	"VerifyReport":            api.VerifyReport{},
	"VerifyProblem":           api.VerifyProblem{},
	"VerifyAffected":          api.VerifyAffected{},
	"PointVerified":           api.PointVerified{},
	"PointVerdict":            api.PointVerdict{},
	"PointList":               api.PointList{},
	"ScanRequest":             api.ScanRequest{},
	"ScanReport":              api.ScanReport{},
	"RestoreRequest":          api.RestoreRequest{},
	"EventPage":               api.EventPage{},
	"TeamRequest":             api.TeamRequest{},
	"TeamChange":              api.TeamChange{},
	"TeamAccept":              api.TeamAccept{},
	"Team":                    api.Team{},
	"ApprovalSettingsRequest": api.ApprovalSettingsRequest{},
	"ApprovalSettings":        api.ApprovalSettings{},
	"Approval":                api.Approval{},
	"Pending":                 api.Pending{},
	"ConfirmRequest":          api.ConfirmRequest{},
	"VoteRequest":             api.VoteRequest{},
	"AccessRequest":           api.AccessRequest{},
	"NewGrant":                api.NewGrant{},
	"TeamMember":              approval.Member{},
	"ApprovalRequest":         approval.Request{},
	"ApprovalRecord":          approval.Record{},
	"Ballot":                  approval.Ballot{},
	"Grant":                   store.Grant{},
	"ScanEvidence":            store.ScanEvidence{},
	"ScanStats":               store.ScanStats{},
	"Event":                   store.Event{},
	"PlanError":               api.PlanError{},
	"PlanRecord":              api.Plan{},
	"PlanList":                api.PlanList{},
	"PlanChange":              plan.PlanChange{},
	"PlanFieldChange":         plan.Change{},
	"AgentPlans":              api.AgentPlans{},
	"ClaimRequest":            api.ClaimRequest{},
	"AgentJob":                api.AgentJob{},
	"ProgressRequest":         api.ProgressRequest{},
	"FinishRequest":           api.FinishRequest{},
	"HookReport":              api.HookReport{},
	// store
	"StorePrincipal": store.Principal{},
	"Token":          store.Token{},
	"Binding":        store.Binding{},
	"StoreVault":     store.Vault{},
	"StorePoint":     store.Point{},
	"TOTPEnrollment": api.TOTPEnrollment{},
	"Hold":           store.Hold{},
	"Job":            JobView{},
	// what they embed
	"RoleBinding":     rbac.Binding{},
	"Constraint":      rbac.Constraint{},
	"Lock":            retention.Lock{},
	"Policy":          retention.Policy{},
	"LegalHold":       retention.Hold{},
	"Summary":         repo.Summary{},
	"GCStats":         prune.Stats{},
	"AuditEntry":      audit.Entry{},
	"AuditCheckpoint": audit.Checkpoint{},
}

// requestTypes are decoded from requests: their schemas' required lists
// say what the server needs, not what the encoding always has.
var requestTypes = map[string]bool{
	"SessionRequest": true, "CommitRequest": true, "BindingRequest": true, "RetentionRequest": true,
	"HoldRequest": true, "LoginRequest": true, "PrincipalRequest": true, "PrincipalUpdate": true,
	"PasswordChange": true, "TOTPRequest": true, "TokenRequest": true, "VaultRequest": true,
	"VaultUpdate": true, "LockRequest": true, "VerifyRequest": true, "ScanRequest": true, "RestoreRequest": true,
	"TeamRequest": true, "TeamChange": true, "TeamAccept": true, "ApprovalSettingsRequest": true, "ConfirmRequest": true,
	"VoteRequest": true, "AccessRequest": true, "ClaimRequest": true, "ProgressRequest": true, "FinishRequest": true,
	"PushTargetRequest": true, "PushRequest": true,
}

// marshalSamples are filled-in values of the types that encode themselves
// (json.Marshaler): their fields are read from what they write, those left
// out of the zero value's encoding being optional.
var marshalSamples = map[string]any{
	"Lock":   retention.Lock{Mode: retention.Governance, MinRetention: time.Hour, SetAt: time.Unix(1, 0)},
	"Policy": retention.Policy{Retention: time.Hour},
}

// marshalledFields lists the fields of the JSON that zero and sample encode to.
func marshalledFields(t *testing.T, zero, sample any) []jsonField {
	t.Helper()
	decode := func(v any) map[string]any {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	z, full := decode(zero), decode(sample)
	var out []jsonField
	for k, v := range full {
		typ := reflect.TypeOf(v)
		if _, isObj := v.(map[string]any); isObj {
			typ = reflect.TypeFor[struct{}]()
		}
		_, always := z[k]
		out = append(out, jsonField{name: k, optional: !always, typ: typ})
	}
	return out
}

// jsonField is one field of a type's JSON encoding.
type jsonField struct {
	name     string
	optional bool // omitempty or omitzero
	typ      reflect.Type
}

// jsonFields lists the fields encoding/json writes for t, embedded
// structs flattened.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				out = append(out, jsonFields(et)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := false
		for _, o := range strings.Split(opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		out = append(out, jsonField{name: name, optional: optional, typ: f.Type})
	}
	return out
}

// jsonType is the JSON Schema type a Go type encodes to.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[time.Time]():
		return "string"
	case reflect.TypeFor[json.RawMessage]():
		return "object" // audit details are JSON objects
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string" // base64
		}
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return ""
}

// schemaFields collects a schema's properties and required names through
// $ref and allOf.
func schemaFields(t *testing.T, root, s *yaml.Node, props map[string]*yaml.Node, required map[string]bool) {
	t.Helper()
	s = deref(t, root, s)
	if all := get(s, "allOf"); all != nil {
		for _, part := range all.Content {
			schemaFields(t, root, part, props, required)
		}
	}
	names, values := pairs(get(s, "properties"))
	for i, n := range names {
		props[n] = values[i]
	}
	if req := get(s, "required"); req != nil {
		for _, r := range req.Content {
			required[r.Value] = true
		}
	}
}

// schemaType returns the types a property schema allows, through $ref
// and allOf; nil when it does not say.
func schemaType(t *testing.T, root, s *yaml.Node) []string {
	t.Helper()
	if ty := get(s, "type"); ty != nil {
		if ty.Kind == yaml.SequenceNode {
			var out []string
			for _, c := range ty.Content {
				out = append(out, c.Value)
			}
			return out
		}
		return []string{ty.Value}
	}
	if get(s, "$ref") != nil {
		return schemaType(t, root, deref(t, root, s))
	}
	if all := get(s, "allOf"); all != nil && len(all.Content) > 0 {
		return schemaType(t, root, all.Content[0])
	}
	return nil
}

func TestOpenAPISchemasMatchTypes(t *testing.T) {
	root := openAPIDoc(t)
	schemas := get(get(root, "components"), "schemas")
	if schemas == nil {
		t.Fatal("openapi.yaml has no components/schemas")
	}
	for name, v := range schemaTypes {
		s := get(schemas, name)
		if s == nil {
			t.Errorf("no schema %s for %T", name, v)
			continue
		}
		props, required := map[string]*yaml.Node{}, map[string]bool{}
		schemaFields(t, root, s, props, required)
		fields := jsonFields(reflect.TypeOf(v))
		if _, custom := v.(json.Marshaler); custom {
			fields = marshalledFields(t, v, marshalSamples[name])
		}
		seen := map[string]bool{}
		for _, f := range fields {
			seen[f.name] = true
			p, ok := props[f.name]
			if !ok {
				t.Errorf("schema %s lacks property %s of %T", name, f.name, v)
				continue
			}
			if want, have := jsonType(f.typ), schemaType(t, root, p); want != "" && have != nil && !slices.Contains(have, want) {
				t.Errorf("schema %s: property %s is %v, but %T encodes it as %s", name, f.name, have, v, want)
			}
			if requestTypes[name] {
				continue
			}
			if !f.optional && !required[f.name] {
				t.Errorf("schema %s: property %s is always present in %T's JSON; list it as required", name, f.name, v)
			}
			if f.optional && required[f.name] {
				t.Errorf("schema %s: property %s is left out of %T's JSON when empty; it cannot be required", name, f.name, v)
			}
		}
		for p := range props {
			if !seen[p] {
				t.Errorf("schema %s has property %s, which %T does not encode", name, p, v)
			}
		}
		for r := range required {
			if _, ok := props[r]; !ok {
				t.Errorf("schema %s requires %s, which it does not define", name, r)
			}
		}
	}

	// Every body type of package api has its schema.
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, "../api", nil, 0)
	if err != nil {
		t.Fatalf("parse internal/api: %v", err)
	}
	documented := map[string]bool{}
	for _, v := range schemaTypes {
		if rt := reflect.TypeOf(v); rt.PkgPath() == reflect.TypeFor[api.Point]().PkgPath() {
			documented[rt.Name()] = true
		}
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.TYPE {
					continue
				}
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					if _, isStruct := ts.Type.(*ast.StructType); isStruct && ts.Name.IsExported() && !documented[ts.Name.Name] {
						t.Errorf("api.%s has no schema in openapi.yaml (add it, and to schemaTypes in openapi_test.go)", ts.Name.Name)
					}
				}
			}
		}
	}
}
