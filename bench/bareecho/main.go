// Command bareecho is the baseline of bench/kernel.sh: a bare echo v4 server
// whose GET /api/v1/auth/me returns a constant small JSON, with no
// middleware, no authentication and no database. Comparing the platform's
// authenticated GET /api/v1/auth/me with it gives the cost of the platform's
// stack (request id, metrics, recovery, security headers, body limit, auth,
// JWT verification, the user lookup and the JSON rendering).
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/labstack/echo/v4"
)

// me is served as-is; it has the shape, not the size, of the platform's reply.
var me = []byte(`{"id":"bench","email":"bench@example.com","role":"platform_admin","kind":"user"}`)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address (host:port)")
	flag.Parse()

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/api/v1/auth/me", func(c echo.Context) error {
		return c.JSONBlob(http.StatusOK, me)
	})
	e.GET("/readyz", func(c echo.Context) error {
		return c.JSONBlob(http.StatusOK, []byte(`{"status":"ok"}`))
	})
	if err := e.Start(*addr); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
