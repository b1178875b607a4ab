package realtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/kernel/security"
)

// fakeSource is an in-memory notifications store: ids sort in creation
// order, and a notification with no user is for its whole tenant.
type fakeSource struct {
	mu    sync.Mutex
	items []fakeNote
	fail  bool
}

type fakeNote struct {
	ID, Tenant, User, Title string
	Read                    bool
}

func (f *fakeSource) add(tenant, user, id, title string) json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := fakeNote{ID: id, Tenant: tenant, User: user, Title: title}
	f.items = append(f.items, n)
	sort.Slice(f.items, func(i, j int) bool { return f.items[i].ID < f.items[j].ID })
	return noteJSON(n)
}

func noteJSON(n fakeNote) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"id": n.ID, "tenant_id": n.Tenant, "user_id": n.User, "title": n.Title})
	return b
}

func (f *fakeSource) visible(n fakeNote, tenant, user string) bool {
	return n.Tenant == tenant && (n.User == "" || n.User == user)
}

func (f *fakeSource) Missed(_ context.Context, tenant, user, after string, limit int) ([]json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, fmt.Errorf("store down")
	}
	var out []json.RawMessage
	for _, n := range f.items {
		if n.ID > after && f.visible(n, tenant, user) && len(out) < limit {
			out = append(out, noteJSON(n))
		}
	}
	return out, nil
}

func (f *fakeSource) UnreadCount(_ context.Context, tenant, user string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := 0
	for _, n := range f.items {
		if f.visible(n, tenant, user) && !n.Read {
			c++
		}
	}
	return c, nil
}

// gwModule mounts a gateway the way the notifications module does.
type gwModule struct{ g *Gateway }

func (*gwModule) Name() string             { return "notifications" }
func (m *gwModule) Routes(r kernel.Routes) { m.g.Mount(r) }

// env is a kernel with a started gateway on a test server, an admin, two
// users in one tenant and one in another.
type env struct {
	t          *testing.T
	k          *kernel.Kernel
	g          *Gateway
	src        *fakeSource
	srv        *httptest.Server
	api        *kerneltest.Client
	admin      string
	tenantA    string
	tenantB    string
	alice, bob string // tenant A
	carol      string // tenant B
	ids        map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	m := &gwModule{}
	k := kerneltest.New(t, m)
	k.UseShell(admin.New(k))
	e := &env{t: t, k: k, src: &fakeSource{}}
	e.g = New(k, e.src)
	m.g = e.g
	if err := e.g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.srv = kerneltest.Server(t, k)
	t.Cleanup(e.g.Close) // before the server's Close, which waits for polls and streams
	e.api = kerneltest.NewClient(t, e.srv.URL)
	e.admin = e.api.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
	e.tenantA = e.api.CreateTenant(e.admin, "Alpha", "alpha")
	e.tenantB = e.api.CreateTenant(e.admin, "Beta", "beta")
	e.alice = e.api.CreateUser(e.admin, e.tenantA, "alice@example.com", "agent")
	e.bob = e.api.CreateUser(e.admin, e.tenantA, "bob@example.com", "agent")
	e.carol = e.api.CreateUser(e.admin, e.tenantB, "carol@example.com", "agent")
	e.ids = map[string]string{}
	for _, tok := range []string{e.alice, e.bob, e.carol} {
		p, err := k.Security.AuthenticateToken(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		e.ids[tok] = p.ID
	}
	return e
}

func (e *env) publish(tenant string, users []string, name string, data any) {
	e.t.Helper()
	b, _ := json.Marshal(data)
	if err := e.g.Publish(context.Background(), Event{Tenant: tenant, Users: users, Name: name, Data: b}); err != nil {
		e.t.Fatal(err)
	}
}

// wsClient speaks Engine.IO and Socket.IO over a raw WebSocket.
type wsClient struct {
	t    *testing.T
	c    *websocket.Conn
	open map[string]any
}

func wsURL(base, sid string) string {
	u := strings.Replace(base, "http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
	if sid != "" {
		u += "&sid=" + sid
	}
	return u
}

func dialWS(t *testing.T, base string) *wsClient {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(wsURL(base, ""), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	w := &wsClient{t: t, c: c}
	p := w.next()
	if p[0] != '0' || json.Unmarshal([]byte(p[1:]), &w.open) != nil {
		t.Fatalf("open packet: %q", p)
	}
	return w
}

func (w *wsClient) write(p string) {
	w.t.Helper()
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(p)); err != nil {
		w.t.Fatalf("write %q: %v", p, err)
	}
}

// next is the next packet, answering pings on the way.
func (w *wsClient) next() string {
	w.t.Helper()
	for {
		_ = w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := w.c.ReadMessage()
		if err != nil {
			w.t.Fatalf("read: %v", err)
		}
		if string(b) == "2" {
			w.write("3")
			continue
		}
		return string(b)
	}
}

// connect sends CONNECT with auth and returns the server's answer.
func (w *wsClient) connect(auth any) string {
	w.t.Helper()
	b, _ := json.Marshal(auth)
	w.write("40" + string(b))
	return w.next()
}

// event reads the next Socket.IO event as its name and data.
func (w *wsClient) event() (string, map[string]any) {
	w.t.Helper()
	return decodeEvent(w.t, w.next())
}

func decodeEvent(t *testing.T, p string) (string, map[string]any) {
	t.Helper()
	if !strings.HasPrefix(p, "42[") {
		t.Fatalf("want an event, got %q", p)
	}
	var args []json.RawMessage
	if err := json.Unmarshal([]byte(p[2:]), &args); err != nil || len(args) != 2 {
		t.Fatalf("event %q: %v", p, err)
	}
	var name string
	var data map[string]any
	_ = json.Unmarshal(args[0], &name)
	_ = json.Unmarshal(args[1], &data)
	return name, data
}

// mustConnect connects with token and reads the CONNECT answer and the
// unread count that follows it.
func (w *wsClient) mustConnect(token string) float64 {
	w.t.Helper()
	if got := w.connect(map[string]string{"token": token}); !strings.HasPrefix(got, `40{"sid":`) {
		w.t.Fatalf("connect: %q", got)
	}
	name, data := w.event()
	if name != "unread_count" {
		w.t.Fatalf("want unread_count first, got %s %v", name, data)
	}
	return data["count"].(float64)
}

// poller speaks Engine.IO's HTTP long-polling.
type poller struct {
	t    *testing.T
	base string
	sid  string
	hc   *http.Client
}

func handshake(t *testing.T, base string) (*poller, map[string]any) {
	t.Helper()
	p := &poller{t: t, base: base, hc: &http.Client{Timeout: time.Minute}}
	body := p.get()
	var open map[string]any
	if !strings.HasPrefix(body, "0") || json.Unmarshal([]byte(body[1:]), &open) != nil {
		t.Fatalf("handshake: %q", body)
	}
	p.sid = open["sid"].(string)
	return p, open
}

func (p *poller) url() string {
	u := p.base + "/socket.io/?EIO=4&transport=polling"
	if p.sid != "" {
		u += "&sid=" + p.sid
	}
	return u
}

func (p *poller) get() string {
	p.t.Helper()
	res, err := p.hc.Get(p.url())
	if err != nil {
		p.t.Fatalf("poll: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		p.t.Fatalf("poll: %d %s", res.StatusCode, b)
	}
	return string(b)
}

// packets polls once and splits the payload.
func (p *poller) packets() []string {
	p.t.Helper()
	return strings.Split(p.get(), "\x1e")
}

func (p *poller) post(packets ...string) {
	p.t.Helper()
	res, err := p.hc.Post(p.url(), "text/plain;charset=UTF-8", strings.NewReader(strings.Join(packets, "\x1e")))
	if err != nil {
		p.t.Fatalf("post: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(b) != "ok" {
		p.t.Fatalf("post: %d %s", res.StatusCode, b)
	}
}

// sseClient reads a Server-Sent Events stream.
type sseClient struct {
	t   *testing.T
	res *http.Response
	r   *bufio.Reader
}

type sseEvent struct {
	ID, Name string
	Data     map[string]any
}

func openSSE(t *testing.T, url string, headers ...string) *sseClient {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("stream: %d %s", res.StatusCode, b)
	}
	return &sseClient{t: t, res: res, r: bufio.NewReader(res.Body)}
}

func (s *sseClient) next() sseEvent {
	s.t.Helper()
	var ev sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("stream read: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.Name != "" {
				return ev
			}
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Name = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &ev.Data); err != nil {
				s.t.Fatalf("data %q: %v", line, err)
			}
		}
	}
}

// eventually waits for cond, failing after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func withPrincipal(p *security.Principal) context.Context {
	return security.WithPrincipal(context.Background(), p)
}

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }

// newNode is a second gateway on the same Redis as e's: on a second kernel
// (another process, as far as Redis can tell) when the tests run on a real
// Redis, on e's kernel when it is the embedded one.
func newNode(t *testing.T, e *env) *Gateway {
	t.Helper()
	k := e.k
	if kerneltest.RedisAddr() != "" {
		cfg := *e.k.Config
		k = kerneltest.NewWithConfig(t, &cfg)
	}
	g := New(k, e.src)
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}
