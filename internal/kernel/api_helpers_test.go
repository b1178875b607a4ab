package kernel_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/kerneltest"
)

// testPassword is the password of every user a world creates.
const testPassword = "correct-horse-battery"

// world is a kernel with a small tenant tree and a user of every role,
// shared by the subtests of one test function: argon2 makes users dear.
//
//	platform (root): admin
//	A (franchise):   ownerA partnerA agentA customerA, key keyA (users:read)
//	└─ A1:           ownerA1 agentA1
//	B (unrelated):   ownerB agentB, key keyB (most of an owner's permissions)
type world struct {
	k       *kernel.Kernel
	url     string
	tenants map[string]string // label → id
	users   map[string]string // label → id
	tokens  map[string]string // label → access token
	keys    map[string]apiKey // label → key
}

type apiKey struct {
	ID, Secret string
}

// userSpec is one user of the world: label, home tenant label and role.
var worldUsers = []struct{ label, tenant, role string }{
	{"ownerA", "A", "owner"}, {"partnerA", "A", "partner"}, {"agentA", "A", "agent"}, {"customerA", "A", "customer"},
	{"ownerA1", "A1", "owner"}, {"agentA1", "A1", "agent"},
	{"ownerB", "B", "owner"}, {"agentB", "B", "agent"},
}

func newWorld(t *testing.T, mods ...kernel.Module) *world {
	t.Helper()
	return newWorldOn(t, kerneltest.New(t, mods...))
}

func newWorldOn(t *testing.T, k *kernel.Kernel) *world {
	t.Helper()
	srv := kerneltest.Server(t, k)
	w := &world{k: k, url: srv.URL, tenants: map[string]string{}, users: map[string]string{},
		tokens: map[string]string{}, keys: map[string]apiKey{}}
	w.tokens["admin"] = w.client(t).Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	me := w.must(t, http.StatusOK, "GET", "/api/v1/auth/me", "admin", nil)
	w.tenants["root"], w.users["admin"] = me["tenant_id"].(string), me["id"].(string)

	w.tenants["A"] = w.createTenant(t, "admin", "Tenant A", "tenant-a", "")
	w.tenants["A1"] = w.createTenant(t, "admin", "Tenant A1", "tenant-a1", w.tenants["A"])
	w.tenants["B"] = w.createTenant(t, "admin", "Tenant B", "tenant-b", "")
	// Users are made and signed in side by side: argon2 is most of the cost.
	type made struct{ id, token, err string }
	out := make([]made, len(worldUsers))
	var wg sync.WaitGroup
	for i, u := range worldUsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, m := postJSON(w.url+"/api/v1/tenants/"+w.tenants[u.tenant]+"/users", w.tokens["admin"],
				map[string]any{"email": emailOf(u.label), "password": testPassword, "role": u.role, "name": u.label})
			if st != http.StatusCreated {
				out[i].err = fmt.Sprintf("create %s: %d %v", u.label, st, m)
				return
			}
			out[i].id, _ = m["id"].(string)
			st, m = postJSON(w.url+"/api/v1/auth/login", "", map[string]any{"email": emailOf(u.label), "password": testPassword})
			if st != http.StatusOK {
				out[i].err = fmt.Sprintf("login %s: %d %v", u.label, st, m)
				return
			}
			out[i].token, _ = m["access_token"].(string)
		}()
	}
	wg.Wait()
	for i, u := range worldUsers {
		if out[i].err != "" {
			t.Fatal(out[i].err)
		}
		w.users[u.label], w.tokens[u.label] = out[i].id, out[i].token
	}
	w.keys["keyA"] = w.createKey(t, "ownerA", "key A", "users:read")
	w.keys["keyB"] = w.createKey(t, "ownerB", "key B", "users:read", "users:write", "api_keys:read", "api_keys:write", "tenants:read", "audit:read")
	return w
}

// postJSON posts body as JSON without a testing.TB, for use off the test's
// goroutine; a transport error is status 0.
func postJSON(url, token string, body any) (int, map[string]any) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func emailOf(label string) string { return strings.ToLower(label) + "@example.com" }

// token resolves a principal label to its bearer credential: a user's access
// token, an API key's secret, "" for none, or the string itself.
func (w *world) token(who string) string {
	if tok, ok := w.tokens[who]; ok {
		return tok
	}
	if k, ok := w.keys[who]; ok {
		return k.Secret
	}
	return who
}

// client is a client that fails t.
func (w *world) client(t testing.TB) *kerneltest.Client { return kerneltest.NewClient(t, w.url) }

// do sends a request as who.
func (w *world) do(t testing.TB, method, path, who string, body any, headers ...string) *kerneltest.Response {
	t.Helper()
	return w.client(t).Do(method, path, w.token(who), body, headers...)
}

// must sends a request that has to answer status and returns its JSON.
func (w *world) must(t testing.TB, status int, method, path, who string, body any, headers ...string) map[string]any {
	t.Helper()
	res := w.do(t, method, path, who, body, headers...)
	if res.Status != status {
		t.Fatalf("%s %s as %s: got %d %s, want %d", method, path, who, res.Status, res.Body, status)
	}
	return res.JSON()
}

func (w *world) createTenant(t testing.TB, who, name, slug, parent string) string {
	t.Helper()
	body := map[string]any{"name": name, "slug": slug}
	if parent != "" {
		body["parent_id"] = parent
	}
	return w.must(t, http.StatusCreated, "POST", "/api/v1/tenants", who, body)["id"].(string)
}

func (w *world) createUser(t testing.TB, who, tenantID, label, role string) string {
	t.Helper()
	return w.must(t, http.StatusCreated, "POST", "/api/v1/tenants/"+tenantID+"/users", who,
		map[string]any{"email": emailOf(label), "password": testPassword, "role": role, "name": label})["id"].(string)
}

func (w *world) createKey(t testing.TB, who, name string, scopes ...string) apiKey {
	t.Helper()
	m := w.must(t, http.StatusCreated, "POST", "/api/v1/api-keys", who, map[string]any{"name": name, "scopes": scopes})
	return apiKey{ID: m["id"].(string), Secret: m["key"].(string)}
}

// items is the items array of a list response.
func items(t testing.TB, m map[string]any) []map[string]any {
	t.Helper()
	raw, ok := m["items"].([]any)
	if !ok {
		t.Fatalf("no items array in %v", m)
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

// ids is the "id" of every item of a list response.
func ids(t testing.TB, m map[string]any) []string {
	t.Helper()
	var out []string
	for _, it := range items(t, m) {
		out = append(out, it["id"].(string))
	}
	return out
}

// wantError checks an error response: its status, its code (when code is
// not empty) and the full envelope, whose request id is the response's.
func wantError(t testing.TB, res *kerneltest.Response, status int, code string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status = %d, want %d; body %s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON; body %s", ct, res.Body)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &env); err != nil || len(env) != 1 || env["error"] == nil {
		t.Fatalf("body is not the error envelope: %s", res.Body)
	}
	var e struct {
		Code      string            `json:"code"`
		Message   string            `json:"message"`
		RequestID string            `json:"request_id"`
		Details   *[]map[string]any `json:"details"`
	}
	if err := json.Unmarshal(env["error"], &e); err != nil {
		t.Fatalf("error envelope: %v: %s", err, res.Body)
	}
	if code != "" && e.Code != code {
		t.Fatalf("error code = %q, want %q; body %s", e.Code, code, res.Body)
	}
	if e.Code == "" || e.Message == "" || e.Details == nil {
		t.Fatalf("error envelope lacks code, message or details: %s", res.Body)
	}
	if e.RequestID == "" || e.RequestID != res.Header.Get("X-Request-Id") {
		t.Fatalf("request_id %q does not match X-Request-Id %q", e.RequestID, res.Header.Get("X-Request-Id"))
	}
}

// stateTables are the tables a security write can touch.
var stateTables = []string{"kernel_tenants", "kernel_users", "kernel_api_keys", "kernel_refresh_tokens", "kernel_audit_events"}

// snapshot renders every row of the security tables, so that a test can
// prove that a refused request wrote nothing at all.
func (w *world) snapshot(t testing.TB) string {
	t.Helper()
	return snapshotDB(t, w.k)
}

func snapshotDB(t testing.TB, k *kernel.Kernel) string {
	t.Helper()
	var b strings.Builder
	for _, table := range stateTables {
		cols, rows := kerneltest.Rows(t, k, table, "id")
		fmt.Fprintf(&b, "%s %v\n", table, cols)
		for _, vals := range rows {
			for i := range vals {
				if cols[i] == "last_used_at" {
					vals[i] = "-" // a key's use is not a write of the request under test
				}
			}
			fmt.Fprintf(&b, "  %v\n", vals)
		}
	}
	return b.String()
}

// unchanged fails when the security tables differ from before.
func (w *world) unchanged(t testing.TB, before string) {
	t.Helper()
	if after := w.snapshot(t); after != before {
		t.Fatalf("a refused request changed the database:\n%s", diffLines(before, after))
	}
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	in := func(s string, l []string) bool {
		for _, x := range l {
			if x == s {
				return true
			}
		}
		return false
	}
	var out []string
	for _, l := range al {
		if !in(l, bl) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if !in(l, al) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
