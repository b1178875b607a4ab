package realtime

import (
	"context"
	"encoding/json"
	"time"
)

// sioPacket is a Socket.IO v5 packet from the client: type, namespace,
// acknowledgement id and JSON payload.
type sioPacket struct {
	typ  byte
	ns   string
	ack  string
	data []byte
}

func parseSocketIO(p []byte) (sioPacket, bool) {
	if len(p) == 0 || p[0] < '0' || p[0] > '6' {
		return sioPacket{}, false
	}
	pk := sioPacket{typ: p[0], ns: "/"}
	p = p[1:]
	if len(p) > 0 && p[0] == '/' {
		i := 0
		for i < len(p) && p[i] != ',' {
			i++
		}
		pk.ns = string(p[:i])
		if i < len(p) {
			i++
		}
		p = p[i:]
	}
	i := 0
	for i < len(p) && i < 10 && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	pk.ack, pk.data = string(p[:i]), p[i:]
	return pk, true
}

// connectAuth is the CONNECT packet's auth payload.
type connectAuth struct {
	Token  string `json:"token"`
	LastID string `json:"last_id"`
}

// onSocketIO handles a Socket.IO packet carried by an Engine.IO message.
func (s *session) onSocketIO(ctx context.Context, p []byte) {
	pk, ok := parseSocketIO(p)
	if !ok || pk.typ == '5' || pk.typ == '6' { // binary packets are not spoken here
		s.close("unsupported packet")
		return
	}
	if pk.ns != "/" {
		if pk.typ == '0' {
			s.reply(connectError(pk.ns, "Invalid namespace"))
		}
		return
	}
	switch pk.typ {
	case '0':
		s.connect(ctx, pk.data)
	case '1':
		s.disconnect()
	case '2':
		s.onEvent(ctx, pk)
	}
}

// reply queues a packet of the server's own, never refused as too many.
func (s *session) reply(sio []byte) {
	s.mu.Lock()
	s.enqueue(append([]byte{'4'}, sio...), true)
	s.mu.Unlock()
}

// connect authenticates the CONNECT packet, joins the socket to its rooms,
// catches it up when it names the last notification it saw, and sends the
// unread count.
func (s *session) connect(ctx context.Context, data []byte) {
	var auth connectAuth
	if len(data) > 0 && json.Unmarshal(data, &auth) != nil {
		s.reply(connectError("/", "invalid auth payload"))
		return
	}
	s.mu.Lock()
	already := s.connected
	s.mu.Unlock()
	if already {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	who, err := s.g.authenticate(ctx, auth.Token)
	if auth.Token == "" && s.cookie != "" {
		if p, _, serr := s.g.k.Security.SessionPrincipal(ctx, s.cookie); serr == nil {
			who, err = principalIdentity(p)
		}
	}
	if err != nil {
		s.reply(connectError("/", "unauthorized"))
		return
	}
	s.mu.Lock()
	if s.closed || s.connected {
		s.mu.Unlock()
		return
	}
	s.sid, s.who, s.connected = randomID(15), who, true
	s.catching++ // live events wait until the catch-up is out
	b, _ := json.Marshal(map[string]string{"sid": s.sid})
	s.enqueue(append([]byte("40"), b...), true)
	s.mu.Unlock()
	s.g.join(s, who.tenant, who.user)
	s.g.sockets.WithLabelValues("socketio").Inc()
	s.catchUp(ctx, auth.LastID, "")
}

// catchUp sends what the socket missed after lastID (nothing when it is
// empty), the live events held meanwhile, then the unread count; with ack,
// it acknowledges with the number of notifications replayed. s.catching
// has been raised by the caller.
func (s *session) catchUp(ctx context.Context, lastID, ack string) {
	who := s.who
	var missed []json.RawMessage
	var err error
	if lastID != "" {
		missed, err = s.g.catchUp(ctx, who, lastID)
	}
	var unread *outEvent
	if err == nil {
		unread, err = s.g.unread(ctx, who)
	}
	if err != nil {
		s.g.log.Warn("realtime catch-up", "error", err, "tenant", who.tenant, "user", who.user)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sent := make(map[string]bool, len(missed))
	for _, m := range missed {
		ev := encode(EventNotification, m)
		sent[ev.id] = ev.id != ""
		s.enqueue(ev.sio, true)
	}
	for _, ev := range s.held {
		if ev.id == "" || !sent[ev.id] {
			s.enqueue(ev.sio, true)
		}
	}
	if s.catching--; s.catching == 0 {
		s.held = nil
	}
	if unread != nil {
		s.enqueue(unread.sio, true)
	}
	if ack != "" {
		if err != nil {
			s.enqueue(append([]byte{'4'}, ackPacket(ack, map[string]string{"error": "unavailable"})...), true)
		} else {
			s.enqueue(append([]byte{'4'}, ackPacket(ack, map[string]int{"count": len(missed)})...), true)
		}
	}
}

func (s *session) disconnect() {
	s.mu.Lock()
	connected := s.connected
	s.connected, s.held = false, nil
	s.mu.Unlock()
	if connected {
		s.g.leave(s, s.who.tenant, s.who.user)
		s.g.sockets.WithLabelValues("socketio").Dec()
	}
}

// onEvent handles the client's events: "catch_up" with the last id seen,
// and "join", which only ever admits the socket's own rooms.
func (s *session) onEvent(ctx context.Context, pk sioPacket) {
	var args []json.RawMessage
	if json.Unmarshal(pk.data, &args) != nil || len(args) == 0 {
		s.close("malformed event")
		return
	}
	var name string
	if json.Unmarshal(args[0], &name) != nil {
		s.close("malformed event")
		return
	}
	s.mu.Lock()
	connected, who := s.connected, s.who
	s.mu.Unlock()
	ackErr := func(code string) {
		if pk.ack != "" {
			s.reply(ackPacket(pk.ack, map[string]string{"error": code}))
		}
	}
	if !connected {
		ackErr("not_connected")
		return
	}
	switch name {
	case "catch_up":
		lastID := ""
		if len(args) > 1 {
			var obj struct {
				LastID string `json:"last_id"`
			}
			if json.Unmarshal(args[1], &lastID) != nil && json.Unmarshal(args[1], &obj) == nil {
				lastID = obj.LastID
			}
		}
		if lastID == "" {
			ackErr("last_id_required")
			return
		}
		s.mu.Lock()
		s.catching++
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s.catchUp(ctx, lastID, pk.ack)
	case "join":
		room := ""
		if len(args) > 1 {
			_ = json.Unmarshal(args[1], &room)
		}
		if room == "tenant:"+who.tenant || room == "user:"+who.user {
			if pk.ack != "" {
				s.reply(ackPacket(pk.ack, map[string]bool{"ok": true}))
			}
			return
		}
		ackErr("forbidden")
	default:
		ackErr("unknown_event")
	}
}
