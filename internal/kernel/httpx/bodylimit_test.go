package httpx

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestPeekBody(t *testing.T) {
	body := strings.Repeat("0123456789", 30) // 300 bytes
	cases := []struct {
		name    string
		limit   int64 // the server's limit; 0 for none
		raise   int64 // a route's limit after the peek; 0 for none
		peek    int
		wantErr bool // reading the whole body is refused
	}{
		{name: "no limit", peek: 10},
		{name: "a peek past the end", peek: 1000},
		{name: "under the limit", limit: 1000, peek: 10},
		{name: "over the limit: the peek still reads, the body is refused", limit: 100, peek: 10, wantErr: true},
		{name: "over the limit, raised after the peek", limit: 100, raise: 1000, peek: 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(body))
			if c.limit > 0 {
				r.Body = &limitedBody{ReadCloser: r.Body, limit: c.limit, declared: r.ContentLength}
			}
			head := PeekBody(r, c.peek)
			if want := body[:min(c.peek, len(body))]; string(head) != want {
				t.Fatalf("peek %q, want %q", head, want)
			}
			if c.raise > 0 {
				BodyLimit(c.raise)(func(echo.Context) error { return nil })(echo.New().NewContext(r, nil))
			}
			all, err := io.ReadAll(r.Body)
			if c.wantErr {
				if !errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
					t.Fatalf("read %d bytes, err %v; want the limit's error", len(all), err)
				}
				return
			}
			if err != nil || string(all) != body {
				t.Fatalf("read %q, %v; want the whole body", all, err)
			}
		})
	}
}
