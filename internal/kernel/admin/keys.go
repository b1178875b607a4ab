package admin

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

var keysCrumbs = []crumb{{Label: "Dashboard", Href: "/admin"}, {Label: "API keys", Href: "/admin/api-keys"}}

func (s *Shell) keyList(c echo.Context) *List {
	p, _ := security.PrincipalFrom(c.Request().Context())
	canWrite := p.Can(security.PermKeysWrite)
	return &List{
		ID: "keys",
		Columns: []Column{{Key: "name", Label: "Name", Sort: "name"}, {Key: "prefix", Label: "Key starts with"},
			{Key: "scopes", Label: "Permissions"}, {Key: "status", Label: "Status"}, {Key: "last_used", Label: "Last used", Sort: "last_used_at"},
			{Key: "expires", Label: "Expires"}, {Key: "created", Label: "Created", Sort: "created_at"}},
		Sorts:       map[string]string{"name": "name", "last_used_at": "last_used_at", "created_at": "created_at"},
		DefaultSort: "-created_at",
		Filters:     []Filter{{Key: "status", Label: "Status", Options: []Choice{{Value: "active", Label: "Active"}, {Value: "revoked", Label: "Revoked"}}}},
		CSVName:     "api-keys",
		Empty:       "No API keys yet.",
		Fetch: func(ctx context.Context, q Query) ([]Row, int64, error) {
			f := security.KeyFilter{Offset: q.Offset, Limit: q.Limit, OrderBy: q.OrderBy()}
			if st := q.Filters["status"]; st != "" {
				revoked := st == "revoked"
				f.Revoked = &revoked
			}
			ks, total, err := s.sec.ListAPIKeys(ctx, f)
			if err != nil {
				return nil, 0, err
			}
			rows := make([]Row, 0, len(ks))
			for _, k := range ks {
				st, badge := "active", "ok"
				if k.RevokedAt != nil {
					st, badge = "revoked", "muted"
				} else if k.ExpiresAt != nil && k.ExpiresAt.Before(time.Now()) {
					st, badge = "expired", "muted"
				}
				r := Row{Cells: []Cell{{Text: k.Name}, {Text: k.Prefix + "…", Mono: true}, {Text: strings.Join(k.Scopes, ", ")},
					{Text: st, Badge: badge}, {Text: when(k.LastUsedAt)}, {Text: when(k.ExpiresAt)}, {Text: when(k.CreatedAt)}}}
				if canWrite && k.RevokedAt == nil {
					r.Actions = append(r.Actions, Action{Label: "Revoke", Post: "/admin/api-keys/" + k.ID + "/revoke",
						Confirm: "Revoke the key " + k.Name + "? Programs using it stop working at once.", Danger: true})
				}
				rows = append(rows, r)
			}
			return rows, total, nil
		},
	}
}

func (s *Shell) keys(c echo.Context) error {
	t, done, err := s.keyList(c).Run(c)
	if err != nil || done {
		return err
	}
	p, _ := security.PrincipalFrom(c.Request().Context())
	return s.render(c, http.StatusOK, "keys", "API keys", keysCrumbs[:1:1],
		map[string]any{"Table": t, "CanWrite": p.Can(security.PermKeysWrite)})
}

type keyForm struct {
	Name    string
	Scopes  []string
	Expires string
	Options []string
}

// scopeOptions are the permissions p holds, which its keys may carry.
func scopeOptions(p *security.Principal) []string {
	var out []string
	for _, perm := range security.KnownPermissions() {
		if perm != string(security.PermAll) && p.Can(security.Permission(perm)) {
			out = append(out, perm)
		}
	}
	return out
}

func (s *Shell) keyNew(c echo.Context) error {
	p, _ := security.PrincipalFrom(c.Request().Context())
	return s.render(c, http.StatusOK, "key_form", "New API key", keysCrumbs,
		keyForm{Options: scopeOptions(p)})
}

// The new key's secret goes to the page that shows it in a signed cookie
// that lives a minute and is deleted when read, so that a reload or the
// back button never shows it again and the POST is never repeated.
const onceCookie = "platform_key_once"

type onceKey struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

var errBadExpiry = errs.ErrInvalid.WithDetails(errs.Detail{Field: "expires_at", Code: "date", Message: "must be a date"})

func (s *Shell) keyCreate(c echo.Context) error {
	ctx := c.Request().Context()
	p, _ := security.PrincipalFrom(ctx)
	vals, _ := c.FormParams()
	f := keyForm{Name: strings.TrimSpace(c.FormValue("name")), Scopes: vals["scopes"], Expires: c.FormValue("expires_at"),
		Options: scopeOptions(p)}
	in := security.CreateKeyInput{Name: f.Name, Scopes: f.Scopes}
	crumbs := keysCrumbs
	if f.Expires != "" {
		t, err := time.Parse("2006-01-02", f.Expires)
		if err != nil {
			return s.renderForm(c, "key_form", "New API key", crumbs, f, errBadExpiry)
		}
		t = t.Add(24*time.Hour - time.Second)
		in.ExpiresAt = &t
	}
	k, secret, err := s.sec.CreateAPIKey(ctx, in)
	if err != nil {
		return s.renderForm(c, "key_form", "New API key", crumbs, f, err)
	}
	b, _ := json.Marshal(onceKey{ID: k.ID, Key: secret})
	val := base64.RawURLEncoding.EncodeToString(b)
	val += "." + base64.RawURLEncoding.EncodeToString(s.sec.Sign("key-once", []byte(val)))
	c.SetCookie(&http.Cookie{Name: onceCookie, Value: val, Path: "/admin/api-keys/", MaxAge: 60, HttpOnly: true,
		Secure: isTLS(c), SameSite: http.SameSiteStrictMode})
	return c.Redirect(http.StatusSeeOther, "/admin/api-keys/"+k.ID+"/created")
}

func (s *Shell) keyCreated(c echo.Context) error {
	var shown *onceKey
	if ck, err := c.Cookie(onceCookie); err == nil {
		c.SetCookie(&http.Cookie{Name: onceCookie, Value: "", Path: "/admin/api-keys/", MaxAge: -1, HttpOnly: true,
			Secure: isTLS(c), SameSite: http.SameSiteStrictMode})
		if val, sig, ok := strings.Cut(ck.Value, "."); ok &&
			hmac.Equal([]byte(sig), []byte(base64.RawURLEncoding.EncodeToString(s.sec.Sign("key-once", []byte(val))))) {
			if b, err := base64.RawURLEncoding.DecodeString(val); err == nil {
				var k onceKey
				if json.Unmarshal(b, &k) == nil && k.ID == c.Param("id") {
					shown = &k
				}
			}
		}
	}
	return s.render(c, http.StatusOK, "key_created", "API key created", keysCrumbs,
		map[string]any{"Key": shown})
}

func (s *Shell) keyRevoke(c echo.Context) error {
	if err := s.sec.RevokeAPIKey(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return s.redirectFlash(c, "/admin/api-keys", "ok", "The key is revoked.")
}
