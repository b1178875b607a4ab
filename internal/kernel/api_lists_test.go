package kernel_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/platform/platform/internal/kernel/security"
)

// TestAPILists covers paging, sorting and filtering of every list: per_page
// is capped, bad parameters are a 422 that names them, and results come
// sorted and filtered.
func TestAPILists(t *testing.T) {
	w := newWorld(t)
	a := w.tenants["A"]
	// 110 extra users in tenant B, written straight to the table: argon2
	// would make this slow through the API, and listing needs no password.
	ctx := context.Background()
	now := time.Now().UTC()
	for i := range 110 {
		u := security.User{ID: uuid.Must(uuid.NewV7()).String(), TenantID: w.tenants["B"], Email: fmt.Sprintf("bulk%03d@example.com", i),
			Name: fmt.Sprintf("Bulk %03d", 109-i), PasswordHash: "x", Role: security.RoleCustomer, Status: security.StatusActive,
			Version: 1, CreatedAt: now.Add(time.Duration(i) * time.Millisecond), UpdatedAt: now}
		if err := w.k.DB.Conn(ctx).Create(&u).Error; err != nil {
			t.Fatal(err)
		}
	}
	w.must(t, http.StatusOK, "PATCH", "/api/v1/users/"+w.users["customerA"], "ownerA", map[string]any{"status": "suspended"})
	w.createKey(t, "ownerA", "another key", "users:read")
	revoked := w.createKey(t, "ownerA", "revoked key", "users:read")
	w.must(t, http.StatusNoContent, "DELETE", "/api/v1/api-keys/"+revoked.ID, "ownerA", nil)

	lists := []string{"/api/v1/users", "/api/v1/tenants", "/api/v1/api-keys", "/api/v1/audit-events", "/api/v1/tenants/" + a + "/users"}

	t.Run("per_page is capped at 100", func(t *testing.T) {
		for _, path := range []string{"/api/v1/users?per_page=1000", "/api/v1/users?per_page=101", "/api/v1/users?tenant_id=" + w.tenants["B"] + "&per_page=100000"} {
			m := w.must(t, http.StatusOK, "GET", path, "admin", nil)
			if m["per_page"] != float64(100) || len(items(t, m)) != 100 || m["total"].(float64) <= 100 {
				t.Fatalf("%s: per_page %v, %d items, total %v", path, m["per_page"], len(items(t, m)), m["total"])
			}
		}
		m := w.must(t, http.StatusOK, "GET", "/api/v1/users", "admin", nil)
		if m["per_page"] != float64(20) || len(items(t, m)) != 20 {
			t.Fatalf("default page: per_page %v, %d items", m["per_page"], len(items(t, m)))
		}
	})

	t.Run("bad paging and sorting are a 422 naming the parameter", func(t *testing.T) {
		bad := []struct{ query, field string }{
			{"page=0", "page"}, {"page=-1", "page"}, {"page=abc", "page"}, {"page=1.5", "page"}, {"page=99999999999", "page"},
			{"per_page=0", "per_page"}, {"per_page=-5", "per_page"}, {"per_page=ten", "per_page"},
			{"sort=password_hash", "sort"}, {"sort=-nope", "sort"}, {"sort=created_at%3BDROP%20TABLE%20kernel_users", "sort"}, {"sort=created_at%20DESC", "sort"},
			{"sort=--created_at", "sort"}, {"q=" + strings.Repeat("x", 201), "q"},
		}
		for _, path := range lists {
			for _, b := range bad {
				t.Run(path+"?"+b.query, func(t *testing.T) {
					res := w.do(t, "GET", path+"?"+b.query, "admin", nil)
					wantError(t, res, http.StatusUnprocessableEntity, "invalid_query")
					d := res.JSON()["error"].(map[string]any)["details"].([]any)
					if len(d) != 1 || d[0].(map[string]any)["field"] != b.field {
						t.Fatalf("details do not name %s: %s", b.field, res.Body)
					}
				})
			}
		}
		wantError(t, w.do(t, "GET", "/api/v1/api-keys?revoked=maybe", "ownerA", nil), http.StatusUnprocessableEntity, "invalid_query")
	})

	t.Run("sorted", func(t *testing.T) {
		for _, c := range []struct {
			path, field string
			desc        bool
		}{
			{"/api/v1/users?sort=email&per_page=100", "email", false},
			{"/api/v1/users?sort=-email&per_page=100", "email", true},
			{"/api/v1/users?sort=name&per_page=100&tenant_id=" + w.tenants["B"], "name", false},
			{"/api/v1/users?sort=-role&per_page=100", "role", true},
			{"/api/v1/tenants?sort=slug", "slug", false},
			{"/api/v1/tenants?sort=-name", "name", true},
			{"/api/v1/api-keys?sort=name", "name", false},
			{"/api/v1/api-keys?sort=-name", "name", true},
		} {
			t.Run(c.path, func(t *testing.T) {
				who := "admin"
				if strings.Contains(c.path, "api-keys") {
					who = "ownerA"
				}
				var got []string
				for _, it := range items(t, w.must(t, http.StatusOK, "GET", c.path, who, nil)) {
					got = append(got, it[c.field].(string))
				}
				if len(got) < 2 {
					t.Fatalf("too few items to tell an order: %v", got)
				}
				want := slices.Clone(got)
				// SQLite sorts bytes; MariaDB sorts by its collation, which
				// ignores case and puts '@' before digits: compare the part
				// before the domain every address shares.
				key := func(s string) string { return s }
				if w.k.DB.Dialect() == "mysql" {
					key = func(s string) string { return strings.ToLower(strings.TrimSuffix(s, "@example.com")) }
				}
				slices.SortStableFunc(want, func(x, y string) int {
					r := strings.Compare(key(x), key(y))
					if c.desc {
						return -r
					}
					return r
				})
				if !slices.Equal(got, want) {
					t.Fatalf("not sorted by %s (desc %v): %v", c.field, c.desc, got)
				}
			})
		}
	})

	t.Run("pages walk the whole list once", func(t *testing.T) {
		var walked []string
		for page := 1; ; page++ {
			m := w.must(t, http.StatusOK, "GET", fmt.Sprintf("/api/v1/users?sort=email&per_page=7&page=%d", page), "admin", nil)
			got := ids(t, m)
			if len(got) == 0 {
				if len(walked) != int(m["total"].(float64)) {
					t.Fatalf("walked %d users, total says %v", len(walked), m["total"])
				}
				break
			}
			walked = append(walked, got...)
		}
		all := ids(t, w.must(t, http.StatusOK, "GET", "/api/v1/users?sort=email&per_page=100&page=1", "admin", nil))
		all = append(all, ids(t, w.must(t, http.StatusOK, "GET", "/api/v1/users?sort=email&per_page=100&page=2", "admin", nil))...)
		if !slices.Equal(walked, all) {
			t.Fatal("small pages and large pages disagree")
		}
	})

	t.Run("filters with bytes that are not UTF-8 match nothing and break nothing", func(t *testing.T) {
		for _, path := range []string{"/api/v1/users?q=%FF%FE", "/api/v1/users?role=%FF&status=%C3%28", "/api/v1/tenants?q=%FF&parent_id=%FF",
			"/api/v1/audit-events?action=%FF&actor_id=%C3%28&target_type=%FF&target_id=%FF", "/api/v1/api-keys?sort=%FF"} {
			res := w.do(t, "GET", path, "admin", nil)
			if res.Status == http.StatusOK {
				if n := len(items(t, res.JSON())); n != 0 {
					t.Fatalf("%s matched %d items", path, n)
				}
				continue
			}
			wantError(t, res, http.StatusUnprocessableEntity, "invalid_query")
		}
	})

	t.Run("filtered", func(t *testing.T) {
		for _, c := range []struct {
			who, path string
			check     func(map[string]any) bool
			n         int // exact count, or -1
		}{
			{"admin", "/api/v1/users?role=agent&per_page=100", func(u map[string]any) bool { return u["role"] == "agent" }, 3},
			{"ownerA", "/api/v1/users?status=suspended", func(u map[string]any) bool { return u["id"] == w.users["customerA"] }, 1},
			{"ownerA", "/api/v1/users?q=AGENT", func(u map[string]any) bool { return u["id"] == w.users["agentA"] }, 1},
			{"admin", "/api/v1/users?q=bulk10&per_page=100", func(u map[string]any) bool { return strings.HasPrefix(u["email"].(string), "bulk10") }, 10},
			{"admin", "/api/v1/users?q=%25", func(map[string]any) bool { return false }, 0},
			{"admin", "/api/v1/users?q=_", func(map[string]any) bool { return false }, 0},
			{"admin", "/api/v1/tenants?parent_id=" + a, func(t map[string]any) bool { return t["id"] == w.tenants["A1"] }, 1},
			{"admin", "/api/v1/tenants?q=tenant-a", func(t map[string]any) bool { return t["id"] == a || t["id"] == w.tenants["A1"] }, 2},
			{"ownerA", "/api/v1/api-keys?revoked=true", func(k map[string]any) bool { return k["id"] == revoked.ID && k["revoked_at"] != nil }, 1},
			{"ownerA", "/api/v1/api-keys?revoked=false", func(k map[string]any) bool { return k["revoked_at"] == nil && k["id"] != revoked.ID }, 2},
		} {
			t.Run(c.who+" "+c.path, func(t *testing.T) {
				m := w.must(t, http.StatusOK, "GET", c.path, c.who, nil)
				got := items(t, m)
				if len(got) != c.n || int(m["total"].(float64)) != c.n {
					t.Fatalf("%d items (total %v), want %d: %v", len(got), m["total"], c.n, got)
				}
				for _, it := range got {
					if !c.check(it) {
						t.Fatalf("an item does not match the filter: %v", it)
					}
				}
			})
		}
	})
}
