package realtime

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/kerneltest"
)

// TestBell: the backoffice pages carry the bell when the gateway is
// mounted, and a signed-in page gets a token for its socket.
func TestBell(t *testing.T) {
	e := newEnv(t)
	b := kerneltest.NewBrowser(t, e.srv.URL)
	b.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	b.Get("/admin").Must(t, http.StatusOK, `data-bell`, `/admin/static/vendor/socket.io/socket.io.min.js`, `/admin/static/bell.js`)
	b.Get("/admin/static/vendor/socket.io/socket.io.min.js").Must(t, http.StatusOK, "Socket")
	b.Get("/admin/static/bell.js").Must(t, http.StatusOK, "realtime-token")

	const path = "/admin/notifications/realtime-token"
	t.Run("without the CSRF token", func(t *testing.T) {
		b.In(t)
		if p := b.Do(http.MethodPost, path, nil); p.Status != http.StatusForbidden {
			t.Fatalf("got %d %s", p.Status, p.Body)
		}
	})
	t.Run("with a bearer token instead of a session", func(t *testing.T) {
		res := e.api.Do(http.MethodPost, path, e.alice, nil)
		if res.Status != http.StatusUnauthorized && res.Status != http.StatusForbidden {
			t.Fatalf("got %d %s", res.Status, res.Body)
		}
		if strings.Contains(string(res.Body), "access_token") {
			t.Fatal("a bearer token was renewed")
		}
	})
	t.Run("session and CSRF token", func(t *testing.T) {
		b.In(t)
		p := b.Do(http.MethodPost, path, nil, "X-CSRF-Token", b.CSRF())
		p.Must(t, http.StatusOK, `"access_token":"`)
		if p.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("cache-control %q", p.Header.Get("Cache-Control"))
		}
		tok := p.Body[strings.Index(p.Body, `"access_token":"`)+16:]
		tok = tok[:strings.IndexByte(tok, '"')]
		w := dialWS(t, e.srv.URL)
		w.mustConnect(tok)
		admin, err := e.k.Security.AuthenticateToken(context.Background(), tok)
		if err != nil || admin.Role != "platform_admin" {
			t.Fatalf("token of %+v: %v", admin, err)
		}
		e.publish(admin.TenantID, []string{admin.ID}, EventNotification, map[string]string{"id": "to-admin"})
		if _, data := w.event(); data["id"] != "to-admin" {
			t.Fatalf("got %v", data)
		}
	})
}

// TestBellWithoutRealtime: without the gateway the pages have no bell.
func TestBellWithoutRealtime(t *testing.T) {
	k := kerneltest.New(t)
	k.UseShell(admin.New(k))
	srv := kerneltest.Server(t, k)
	b := kerneltest.NewBrowser(t, srv.URL)
	b.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	p := b.Get("/admin")
	p.Must(t, http.StatusOK, "Platform")
	if strings.Contains(p.Body, "data-bell") || strings.Contains(p.Body, "socket.io") {
		t.Fatal("a bell without a realtime endpoint")
	}
}

// TestSessionCookieAuth: a same-origin WebSocket handshake may stand on the
// backoffice session cookie; another origin may not.
func TestSessionCookieAuth(t *testing.T) {
	e := newEnv(t)
	cookie, _, err := e.k.Security.StartSession(context.Background(), kerneltest.AdminEmail, kerneltest.AdminPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(e.srv.URL, "http://")
	for _, tc := range []struct {
		name, origin, want string
	}{
		{"same origin", "http://" + host, `40{"sid":`},
		{"other origin", "https://evil.example", `44{"message":"unauthorized"}`},
		{"no origin", "", `44{"message":"unauthorized"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Cookie": {"platform_session=" + cookie}}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, _, err := websocket.DefaultDialer.Dial(wsURL(e.srv.URL, ""), h)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			w := &wsClient{t: t, c: c}
			w.next() // open
			w.write("40")
			if got := w.next(); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
