package kernel_test

import (
	"net/http"
	"testing"

	"github.com/platform/platform/internal/kernel/kerneltest"
)

func TestSmokeLoginAndMe(t *testing.T) {
	k := kerneltest.New(t)
	srv := kerneltest.Server(t, k)
	c := kerneltest.NewClient(t, srv.URL)
	tok := c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	res := c.Do(http.MethodGet, "/api/v1/auth/me", tok, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("me: %d %s", res.Status, res.Body)
	}
	if got := res.JSON()["email"]; got != kerneltest.AdminEmail {
		t.Fatalf("me email = %v", got)
	}
	if got := res.JSON()["role"]; got != "platform_admin" {
		t.Fatalf("me role = %v", got)
	}
}
