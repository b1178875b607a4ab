package httpx

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
)

// limitedBody is a request body that refuses to be read past limit bytes
// with echo.ErrStatusRequestEntityTooLarge, which the error handler and
// Bind turn into 413 body_too_large. The limit is checked against the
// declared Content-Length on the first read rather than when the request
// arrives, so that a route's BodyLimit, which runs after the server-wide
// limit, can still raise it.
type limitedBody struct {
	io.ReadCloser
	limit, read int64
	declared    int64 // Content-Length, -1 when unknown
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.declared > b.limit || b.read > b.limit {
		return 0, echo.ErrStatusRequestEntityTooLarge
	}
	if room := b.limit - b.read + 1; int64(len(p)) > room {
		p = p[:room] // one byte past the limit is enough to know
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	if b.read > b.limit {
		return n, echo.ErrStatusRequestEntityTooLarge
	}
	return n, err
}

// bodyLimit bounds every request body to limit bytes.
func bodyLimit(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = &limitedBody{ReadCloser: r.Body, limit: limit, declared: r.ContentLength}
			}
			return next(c)
		}
	}
}

// BodyLimit sets one route's body limit in place of the server's
// http.body_limit, for the few routes that take files (attachments,
// inbound e-mail). It must run before the handler reads the body.
func BodyLimit(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if b, ok := c.Request().Body.(*limitedBody); ok {
				b.limit = limit
			}
			return next(c)
		}
	}
}

// PeekBody returns up to n bytes from the start of r's body and leaves the
// body to be read whole, those bytes first, under its limit. A check that
// needs the start of a large body (the CSRF token of a multipart form,
// whose route raises the limit only later) reads it without being refused
// by a limit it is not yet under.
func PeekBody(r *http.Request, n int) []byte {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	var src io.ReadCloser = r.Body
	b, limited := r.Body.(*limitedBody)
	if limited {
		src = b.ReadCloser
	}
	buf := make([]byte, n)
	k, err := io.ReadFull(src, buf)
	buf = buf[:k]
	rest := io.Reader(src)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		rest = &failed{err}
	}
	replay := readCloser{Reader: io.MultiReader(bytes.NewReader(buf), rest), Closer: src}
	if limited {
		b.ReadCloser = replay
	} else {
		r.Body = replay
	}
	return buf
}

type readCloser struct {
	io.Reader
	io.Closer
}

// failed is a reader that keeps failing with a read error.
type failed struct{ err error }

func (f *failed) Read([]byte) (int, error) { return 0, f.err }
