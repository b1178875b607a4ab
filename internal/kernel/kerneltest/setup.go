package kerneltest

import (
	"context"
	"net/http"
	"testing"

	"github.com/platform/platform/internal/kernel"
)

// UserPassword is the password of users made with CreateUser.
const UserPassword = "password-123456"

// CreateTenant creates a tenant as the holder of token and returns its id.
func (c *Client) CreateTenant(token, name, slug string) string {
	c.t.Helper()
	res := c.Do(http.MethodPost, "/api/v1/tenants", token, map[string]any{"name": name, "slug": slug})
	if res.Status != http.StatusCreated {
		c.t.Fatalf("create tenant %s: %d %s", slug, res.Status, res.Body)
	}
	var out struct{ ID string }
	res.Decode(c.t, &out)
	return out.ID
}

// CreateUser creates a user with UserPassword in a tenant as the holder of
// token, and returns the new user's access token.
func (c *Client) CreateUser(token, tenantID, email, role string) string {
	c.t.Helper()
	res := c.Do(http.MethodPost, "/api/v1/tenants/"+tenantID+"/users", token,
		map[string]any{"email": email, "password": UserPassword, "role": role})
	if res.Status != http.StatusCreated {
		c.t.Fatalf("create %s: %d %s", email, res.Status, res.Body)
	}
	return c.Login(email, UserPassword)
}

// Rows reads every row of a table in the given order ("" for none), with
// byte values as strings, and its column names.
func Rows(t testing.TB, k *kernel.Kernel, table, order string) ([]string, [][]any) {
	t.Helper()
	q := "SELECT * FROM " + table
	if order != "" {
		q += " ORDER BY " + order
	}
	rows, err := k.DB.Conn(context.Background()).Raw(q).Rows()
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				vals[i] = string(bs)
			}
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	return cols, out
}
