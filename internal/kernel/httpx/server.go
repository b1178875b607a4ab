// Package httpx sets up the platform's echo server: request ids, JSON
// access logs, panic recovery, body limit, metrics and the one error
// envelope. Handlers stay thin: Bind, call the service, render.
package httpx

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/metrics"
)

// Options configure New.
type Options struct {
	Logger         *slog.Logger
	Metrics        *metrics.Metrics
	BodyLimit      int64
	AccessLog      bool
	TrustedProxies []string
	CORSOrigins    []string // front ends on other origins that may call the API
}

// New returns an echo instance with the kernel's middleware stack.
func New(o Options) (*echo.Echo, error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = ErrorHandler(o.Logger)
	e.Logger.SetOutput(discard{})

	ipx, err := ipExtractor(o.TrustedProxies)
	if err != nil {
		return nil, err
	}
	e.IPExtractor = ipx

	e.Use(requestID)
	if o.Metrics != nil {
		e.Use(measure(o.Metrics))
	}
	if o.AccessLog {
		e.Use(accessLog(o.Logger))
	}
	e.Use(recoverer(o.Logger))
	e.Use(securityHeaders)
	if len(o.CORSOrigins) > 0 {
		// Bearer tokens only: cookies are never sent cross-origin.
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  o.CORSOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
			AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, "If-Match", "X-Tenant-ID", echo.HeaderXRequestID},
			ExposeHeaders: []string{"ETag", echo.HeaderXRequestID, "Retry-After", echo.HeaderLocation},
			MaxAge:        600,
		}))
	}
	if o.BodyLimit > 0 {
		e.Use(bodyLimit(o.BodyLimit))
	}
	return e, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// ipExtractor trusts X-Forwarded-For only from the configured proxies.
func ipExtractor(trusted []string) (echo.IPExtractor, error) {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect(), nil
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, s := range trusted {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("http.trusted_proxies: %q is neither an IP nor a CIDR", s)
			}
			bits := 32
			if ip.To4() == nil {
				bits = 128
			}
			n = &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
		}
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...), nil
}

const ridKey = "request_id"

// RequestID is the request's id, taken from a sane X-Request-Id header or
// generated.
func RequestID(c echo.Context) string {
	if s, ok := c.Get(ridKey).(string); ok {
		return s
	}
	return ""
}

func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		rid := c.Request().Header.Get(echo.HeaderXRequestID)
		if !saneID(rid) {
			rid = uuid.Must(uuid.NewV7()).String()
		}
		c.Set(ridKey, rid)
		c.Response().Header().Set(echo.HeaderXRequestID, rid)
		return next(c)
	}
}

func saneID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// PrincipalLogKey is where the auth middleware leaves the caller's id for the
// access log.
const PrincipalLogKey = "log_principal"

func accessLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			req, res := c.Request(), c.Response()
			attrs := []slog.Attr{
				slog.String("request_id", RequestID(c)),
				slog.String("method", req.Method),
				slog.String("path", req.URL.Path),
				slog.String("route", c.Path()),
				slog.Int("status", res.Status),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
				slog.Int64("bytes_out", res.Size),
				slog.String("ip", c.RealIP()),
			}
			if p, ok := c.Get(PrincipalLogKey).(string); ok {
				attrs = append(attrs, slog.String("principal", p))
			}
			level := slog.LevelInfo
			if res.Status >= 500 {
				level = slog.LevelError
			}
			log.LogAttrs(req.Context(), level, "http", attrs...)
			return nil
		}
	}
}

func measure(m *metrics.Metrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			m.HTTPInFlight.Inc()
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			m.HTTPInFlight.Dec()
			route := c.Path()
			if route == "" || c.Response().Status == http.StatusNotFound && route == "/*" {
				route = "unmatched"
			}
			method := c.Request().Method
			m.HTTPRequests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
			m.HTTPDuration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}

func recoverer(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				if r := recover(); r != nil {
					if r == http.ErrAbortHandler {
						panic(r)
					}
					log.ErrorContext(c.Request().Context(), "panic", "request_id", RequestID(c),
						"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					err = errs.ErrInternal.Wrap(fmt.Errorf("panic: %v", r))
				}
			}()
			return next(c)
		}
	}
}

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		return next(c)
	}
}

// Server wraps e in an http.Server with the configured timeouts.
func Server(e *echo.Echo, addr string, read, write, idle time.Duration) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           e,
		ReadTimeout:       read,
		ReadHeaderTimeout: min(read, 10*time.Second),
		WriteTimeout:      write,
		IdleTimeout:       idle,
		MaxHeaderBytes:    1 << 20,
	}
}
