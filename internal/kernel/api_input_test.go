package kernel_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/kerneltest"
)

// writeRoute is a route that takes a JSON body, with what it takes to reach
// its decoder: a principal allowed to call it, and a string field.
type writeRoute struct {
	method, path, who string
	strField          string
	wrongTypes        []string // bodies with a field of the wrong JSON type
	unknown           []string // fields the route must refuse
	invalid           []string // well-formed bodies that fail validation
}

func writeRoutes(w *world) []writeRoute {
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	return []writeRoute{
		{method: "POST", path: "/api/v1/auth/login", who: "", strField: "email",
			wrongTypes: []string{`{"email":1,"password":"x"}`, `{"email":"a@b.c","password":true}`},
			unknown:    []string{"id", "role", "tenant_id"},
			invalid:    []string{`{"email":"","password":""}`, `{"email":"a@b.c"}`}},
		{method: "POST", path: "/api/v1/auth/refresh", who: "", strField: "refresh_token",
			wrongTypes: []string{`{"refresh_token":123}`},
			unknown:    []string{"user_id", "family_id"},
			invalid:    []string{`{"refresh_token":""}`}},
		{method: "POST", path: "/api/v1/auth/logout", who: "", strField: "refresh_token",
			wrongTypes: []string{`{"refresh_token":{}}`},
			unknown:    []string{"user_id"},
			invalid:    []string{`{}`}},
		{method: "POST", path: "/api/v1/tenants", who: "admin", strField: "name",
			wrongTypes: []string{`{"name":["x"],"slug":"ok"}`, `{"name":"x","slug":"ok","settings":[1]}`},
			unknown:    []string{"id", "path", "status", "tenant_id", "version"},
			invalid: []string{`{"name":"","slug":"Not A Slug"}`, `{"name":"x","slug":"ok-slug","parent_id":"nope"}`, `{"name":"   ","slug":"blank-name"}`,
				`{"name":"x","slug":"ok-slug","parent_id":"` + uuid.NewString() + `"}`}},
		{method: "PATCH", path: "/api/v1/tenants/" + w.tenants["A"], who: "admin", strField: "name",
			wrongTypes: []string{`{"version":"1"}`, `{"settings":"x"}`, `{"status":1}`},
			unknown:    []string{"parent_id", "path", "id", "created_at"},
			invalid:    []string{`{"status":"deleted"}`, `{"slug":"-bad"}`, `{"name":""}`, `{"name":" \t "}`, `{"version":0}`}},
		{method: "POST", path: "/api/v1/tenants/" + w.tenants["A"] + "/users", who: "ownerA", strField: "email",
			wrongTypes: []string{`{"email":"x@example.com","password":"long-enough-pw","role":5}`, `{"email":null,"password":1}`},
			unknown:    []string{"tenant_id", "id", "status", "password_hash", "version"},
			invalid: []string{`{"email":"nope","password":"long-enough-pw","role":"agent"}`,
				`{"email":"x@example.com","password":"long-enough-pw","role":"god"}`,
				`{"email":"x@example.com","password":"short","role":"agent"}`,
				`{"email":"x@example.com","password":"long-enough-pw"}`}},
		{method: "PATCH", path: "/api/v1/users/" + w.users["agentA"], who: "ownerA", strField: "name",
			wrongTypes: []string{`{"version":"x"}`, `{"role":1}`, `{"name":{"a":1}}`},
			unknown:    []string{"tenant_id", "id", "password_hash", "totp_secret"},
			invalid:    []string{`{"role":"god"}`, `{"status":"deleted"}`, `{"email":"x"}`, `{"password":"short"}`}},
		{method: "POST", path: "/api/v1/api-keys", who: "ownerA", strField: "name",
			wrongTypes: []string{`{"name":"k","scopes":"users:read"}`, `{"name":"k","scopes":[1]}`, `{"name":"k","scopes":["users:read"],"expires_at":5}`},
			unknown:    []string{"tenant_id", "id", "key_hash", "prefix", "revoked_at"},
			invalid: []string{`{"name":"k","scopes":[]}`, `{"name":"","scopes":["users:read"]}`, `{"name":"k","scopes":["nope:x"]}`,
				`{"name":"k","scopes":["users:read"],"expires_at":"` + past + `"}`}},
	}
}

// TestAPIBadInputWritesNothing sends every kind of bad body to every route
// that takes one; each is refused with the envelope and leaves every
// security table exactly as it was.
func TestAPIBadInputWritesNothing(t *testing.T) {
	w := newWorld(t)
	huge := `{"x":"` + strings.Repeat("a", 1<<20) + `"}`
	type tc struct {
		name    string
		body    string
		headers []string
		status  int
		code    string
	}
	for _, r := range writeRoutes(w) {
		cases := []tc{
			{"malformed json", `{"` + r.strField + `":`, nil, 400, "invalid_json"},
			{"not json", `hello`, nil, 400, "invalid_json"},
			{"trailing data", `{} {}`, nil, 400, "invalid_json"},
			{"empty body", ``, nil, 400, "empty_body"},
			{"array body", `[]`, nil, 400, "invalid_type"},
			{"invalid utf-8", `{"` + r.strField + `":"` + "a\xff\xfeb" + `"}`, nil, 400, "invalid_utf8"},
			{"oversize body", huge, nil, 413, "body_too_large"},
			{"text/plain", `{}`, []string{"Content-Type", "text/plain"}, 400, "unsupported_media_type"},
			{"form", r.strField + `=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, "unsupported_media_type"},
			{"bad content type", `{}`, []string{"Content-Type", ";;;"}, 400, "unsupported_media_type"},
		}
		for i, b := range r.wrongTypes {
			cases = append(cases, tc{"wrong type " + string(rune('a'+i)), b, nil, 400, "invalid_type"})
		}
		for _, f := range r.unknown {
			cases = append(cases, tc{"unknown field " + f, `{"` + r.strField + `":"x@example.com","` + f + `":"` + w.tenants["B"] + `"}`, nil, 400, "unknown_field"})
		}
		for i, b := range r.invalid {
			cases = append(cases, tc{"invalid " + string(rune('a'+i)), b, nil, 422, ""})
		}
		for _, c := range cases {
			t.Run(r.method+" "+r.path+"/"+c.name, func(t *testing.T) {
				before := w.snapshot(t)
				res := w.do(t, r.method, r.path, r.who, c.body, c.headers...)
				wantError(t, res, c.status, c.code)
				if c.status == 422 {
					if d := res.JSON()["error"].(map[string]any)["details"].([]any); len(d) == 0 {
						t.Fatalf("a validation error names no field: %s", res.Body)
					}
				}
				if strings.HasPrefix(c.name, "unknown field ") {
					d := res.JSON()["error"].(map[string]any)["details"].([]any)
					if len(d) != 1 || d[0].(map[string]any)["field"] != strings.TrimPrefix(c.name, "unknown field ") {
						t.Fatalf("details do not name the unknown field: %s", res.Body)
					}
				}
				w.unchanged(t, before)
			})
		}
	}

	// A body without a length is cut off at the limit as it streams in.
	t.Run("chunked oversize body", func(t *testing.T) {
		before := w.snapshot(t)
		body := io.MultiReader(strings.NewReader(`{"name":"x","slug":"chunked","settings":{"x":"`),
			strings.NewReader(strings.Repeat("a", 2<<20)), strings.NewReader(`"}}`))
		req, err := http.NewRequest("POST", w.url+"/api/v1/tenants", io.NopCloser(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+w.token("admin"))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 413 || !bytes.Contains(b, []byte(`"body_too_large"`)) {
			t.Fatalf("chunked oversize: %d %s", res.StatusCode, b)
		}
		w.unchanged(t, before)
	})

	// A body just under the limit is read: the limit is not off by a lot.
	t.Run("body under the limit is accepted", func(t *testing.T) {
		pad := strings.Repeat("a", 1<<20-200)
		res := w.do(t, "POST", "/api/v1/tenants", "admin", `{"name":"Big","slug":"big","settings":{"pad":"`+pad+`"}}`)
		if res.Status != http.StatusCreated {
			t.Fatalf("under the limit: %d %.300s", res.Status, res.Body)
		}
	})
}

// TestAPIUnknownRoutesAndMethods checks that every miss under /api answers
// with the JSON envelope, authenticated or not.
func TestAPIUnknownRoutesAndMethods(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name, method, path, who string
		status                  int
		code                    string
		allow                   string // a method the Allow header must name
	}{
		{"unknown route anonymous", "GET", "/api/v1/nope", "", 404, "route_not_found", ""},
		{"unknown route signed in", "GET", "/api/v1/nope", "admin", 404, "route_not_found", ""},
		// echo lets a last path parameter run to the end of the path, so the
		// handler sees an id that is no id: still a 404 envelope.
		{"unknown deep route", "GET", "/api/v1/users/" + w.users["agentA"] + "/nope", "admin", 404, "", ""},
		{"unknown version", "POST", "/api/v2/users", "admin", 404, "route_not_found", ""},
		{"bare prefix", "GET", "/api/", "", 404, "route_not_found", ""},
		{"PUT on a list", "PUT", "/api/v1/users", "admin", 405, "method_not_allowed", "GET"},
		{"DELETE on login", "DELETE", "/api/v1/auth/login", "", 405, "method_not_allowed", "POST"},
		{"GET on login", "GET", "/api/v1/auth/login", "", 405, "method_not_allowed", "POST"},
		{"POST on system", "POST", "/api/v1/system", "admin", 405, "method_not_allowed", "GET"},
		{"PUT on a user", "PUT", "/api/v1/users/" + w.users["agentA"], "admin", 405, "method_not_allowed", "PATCH"},
		{"PATCH on an api key", "PATCH", "/api/v1/api-keys/" + w.keys["keyA"].ID, "ownerA", 405, "method_not_allowed", "DELETE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := w.snapshot(t)
			res := w.do(t, c.method, c.path, c.who, nil)
			wantError(t, res, c.status, c.code)
			if allow := res.Header.Get("Allow"); c.allow != "" && !strings.Contains(allow, c.allow) {
				t.Fatalf("Allow = %q, want it to name %s", allow, c.allow)
			}
			w.unchanged(t, before)
		})
	}
}

// TestAPIErrorEnvelopeDetails checks the envelope's request id and that a
// 500 shows nothing of its cause.
func TestAPIErrorEnvelopeDetails(t *testing.T) {
	k := kerneltest.New(t)
	c := kerneltest.NewClient(t, kerneltest.Server(t, k).URL)
	admin := c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)

	t.Run("a sane request id is kept", func(t *testing.T) {
		res := c.Do("GET", "/api/v1/nope", "", nil, "X-Request-Id", "trace-42.a_b")
		wantError(t, res, http.StatusNotFound, "route_not_found")
		if res.Header.Get("X-Request-Id") != "trace-42.a_b" {
			t.Fatalf("X-Request-Id = %q", res.Header.Get("X-Request-Id"))
		}
	})
	t.Run("an unsafe request id is replaced", func(t *testing.T) {
		for _, bad := range []string{"<script>alert(1)</script>", "a b", strings.Repeat("x", 65), "line\u2028break"} {
			res := c.Do("GET", "/api/v1/nope", "", nil, "X-Request-Id", bad)
			wantError(t, res, http.StatusNotFound, "route_not_found")
			if _, err := uuid.Parse(res.Header.Get("X-Request-Id")); err != nil {
				t.Fatalf("request id %q was not replaced: %q", bad, res.Header.Get("X-Request-Id"))
			}
		}
	})
	t.Run("a 500 hides its cause", func(t *testing.T) {
		if err := k.DB.Close(); err != nil {
			t.Fatal(err)
		}
		res := c.Do("GET", "/api/v1/users", admin, nil)
		wantError(t, res, http.StatusInternalServerError, "internal_error")
		for _, leak := range []string{"sql", "database", "closed", "gorm", "kernel_users"} {
			if strings.Contains(strings.ToLower(string(res.Body)), leak) {
				t.Fatalf("the 500 shows %q: %s", leak, res.Body)
			}
		}
	})
}
