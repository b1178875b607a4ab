package kernel_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/kerneltest"
)

// BenchmarkAuthMe measures an authenticated GET /api/v1/auth/me through the
// whole kernel stack in-process (no network), next to BenchmarkBareEcho, a
// bare echo handler returning a constant: their ratio is the stack's cost.
//
//	go test -run '^$' -bench 'AuthMe|BareEcho' -benchmem ./internal/kernel/
func BenchmarkAuthMe(b *testing.B) {
	k := kerneltest.New(b)
	e, err := k.HTTP()
	if err != nil {
		b.Fatal(err)
	}
	srv := kerneltest.Server(b, k)
	tok := kerneltest.NewClient(b, srv.URL).Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/auth/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkBareEcho(b *testing.B) {
	e := echo.New()
	e.GET("/api/v1/auth/me", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"id": "01a213a8-f04a-777f-9579-24efbe08627a", "email": "admin@example.com"})
	})
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/auth/me", nil)
		req.Header.Set("Authorization", "Bearer x")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
