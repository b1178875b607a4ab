package realtime

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// stream is one SSE client in the rooms. Its events go through a bounded
// channel; a client that lets it fill up is dropped.
type stream struct {
	g    *Gateway
	ch   chan *outEvent
	once sync.Once
	gone chan struct{} // closed when the stream is dropped as too slow
}

func (st *stream) send(ev *outEvent) bool {
	select {
	case st.ch <- ev:
		st.g.delivered.WithLabelValues("sse").Inc()
		return true
	default:
		st.once.Do(func() { close(st.gone) })
		st.g.dropped.Inc()
		return false
	}
}

// authStream is the stream's caller: the bearer credential the kernel
// already authenticated, or, because EventSource cannot send a header, an
// access_token query parameter, accepted on this route only.
func (g *Gateway) authStream(c echo.Context) (identity, error) {
	if p, ok := security.PrincipalFrom(c.Request().Context()); ok {
		if id, err := principalIdentity(p); err == nil {
			return id, nil
		}
		return identity{}, security.ErrInvalidToken
	}
	tok := c.QueryParam("access_token")
	if tok == "" {
		return identity{}, errs.ErrUnauthenticated
	}
	id, err := g.authenticate(c.Request().Context(), tok)
	if err != nil {
		return identity{}, security.ErrInvalidToken
	}
	return id, nil
}

// serveStream is GET /api/v1/notifications/stream: Server-Sent Events with
// the same events as the socket, Last-Event-ID catch-up and a heartbeat
// comment.
func (g *Gateway) serveStream(c echo.Context) error {
	who, err := g.authStream(c)
	if err != nil {
		return err
	}
	select {
	case <-g.closing:
		return errs.New(errs.Unavailable, "notifications.shutting_down", "The server is shutting down; reconnect.")
	default:
	}
	req := c.Request()
	ctx := req.Context()
	lastID := req.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = c.QueryParam("last_event_id")
	}
	lastID = strings.TrimSpace(lastID)

	st := &stream{g: g, ch: make(chan *outEvent, maxQueue), gone: make(chan struct{})}
	g.join(st, who.tenant, who.user)
	g.sockets.WithLabelValues("sse").Inc()
	defer func() {
		g.leave(st, who.tenant, who.user)
		g.sockets.WithLabelValues("sse").Dec()
	}()

	// Live events queue up in st.ch while the catch-up is read.
	var missed [][]byte
	sent := map[string]bool{}
	if lastID != "" {
		ms, err := g.catchUp(ctx, who, lastID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			ev := encode(EventNotification, m)
			sent[ev.id] = ev.id != ""
			missed = append(missed, ev.sse)
		}
	}
	unread, err := g.unread(ctx, who)
	if err != nil {
		return err
	}

	rc := http.NewResponseController(c.Response())
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	c.Response().WriteHeader(http.StatusOK)
	w := c.Response()
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// retry: how long EventSource waits before it reconnects.
	buf := []byte("retry: 2000\n\n")
	for _, m := range missed {
		buf = append(buf, m...)
	}
	if !write(append(buf, unread.sse...)) {
		return nil
	}
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		select {
		case ev := <-st.ch:
			if ev.id != "" && sent[ev.id] {
				delete(sent, ev.id)
				continue
			}
			if !write(ev.sse) {
				return nil
			}
		case <-beat.C:
			if !write([]byte(": ping\n\n")) {
				return nil
			}
		case <-st.gone:
			return nil
		case <-g.closing:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
