package httpx

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
)

// Envelope is the one JSON shape of every error response.
type Envelope struct {
	Error EnvelopeBody `json:"error"`
}

// EnvelopeBody is the inside of Envelope.
type EnvelopeBody struct {
	Code      string        `json:"code"`
	Message   string        `json:"message"`
	RequestID string        `json:"request_id"`
	Details   []errs.Detail `json:"details"`
}

// ErrorHandler renders every error as the envelope. Typed errors keep their
// code; echo's own errors are mapped; anything else is a 500 whose detail
// goes to the log only, tied to the response by the request id.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		e := toTyped(err)
		if e.Code == errs.ErrRouteNotFound.Code {
			// A catch-all not-found route (such as /api/*) outranks echo's own
			// 405 in the router; a path that exists for another method is
			// still a wrong method, not a missing route.
			if allow := otherMethods(c); allow != "" {
				c.Response().Header().Set(echo.HeaderAllow, allow)
				e = errs.ErrMethod
			}
		}
		rid := RequestID(c)
		status := e.Kind.Status()
		if status >= 500 {
			log.ErrorContext(c.Request().Context(), "request failed",
				"request_id", rid, "method", c.Request().Method, "path", c.Request().URL.Path, "error", err.Error())
		}
		if e.RetryAfter > 0 {
			secs := int(e.RetryAfter.Seconds() + 0.999)
			c.Response().Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		}
		if e.Kind == errs.Unauthenticated {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="platform"`)
		}
		details := e.Details
		if details == nil {
			details = []errs.Detail{}
		}
		body := Envelope{Error: EnvelopeBody{Code: e.Code, Message: e.Message, RequestID: rid, Details: details}}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		_ = c.JSON(status, body)
	}
}

var routedMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// otherMethods lists the methods that have a route for the request's path,
// or "" when none has: the router resolves every other method to the same
// not-found route as the request, or to none.
func otherMethods(c echo.Context) string {
	e, req := c.Echo(), c.Request()
	if e == nil || req == nil {
		return ""
	}
	path := echo.GetPath(req)
	var allow []string
	for _, m := range routedMethods {
		if m == req.Method {
			continue
		}
		probe := e.NewContext(nil, nil)
		e.Router().Find(m, path, probe)
		if p := probe.Path(); p != "" && p != c.Path() {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

func toTyped(err error) *errs.Error {
	if e, ok := errs.As(err); ok {
		return e
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return errs.ErrRouteNotFound
		case http.StatusMethodNotAllowed:
			return errs.ErrMethod
		case http.StatusRequestEntityTooLarge:
			return errs.ErrTooLarge
		case http.StatusUnauthorized:
			return errs.ErrUnauthenticated
		case http.StatusForbidden:
			return errs.ErrForbidden
		case http.StatusTooManyRequests:
			return errs.ErrRateLimited
		case http.StatusServiceUnavailable:
			return errs.ErrUnavailable
		case http.StatusUnsupportedMediaType:
			return errs.New(errs.BadRequest, "unsupported_media_type", "Send the body as application/json.")
		}
		if he.Code >= 400 && he.Code < 500 {
			return errs.ErrBadRequest
		}
	}
	return errs.ErrInternal.Wrap(err)
}
