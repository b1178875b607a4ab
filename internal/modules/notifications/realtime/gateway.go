// Package realtime is the notifications module's realtime gateway: a
// Socket.IO v4 endpoint at /socket.io/ (Engine.IO v4 and Socket.IO v5
// spoken natively, WebSocket and HTTP long-polling with the upgrade between
// them) and a Server-Sent Events stream, both fed by Publish. Events reach
// every process through one Redis pub/sub channel, so a notification made on
// one node reaches a socket held by another.
//
// A socket authenticates in the Socket.IO CONNECT packet (auth: {token}) and
// is put in two rooms only, its user's and its tenant's; it can join no
// other. The events are "notification" (the full object) and "unread_count"
// ({"count": N}). A client that sends the id of the last notification it saw
// (auth.last_id, a "catch_up" event, or SSE's Last-Event-ID) first gets
// every notification it missed, then the unread count.
package realtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/security"
)

// Event is one message to the sockets of a tenant, or of some of its users.
type Event struct {
	Tenant string          `json:"tenant"`
	Users  []string        `json:"users,omitempty"` // empty: every socket of the tenant
	Name   string          `json:"name"`            // "notification", "unread_count"
	Data   json.RawMessage `json:"data"`
}

// Event names.
const (
	EventNotification = "notification"
	EventUnreadCount  = "unread_count"
)

// Source is what the gateway reads from the notifications store: what a
// client missed while it was away, and its unread count.
type Source interface {
	// Missed lists, oldest first, up to limit notifications of the user
	// (and of its whole tenant) created after afterID, as their JSON.
	Missed(ctx context.Context, tenantID, userID, afterID string, limit int) ([]json.RawMessage, error)
	UnreadCount(ctx context.Context, tenantID, userID string) (int, error)
}

// Tunables. They are variables so that tests can shorten them.
var (
	pingInterval   = 25 * time.Second
	pingTimeout    = 20 * time.Second
	connectTimeout = 45 * time.Second // an engine session must CONNECT to "/" within this
	tickEvery      = time.Second      // the one timer that pings, times out and beats presence
	presenceBeat   = 15 * time.Second
	presenceTTL    = 45 * time.Second // a crashed node's sockets stop counting as online after this
	writeTimeout   = 10 * time.Second
	sseHeartbeat   = 25 * time.Second
)

const (
	maxPayload  = 1_000_000 // Engine.IO maxPayload: the largest polling body
	maxQueue    = 256       // packets waiting for one socket; more and the socket is dropped
	catchUpPage = 200
	catchUpMax  = 1000 // notifications replayed on one catch-up; older ones are for the REST API
)

// Gateway holds this process's sockets and streams, and its subscription.
type Gateway struct {
	k    *kernel.Kernel
	src  Source
	log  *slog.Logger
	rdb  redis.UniversalClient
	node string
	pre  string // Redis key and channel prefix

	mu       sync.RWMutex
	sessions map[string]*session
	rooms    map[string]map[member]struct{}
	local    map[string]int // tenant\x00user → live members on this node

	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	ps      *redis.PubSub

	sockets   *prometheus.GaugeVec
	delivered *prometheus.CounterVec
	dropped   prometheus.Counter
}

// member is a socket or a stream in a room.
type member interface {
	send(ev *outEvent) bool // false: the member could not keep up and was dropped
}

// New makes the gateway of the kernel's process. Call Start to receive
// other nodes' events and Close (or let the kernel drain) to end it.
func New(k *kernel.Kernel, src Source) *Gateway {
	g := &Gateway{k: k, src: src, log: k.Log.With("module", "notifications", "part", "realtime"),
		rdb: k.Queue.Redis(), node: randomID(12), pre: fmt.Sprintf("platform:%d:notifications:rt:", k.Config.Redis.DB),
		sessions: map[string]*session{}, rooms: map[string]map[member]struct{}{}, local: map[string]int{},
		closing: make(chan struct{})}
	g.sockets = register(k, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "platform_notifications_sockets", Help: "Realtime connections on this process, by kind (socketio, sse).",
	}, []string{"kind"}))
	g.delivered = register(k, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "platform_notifications_events_delivered_total", Help: "Realtime events handed to a connection, by kind (socketio, sse).",
	}, []string{"kind"}))
	g.dropped = register(k, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "platform_notifications_slow_consumers_dropped_total", Help: "Realtime connections dropped because they could not keep up.",
	}))
	k.OnDrain(g.Close)
	return g
}

// register registers c, or returns the collector already registered under
// its name (a second gateway on one kernel, in tests).
func register[C prometheus.Collector](k *kernel.Kernel, c C) C {
	if err := k.Metrics.Registry.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if ex, ok := are.ExistingCollector.(C); ok {
				return ex
			}
		}
		panic(err)
	}
	return c
}

// Mount serves /socket.io/ at the server's root, the SSE stream at
// /api/v1/notifications/stream and the backoffice bell's token at
// /admin/notifications/realtime-token.
func (g *Gateway) Mount(r kernel.Routes) {
	r.Root.GET("/socket.io/", g.serveEngine)
	r.Root.POST("/socket.io/", g.serveEngine)
	// The stream authenticates itself: EventSource cannot send a header, so
	// it also takes ?access_token= (see authStream).
	r.Public.GET("/stream", g.serveStream)
	if r.Admin != nil {
		r.Admin.POST("/realtime-token", g.serveToken)
	}
}

func (g *Gateway) channel() string { return g.pre + "events" }

// envelope is an event on the wire between nodes.
type envelope struct {
	Node  string `json:"node"`
	Event Event  `json:"event"`
}

// Start subscribes to the other nodes' events and starts the timer that
// pings sockets and keeps presence.
func (g *Gateway) Start(ctx context.Context) error {
	ps := g.rdb.Subscribe(context.WithoutCancel(ctx), g.channel())
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return fmt.Errorf("notifications: subscribe to %s: %w", g.channel(), err)
	}
	g.mu.Lock()
	g.ps = ps
	g.mu.Unlock()
	ch := ps.Channel(redis.WithChannelSize(1024))
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		for m := range ch {
			var env envelope
			if err := json.Unmarshal([]byte(m.Payload), &env); err != nil {
				g.log.Warn("bad realtime event from Redis", "error", err)
				continue
			}
			if env.Node != g.node {
				g.deliver(&env.Event)
			}
		}
	}()
	go g.tick()
	return nil
}

// Close ends every socket and stream of this process and the subscription.
// It is safe to call more than once.
func (g *Gateway) Close() {
	g.once.Do(func() {
		close(g.closing)
		g.mu.Lock()
		ps := g.ps
		ss := make([]*session, 0, len(g.sessions))
		for _, s := range g.sessions {
			ss = append(ss, s)
		}
		g.mu.Unlock()
		for _, s := range ss {
			s.close("server shutting down")
		}
		if ps != nil {
			ps.Close()
		}
		g.wg.Wait()
		g.clearPresence()
	})
}

// Publish sends ev to its sockets on every node: at once to this node's,
// and through Redis to the others'.
func (g *Gateway) Publish(ctx context.Context, ev Event) error {
	if ev.Tenant == "" || ev.Name == "" || !json.Valid(ev.Data) {
		return fmt.Errorf("notifications: realtime event needs a tenant, a name and JSON data")
	}
	g.deliver(&ev)
	b, err := json.Marshal(envelope{Node: g.node, Event: ev})
	if err != nil {
		return err
	}
	if err := g.rdb.Publish(ctx, g.channel(), b).Err(); err != nil {
		return fmt.Errorf("notifications: publish: %w", err)
	}
	return nil
}

func tenantRoom(tenant string) string     { return "t\x00" + tenant }
func userRoom(tenant, user string) string { return "u\x00" + tenant + "\x00" + user }

// deliver hands ev to this node's members of its rooms.
func (g *Gateway) deliver(ev *Event) {
	out := encode(ev.Name, ev.Data)
	var targets []member
	g.mu.RLock()
	if len(ev.Users) == 0 {
		for m := range g.rooms[tenantRoom(ev.Tenant)] {
			targets = append(targets, m)
		}
	} else {
		for _, u := range ev.Users {
			for m := range g.rooms[userRoom(ev.Tenant, u)] {
				targets = append(targets, m)
			}
		}
	}
	g.mu.RUnlock()
	for _, m := range targets {
		m.send(out)
	}
}

// join puts m in its tenant's and its user's rooms. Presence is written
// after the lock is let go, so that deliveries do not wait on Redis.
func (g *Gateway) join(m member, tenant, user string) {
	g.mu.Lock()
	for _, r := range []string{tenantRoom(tenant), userRoom(tenant, user)} {
		if g.rooms[r] == nil {
			g.rooms[r] = map[member]struct{}{}
		}
		g.rooms[r][m] = struct{}{}
	}
	key := tenant + "\x00" + user
	g.local[key]++
	first := g.local[key] == 1
	g.mu.Unlock()
	if first {
		g.beat(context.Background(), [][2]string{{tenant, user}})
	}
}

// leave takes m out of its rooms.
func (g *Gateway) leave(m member, tenant, user string) {
	g.mu.Lock()
	for _, r := range []string{tenantRoom(tenant), userRoom(tenant, user)} {
		delete(g.rooms[r], m)
		if len(g.rooms[r]) == 0 {
			delete(g.rooms, r)
		}
	}
	key := tenant + "\x00" + user
	g.local[key]--
	last := g.local[key] <= 0
	if last {
		delete(g.local, key)
	}
	g.mu.Unlock()
	if last {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		g.rdb.ZRem(ctx, g.presenceKey(tenant, user), g.node)
	}
}

func (g *Gateway) presenceKey(tenant, user string) string {
	return g.pre + "online:" + tenant + ":" + user
}

// beat marks users as online on this node until presenceTTL from now.
func (g *Gateway) beat(ctx context.Context, users [][2]string) {
	if len(users) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	until := float64(time.Now().Add(presenceTTL).UnixMilli())
	_, err := g.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, u := range users {
			key := g.presenceKey(u[0], u[1])
			p.ZAdd(ctx, key, redis.Z{Score: until, Member: g.node})
			p.PExpire(ctx, key, presenceTTL)
		}
		return nil
	})
	if err != nil {
		g.log.Warn("realtime presence", "error", err)
	}
}

// clearPresence removes this node from every user it held.
func (g *Gateway) clearPresence() {
	g.mu.Lock()
	var keys []string
	for k := range g.local {
		tenant, user, _ := cut(k)
		keys = append(keys, g.presenceKey(tenant, user))
	}
	g.local = map[string]int{}
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, k := range keys {
		g.rdb.ZRem(ctx, k, g.node)
	}
}

func cut(key string) (string, string, bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}

// Online reports whether the user has a socket or stream open on any node.
func (g *Gateway) Online(ctx context.Context, tenantID, userID string) (bool, error) {
	n, err := g.rdb.ZCount(ctx, g.presenceKey(tenantID, userID), fmt.Sprint(time.Now().UnixMilli()), "+inf").Result()
	if err != nil {
		return false, fmt.Errorf("notifications: presence: %w", err)
	}
	return n > 0, nil
}

// tick is the process's one timer: it pings sockets, drops those that
// stopped answering or never connected, and beats presence.
func (g *Gateway) tick() {
	defer g.wg.Done()
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	lastBeat := time.Now()
	for {
		select {
		case <-g.closing:
			return
		case now := <-t.C:
			g.mu.RLock()
			ss := make([]*session, 0, len(g.sessions))
			for _, s := range g.sessions {
				ss = append(ss, s)
			}
			g.mu.RUnlock()
			for _, s := range ss {
				s.heartbeat(now)
			}
			if now.Sub(lastBeat) >= presenceBeat {
				lastBeat = now
				g.mu.RLock()
				users := make([][2]string, 0, len(g.local))
				for k := range g.local {
					tenant, user, _ := cut(k)
					users = append(users, [2]string{tenant, user})
				}
				g.mu.RUnlock()
				g.beat(context.Background(), users)
			}
		}
	}
}

// identity is who a connection authenticated as.
type identity struct{ tenant, user string }

// authenticate turns a token into the identity of a user or an API key.
// Service credentials are for module-to-module calls and are refused.
func (g *Gateway) authenticate(ctx context.Context, token string) (identity, error) {
	if token == "" {
		return identity{}, errUnauthorized
	}
	p, err := g.k.Security.AuthenticateToken(ctx, token)
	if err != nil {
		return identity{}, errUnauthorized
	}
	return principalIdentity(p)
}

func principalIdentity(p *security.Principal) (identity, error) {
	if p.Kind != security.KindUser && p.Kind != security.KindAPIKey {
		return identity{}, errUnauthorized
	}
	return identity{tenant: p.Tenant(), user: p.ID}, nil
}

var errUnauthorized = errors.New("unauthorized")

// catchUp lists what the identity missed after lastID, oldest first.
func (g *Gateway) catchUp(ctx context.Context, id identity, lastID string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	after := lastID
	for len(out) < catchUpMax {
		page, err := g.src.Missed(ctx, id.tenant, id.user, after, catchUpPage)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < catchUpPage {
			break
		}
		next := notificationID(page[len(page)-1])
		if next == "" || next == after {
			break
		}
		after = next
	}
	return out, nil
}

// unread is the unread_count event of the identity.
func (g *Gateway) unread(ctx context.Context, id identity) (*outEvent, error) {
	n, err := g.src.UnreadCount(ctx, id.tenant, id.user)
	if err != nil {
		return nil, err
	}
	return encode(EventUnreadCount, json.RawMessage(fmt.Sprintf(`{"count":%d}`, n))), nil
}

// notificationID is the "id" of a notification's JSON, or "".
func notificationID(data json.RawMessage) string {
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(data, &v) != nil || len(v.ID) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v.ID, &s) == nil {
		return s
	}
	return string(v.ID) // a numeric id
}

// outEvent is an event encoded once for every connection it goes to.
type outEvent struct {
	name string
	id   string // the notification's id, for SSE and catch-up de-duplication
	sio  []byte // Engine.IO message carrying a Socket.IO EVENT: 42["name",data]
	sse  []byte
}

func encode(name string, data json.RawMessage) *outEvent {
	n, _ := json.Marshal(name)
	ev := &outEvent{name: name}
	if name == EventNotification {
		ev.id = notificationID(data)
	}
	sio := make([]byte, 0, len(n)+len(data)+6)
	sio = append(append(append(append(append(sio, `42[`...), n...), ','), data...), ']')
	ev.sio = sio
	sse := make([]byte, 0, len(data)+len(name)+32)
	if ev.id != "" {
		sse = append(append(append(sse, "id: "...), ev.id...), '\n')
	}
	sse = append(append(append(append(append(sse, "event: "...), name...), "\ndata: "...), compact(data)...), "\n\n"...)
	ev.sse = sse
	return ev
}

// compact puts JSON on one line, as an SSE data field must be; JSON
// strings escape their line breaks, so only the spacing between tokens goes.
func compact(data json.RawMessage) []byte {
	if !bytes.ContainsAny(data, "\r\n") {
		return data
	}
	var buf bytes.Buffer
	if json.Compact(&buf, data) != nil {
		return data
	}
	return buf.Bytes()
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
