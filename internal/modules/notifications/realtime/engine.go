package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/security"
)

// Engine.IO v4 error codes, answered as {"code": N, "message": "..."}.
const (
	eioUnknownTransport = 0
	eioUnknownSID       = 1
	eioBadMethod        = 2
	eioBadRequest       = 3
	eioUnsupported      = 5
)

var eioMessages = map[int]string{
	eioUnknownTransport: "Transport unknown",
	eioUnknownSID:       "Session ID unknown",
	eioBadMethod:        "Bad handshake method",
	eioBadRequest:       "Bad request",
	eioUnsupported:      "Unsupported protocol version",
}

func eioError(c echo.Context, code int) error {
	return c.JSON(http.StatusBadRequest, map[string]any{"code": code, "message": eioMessages[code]})
}

// upgrader keeps a connection's memory small: the read buffer is the one
// the HTTP server already had, and a write buffer is borrowed per message.
var upgrader = websocket.Upgrader{
	WriteBufferSize: 2048,
	WriteBufferPool: &sync.Pool{},
	// Sockets authenticate with a token in the CONNECT packet, which a page
	// on another origin cannot take from a user; the session cookie is
	// believed only from the same origin (see sameOrigin).
	CheckOrigin: func(*http.Request) bool { return true },
}

// session is one Engine.IO connection and its Socket.IO socket on "/".
type session struct {
	g       *Gateway
	id      string
	cookie  string // the backoffice session cookie of a same-origin WebSocket handshake
	created time.Time

	mu       sync.Mutex
	queue    [][]byte        // Engine.IO packets waiting for the transport
	ws       *websocket.Conn // the WebSocket carrying the session, nil while polling
	probe    *websocket.Conn // a WebSocket being upgraded to
	polling  bool            // a GET is waiting for packets
	noop     bool            // end the waiting GET with a noop: an upgrade is under way
	wake     chan struct{}
	flushing bool
	closed   bool
	pingAt   time.Time
	pongWait bool

	sid       string // the Socket.IO socket's id, once connected
	who       identity
	connected bool
	catching  int         // catch-ups running; live events wait in held meanwhile
	held      []*outEvent // live events that came during a catch-up
}

func (g *Gateway) newSession(r *http.Request, ws *websocket.Conn) *session {
	now := time.Now()
	s := &session{g: g, id: randomID(15), created: now, pingAt: now, ws: ws, wake: make(chan struct{}, 1)}
	if ws != nil && sameOrigin(r) {
		if ck, err := r.Cookie(security.SessionCookie); err == nil {
			s.cookie = ck.Value
		}
	}
	g.mu.Lock()
	g.sessions[s.id] = s
	g.mu.Unlock()
	return s
}

// sameOrigin reports whether the request's Origin is the server's own
// host. Browsers always send Origin on a WebSocket handshake.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && u.Host == r.Host
}

func (g *Gateway) lookup(sid string) *session {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.sessions[sid]
}

func (g *Gateway) openPacket(sid string, upgrades []string) []byte {
	b, _ := json.Marshal(map[string]any{"sid": sid, "upgrades": upgrades,
		"pingInterval": pingInterval.Milliseconds(), "pingTimeout": pingTimeout.Milliseconds(), "maxPayload": maxPayload})
	return append([]byte{'0'}, b...)
}

// serveEngine is the Engine.IO endpoint: the polling handshake, polls and
// posts, and WebSocket connections, direct or upgraded from polling.
func (g *Gateway) serveEngine(c echo.Context) error {
	q := c.QueryParams()
	if q.Get("EIO") != "4" {
		return eioError(c, eioUnsupported)
	}
	select {
	case <-g.closing:
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"code": eioBadRequest, "message": "Server shutting down"})
	default:
	}
	sid := q.Get("sid")
	switch q.Get("transport") {
	case "polling":
		r := c.Request()
		if sid == "" {
			if r.Method != http.MethodGet {
				return eioError(c, eioBadMethod)
			}
			s := g.newSession(r, nil)
			return writePolling(c, g.openPacket(s.id, []string{"websocket"}))
		}
		s := g.lookup(sid)
		if s == nil {
			return eioError(c, eioUnknownSID)
		}
		if r.Method == http.MethodPost {
			return s.post(c)
		}
		return s.poll(c)
	case "websocket":
		if !websocket.IsWebSocketUpgrade(c.Request()) {
			return eioError(c, eioBadRequest)
		}
		var s *session
		if sid != "" {
			if s = g.lookup(sid); s == nil {
				return eioError(c, eioUnknownSID)
			}
		}
		return g.serveWebSocket(c, s)
	default:
		return eioError(c, eioUnknownTransport)
	}
}

func writePolling(c echo.Context, body []byte) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "text/plain; charset=UTF-8", body)
}

// poll answers a long-polling GET with the packets waiting, or waits for
// some. Pings are due every pingInterval, so a poll never waits longer.
func (s *session) poll(c echo.Context) error {
	s.mu.Lock()
	if s.ws != nil || s.closed {
		s.mu.Unlock()
		return eioError(c, eioBadRequest)
	}
	if s.polling {
		s.mu.Unlock()
		s.close("overlapping polls")
		return eioError(c, eioBadRequest)
	}
	s.polling = true
	s.mu.Unlock()
	// The server's read and write timeouts must not end a poll that waits.
	rc := http.NewResponseController(c.Response())
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(pingInterval + pingTimeout + writeTimeout))
	timer := time.NewTimer(pingInterval + pingTimeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		switch {
		case len(s.queue) > 0:
			batch := s.queue
			s.queue, s.polling = nil, false
			s.mu.Unlock()
			return writePolling(c, bytes.Join(batch, []byte{0x1e}))
		case s.closed:
			s.polling = false
			s.mu.Unlock()
			return writePolling(c, []byte("1"))
		case s.noop:
			s.noop, s.polling = false, false
			s.mu.Unlock()
			return writePolling(c, []byte("6"))
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-timer.C:
			s.mu.Lock()
			s.polling = false
			s.mu.Unlock()
			return writePolling(c, []byte("6"))
		case <-c.Request().Context().Done():
			s.mu.Lock()
			s.polling = false
			s.mu.Unlock()
			return nil
		}
	}
}

// post reads the packets a polling client sends, separated by 0x1e.
func (s *session) post(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxPayload+1))
	if err != nil || len(body) > maxPayload {
		s.close("payload too large")
		return eioError(c, eioBadRequest)
	}
	s.mu.Lock()
	upgraded, closed := s.ws != nil, s.closed
	s.mu.Unlock()
	if upgraded || closed {
		return eioError(c, eioBadRequest)
	}
	for _, p := range bytes.Split(body, []byte{0x1e}) {
		if !s.onPacket(c.Request().Context(), p) {
			break
		}
	}
	return c.Blob(http.StatusOK, "text/html", []byte("ok"))
}

// serveWebSocket takes over a WebSocket: a new session (s nil), or the
// upgrade of a polling one. Its reads run on a goroutine of their own, so
// that the HTTP handler's deeper stack is let go.
func (g *Gateway) serveWebSocket(c echo.Context, s *session) error {
	r := c.Request()
	ws, err := upgrader.Upgrade(c.Response(), r, nil)
	if err != nil {
		return nil // the upgrader has answered
	}
	// The HTTP server's read and write deadlines outlive the hijack.
	_ = ws.NetConn().SetDeadline(time.Time{})
	ws.SetReadLimit(maxPayload)
	if s == nil {
		s = g.newSession(r, ws)
		if err := writeWS(ws, g.openPacket(s.id, []string{})); err != nil {
			s.close("transport error")
			return nil
		}
		go s.read(ws)
		return nil
	}
	s.mu.Lock()
	if s.closed || s.ws != nil || s.probe != nil {
		s.mu.Unlock()
		ws.Close()
		return nil
	}
	s.probe = ws
	s.mu.Unlock()
	go s.read(ws)
	return nil
}

func writeWS(ws *websocket.Conn, p []byte) error {
	_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return ws.WriteMessage(websocket.TextMessage, p)
}

// read reads a WebSocket until it closes: first the upgrade probe when the
// session is still polling, then the session's packets.
func (s *session) read(ws *websocket.Conn) {
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil || typ != websocket.TextMessage {
			s.mu.Lock()
			probing := s.probe == ws
			if probing {
				s.probe = nil
			}
			s.mu.Unlock()
			ws.Close()
			if !probing {
				s.close("transport close")
			}
			return
		}
		s.mu.Lock()
		probing := s.probe == ws
		s.mu.Unlock()
		if !probing {
			if !s.onPacket(context.Background(), data) {
				ws.Close()
				return
			}
			continue
		}
		switch string(data) {
		case "2probe":
			if writeWS(ws, []byte("3probe")) != nil {
				continue // the read fails next
			}
			s.mu.Lock()
			s.noop = true
			s.signal()
			s.mu.Unlock()
		case "5":
			s.mu.Lock()
			s.probe, s.ws = nil, ws
			s.kick()
			s.mu.Unlock()
		default:
			ws.Close()
		}
	}
}

// onPacket handles one Engine.IO packet from the client; false once the
// session is closed.
func (s *session) onPacket(ctx context.Context, p []byte) bool {
	if len(p) == 0 {
		return true
	}
	switch p[0] {
	case '1':
		s.close("client close")
		return false
	case '2': // a client ping, as in a probe: answer it
		s.mu.Lock()
		s.enqueue(append([]byte{'3'}, p[1:]...), true)
		s.mu.Unlock()
	case '3':
		s.mu.Lock()
		s.pongWait = false
		s.mu.Unlock()
	case '4':
		s.onSocketIO(ctx, p[1:])
	case '5', '6':
	default: // binary ("b...") and unknown packets: not spoken here
		s.close("unsupported packet")
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed
}

// enqueue queues an Engine.IO packet for the transport; s.mu is held. A
// queue past maxQueue means the client does not keep up: false, and the
// caller drops it. force is for the server's own replies and catch-ups.
func (s *session) enqueue(p []byte, force bool) bool {
	if s.closed {
		return true
	}
	if !force && len(s.queue) >= maxQueue {
		return false
	}
	s.queue = append(s.queue, p)
	s.kick()
	return true
}

// kick gets the queue moving: a flush on the WebSocket, or the waiting poll
// woken. s.mu is held.
func (s *session) kick() {
	if s.ws != nil {
		if !s.flushing && len(s.queue) > 0 {
			s.flushing = true
			go s.flush(s.ws)
		}
		return
	}
	s.signal()
}

func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// flush writes the queue to the WebSocket until it is empty. It runs only
// while there is something to write, so an idle socket holds no goroutine
// beyond its reader.
func (s *session) flush(ws *websocket.Conn) {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 || s.closed {
			s.flushing = false
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, p := range batch {
			if err := writeWS(ws, p); err != nil {
				s.mu.Lock()
				s.flushing = false
				s.mu.Unlock()
				s.close("transport error")
				return
			}
		}
	}
}

// heartbeat is the session's share of the gateway's timer.
func (s *session) heartbeat(now time.Time) {
	s.mu.Lock()
	var reason string
	switch {
	case s.closed:
	case !s.connected && now.Sub(s.created) > connectTimeout:
		reason = "connect timeout"
	case s.pongWait && now.Sub(s.pingAt) > pingTimeout:
		reason = "ping timeout"
	case !s.pongWait && now.Sub(s.pingAt) >= pingInterval:
		s.pingAt, s.pongWait = now, true
		s.enqueue([]byte("2"), true)
	}
	s.mu.Unlock()
	if reason != "" {
		s.close(reason)
	}
}

// close ends the session: out of its rooms, its WebSocket closed, its
// waiting poll answered with a close packet.
func (s *session) close(reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	ws, probe, connected := s.ws, s.probe, s.connected
	s.connected, s.held = false, nil
	s.signal()
	s.mu.Unlock()
	g := s.g
	g.mu.Lock()
	delete(g.sessions, s.id)
	g.mu.Unlock()
	if connected {
		g.leave(s, s.who.tenant, s.who.user)
		g.sockets.WithLabelValues("socketio").Dec()
	}
	for _, c := range []*websocket.Conn{ws, probe} {
		if c != nil {
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
				time.Now().Add(time.Second))
			c.Close()
		}
	}
	g.log.Debug("socket closed", "sid", s.id, "reason", reason)
}

// send is a live event for this socket.
func (s *session) send(ev *outEvent) bool {
	s.mu.Lock()
	ok := true
	switch {
	case s.closed || !s.connected:
	case s.catching > 0:
		if len(s.held) >= maxQueue {
			ok = false
		} else {
			s.held = append(s.held, ev)
		}
	default:
		ok = s.enqueue(ev.sio, false)
	}
	s.mu.Unlock()
	if !ok {
		s.g.dropped.Inc()
		s.close("slow consumer")
		return false
	}
	s.g.delivered.WithLabelValues("socketio").Inc()
	return true
}

// ackPacket is a Socket.IO ACK for id with one argument.
func ackPacket(id string, arg any) []byte {
	b, _ := json.Marshal([]any{arg})
	return append([]byte("3"+id), b...)
}

// connectError is a Socket.IO CONNECT_ERROR for the namespace.
func connectError(ns, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"message": msg})
	prefix := "4"
	if ns != "/" {
		prefix += ns + ","
	}
	return append([]byte(prefix), b...)
}
