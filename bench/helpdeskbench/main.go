// Command helpdeskbench drives the helpdesk benchmark of docs/benchmarks.md
// (bench/helpdesk.sh): ticket create and a filtered ticket list, against
// the platform (POST/GET /api/v1/helpdesk/tickets, with an API key) and
// against PocketBase (bench/pocketbase: /api/collections/tickets/records,
// with a superuser token), each over HTTP on loopback.
//
// Three steps, each one invocation:
//
//	helpdeskbench -target platform -base URL setup        # prints token=... tenant=...
//	helpdeskbench -target platform -base URL -token T seed -n 10000
//	helpdeskbench -target platform -base URL -token T run -case list -c 50 -d 10s -pids 123
//
// run keeps -c requests in flight for -d (after -warmup, not measured) and
// prints one line of key=value pairs: requests/s, latency quantiles, errors,
// and the CPU time that the processes named by -pids used per request.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	target, base, token, tenant, customer string
	n, conc                               int
	dur, warmup                           time.Duration
	kase, pids, sort                      string
}

func main() {
	var o options
	flag.StringVar(&o.target, "target", "platform", "platform | pocketbase")
	flag.StringVar(&o.base, "base", "", "the server's base URL, such as http://127.0.0.1:18190")
	flag.StringVar(&o.token, "token", "", "the bearer credential that setup printed")
	flag.StringVar(&o.tenant, "tenant", "", "pocketbase: the tenant value that setup printed")
	flag.StringVar(&o.customer, "customer", "", "pocketbase: the customer id that setup printed (for -case create-bare)")
	flag.IntVar(&o.n, "n", 10000, "seed: tickets to create")
	flag.IntVar(&o.conc, "c", 50, "requests in flight")
	flag.DurationVar(&o.dur, "d", 10*time.Second, "run: measured duration")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "run: load before the measurement, not measured")
	flag.StringVar(&o.kase, "case", "list", "run: create | list | create-bare (pocketbase only: the plain record create)")
	flag.StringVar(&o.sort, "sort", "created", "the list's order, newest first: created | updated")
	flag.StringVar(&o.pids, "pids", "", "run: comma-separated process ids whose CPU time to report per request (server[,database])")
	flag.Parse()
	step := flag.Arg(0)
	if flag.NArg() > 1 { // flags after the step
		_ = flag.CommandLine.Parse(flag.Args()[1:])
	}
	if o.base == "" || (o.target != "platform" && o.target != "pocketbase") || (o.sort != "created" && o.sort != "updated") {
		fail(errors.New("-base is required, -target must be platform or pocketbase, -sort created or updated"))
	}
	c := &client{base: strings.TrimRight(o.base, "/"), token: o.token, hc: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: o.conc + 10, MaxIdleConnsPerHost: o.conc + 10, MaxConnsPerHost: o.conc + 10}}}
	var err error
	switch step {
	case "setup":
		err = setUp(c, o)
	case "seed":
		err = seed(c, o)
	case "run":
		err = run(c, o)
	case "probe":
		err = probe(c, o)
	default:
		err = errors.New("the step must be setup, seed, probe or run")
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "helpdeskbench:", err)
	os.Exit(1)
}

const (
	adminEmail    = "admin@bench.local"
	adminPassword = "bench-password-0123"
	pbTenant      = "bench"
)

// client calls one server.
type client struct {
	base, token string
	hc          *http.Client
}

// do sends a request and returns the status and body.
func (c *client) do(method, path string, body []byte, headers ...string) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, raw, err
}

// call sends a JSON body and decodes the answer into out, if want came back.
func (c *client) call(method, path string, body any, want int, out any, headers ...string) error {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	status, raw, err := c.do(method, path, b, headers...)
	if err != nil {
		return err
	}
	if status != want {
		return fmt.Errorf("%s %s: %d %s", method, path, status, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// setUp prints the credential the load uses. On the platform: a tenant, its
// owner, and an API key of the owner's with the helpdesk's permissions. On
// PocketBase: a superuser token, and one customer for the plain creates.
func setUp(c *client, o options) error {
	if o.target == "pocketbase" {
		var auth struct{ Token string }
		if err := c.call(http.MethodPost, "/api/collections/_superusers/auth-with-password", map[string]string{
			"identity": adminEmail, "password": adminPassword}, http.StatusOK, &auth); err != nil {
			return err
		}
		c.token = auth.Token
		var cust struct{ ID string }
		if err := c.call(http.MethodPost, "/api/collections/customers/records", map[string]string{
			"tenant": pbTenant, "name": "Seed", "email": "seed@example.com"}, http.StatusOK, &cust); err != nil {
			return err
		}
		fmt.Printf("token=%s tenant=%s customer=%s\n", auth.Token, pbTenant, cust.ID)
		return nil
	}
	login := func(email, password string) (string, error) {
		var out struct {
			AccessToken string `json:"access_token"`
		}
		err := c.call(http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": password},
			http.StatusOK, &out)
		c.token = out.AccessToken
		return out.AccessToken, err
	}
	if _, err := login(adminEmail, adminPassword); err != nil {
		return err
	}
	var tenant struct{ ID string }
	if err := c.call(http.MethodPost, "/api/v1/tenants", map[string]string{"name": "Bench", "slug": "bench"},
		http.StatusCreated, &tenant); err != nil {
		return err
	}
	const ownerEmail, ownerPassword = "owner@bench.local", "bench-owner-password-1"
	if err := c.call(http.MethodPost, "/api/v1/tenants/"+tenant.ID+"/users", map[string]string{"email": ownerEmail,
		"password": ownerPassword, "role": "owner"}, http.StatusCreated, nil); err != nil {
		return err
	}
	if _, err := login(ownerEmail, ownerPassword); err != nil {
		return err
	}
	// The seed solves two tickets in ten, and each asks its requester for
	// a rating by e-mail. A log provider sends those at once; with none,
	// each would fail and retry in the background through the runs.
	if err := c.call(http.MethodPost, "/api/v1/contact/providers", map[string]any{"kind": "log", "channel": "email",
		"name": "Bench log"}, http.StatusCreated, nil); err != nil {
		return err
	}
	var key struct{ Key string }
	if err := c.call(http.MethodPost, "/api/v1/api-keys", map[string]any{"name": "bench",
		"scopes": []string{"helpdesk:read", "helpdesk:write", "helpdesk:submit"}}, http.StatusCreated, &key); err != nil {
		return err
	}
	fmt.Printf("token=%s tenant=%s\n", key.Key, tenant.ID)
	return nil
}

var (
	priorities = []string{"low", "normal", "high", "urgent"}
	// seedStatus: of every ten seeded tickets, four open, two new, two
	// pending, two solved; with four priorities, status=open&priority=high
	// selects about one in ten.
	seedStatus = []string{"open", "open", "open", "open", "new", "new", "pending", "pending", "solved", "solved"}
)

// customers is how many requesters the tickets share: most creates find
// their customer, the first of each makes it.
const customers = 1000

// createBody is the body of one ticket create on the target.
func createBody(o options, i int, priority string, bare bool) []byte {
	subject := fmt.Sprintf("Printer on floor %d jams on every second page (%d)", i%40, i)
	const message = "Since this morning the printer jams on every second page. We tried another paper tray; same result."
	cust := i % customers
	var v any
	switch {
	case o.target == "platform":
		v = map[string]any{"subject": subject, "message": message, "priority": priority,
			"requester": map[string]string{"email": fmt.Sprintf("customer%d@example.com", cust), "name": fmt.Sprintf("Customer %d", cust)}}
	case bare:
		v = map[string]any{"tenant": o.tenant, "subject": subject, "priority": priority, "status": "new", "channel": "api",
			"tags": []string{}, "version": 1, "requester": o.customer}
	default:
		v = map[string]any{"tenant": o.tenant, "subject": subject, "priority": priority, "channel": "api", "tags": []string{},
			"message": message, "requester_email": fmt.Sprintf("customer%d@example.com", cust), "requester_name": fmt.Sprintf("Customer %d", cust)}
	}
	b, _ := json.Marshal(v)
	return b
}

func createPath(o options) string {
	if o.target == "platform" {
		return "/api/v1/helpdesk/tickets"
	}
	return "/api/collections/tickets/records"
}

func createStatus(o options) int {
	if o.target == "platform" {
		return http.StatusCreated
	}
	return http.StatusOK
}

// listPath is the filtered list: open tickets of high priority, newest
// first by o.sort, a page of 20, without a total count.
func listPath(o options) string {
	if o.target == "platform" {
		p := "/api/v1/helpdesk/tickets?status=open&priority=high&limit=20"
		if o.sort == "updated" {
			p += "&sort=updated_at" // descending is the default
		}
		return p
	}
	q := url.Values{"filter": {fmt.Sprintf("tenant = '%s' && status = 'open' && priority = 'high'", o.tenant)},
		"sort": {"-" + o.sort + ",-id"}, "perPage": {"20"}, "skipTotal": {"1"}}
	return "/api/collections/tickets/records?" + q.Encode()
}

// probe succeeds if the platform's list takes sort=updated_at: it answers
// the list with it, and refuses a sort it does not know (a platform
// without sorting ignores the parameter).
func probe(c *client, o options) error {
	o.sort = "updated"
	if err := check(c, o); err != nil {
		return err
	}
	st, raw, err := c.do(http.MethodGet, "/api/v1/helpdesk/tickets?sort=no_such_key", nil)
	if err != nil {
		return err
	}
	if st < 400 || st >= 500 {
		return fmt.Errorf("the list does not refuse an unknown sort: %d %.200s", st, raw)
	}
	return nil
}

// seed creates n tickets with the mix of seedStatus and random priorities,
// from o.conc clients. On the platform a ticket is created (status new) and
// then moved to its status with a PATCH; PocketBase's superuser sets the
// status in the create.
func seed(c *client, o options) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, o.conc)
	for range o.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.n {
					return
				}
				if err := seedOne(c, o, i); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	fmt.Printf("seeded=%d\n", o.n)
	return nil
}

func seedOne(c *client, o options, i int) error {
	status, priority := seedStatus[i%len(seedStatus)], priorities[rand.IntN(len(priorities))]
	if o.target == "pocketbase" {
		var v map[string]any
		_ = json.Unmarshal(createBody(o, i, priority, true), &v)
		v["status"] = status
		return c.call(http.MethodPost, createPath(o), v, http.StatusOK, nil)
	}
	var t struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	st, raw, err := c.do(http.MethodPost, createPath(o), createBody(o, i, priority, false))
	if err != nil {
		return err
	}
	if st != http.StatusCreated {
		return fmt.Errorf("seed create: %d %s", st, raw)
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return err
	}
	if status == "new" {
		return nil
	}
	return c.call(http.MethodPatch, "/api/v1/helpdesk/tickets/"+t.ID, map[string]any{"version": t.Version, "status": status},
		http.StatusOK, nil)
}

// check makes sure one list answer is what the benchmark means to measure:
// a full page of open, high-priority tickets, newest first.
func check(c *client, o options) error {
	st, raw, err := c.do(http.MethodGet, listPath(o), nil)
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("list: %d %s", st, raw)
	}
	var page struct {
		Items []struct {
			Status, Priority string
			CreatedAt        string `json:"created_at"`
			Created          string `json:"created"`
			UpdatedAt        string `json:"updated_at"`
			Updated          string `json:"updated"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return err
	}
	if len(page.Items) != 20 {
		return fmt.Errorf("list: %d items, want a full page of 20: seed first", len(page.Items))
	}
	for i, it := range page.Items {
		if it.Status != "open" || it.Priority != "high" {
			return fmt.Errorf("list: item %d is %s/%s", i, it.Status, it.Priority)
		}
		key := func(j int) time.Time {
			if o.sort == "updated" {
				return parseTime(page.Items[j].UpdatedAt + page.Items[j].Updated)
			}
			return parseTime(page.Items[j].CreatedAt + page.Items[j].Created)
		}
		if i > 0 && key(i-1).Before(key(i)) {
			return fmt.Errorf("list: item %d is newer than item %d by %s", i, i-1, o.sort)
		}
	}
	return nil
}

// parseTime reads the platform's RFC 3339 times and PocketBase's.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, _ = time.Parse("2006-01-02 15:04:05.000Z", s)
	}
	return t
}

// run keeps o.conc requests of one case in flight: o.warmup unmeasured, then
// o.dur measured.
func run(c *client, o options) error {
	var method, path string
	want := http.StatusOK
	var body func(i int) []byte
	switch o.kase {
	case "list":
		if err := check(c, o); err != nil {
			return err
		}
		method, path = http.MethodGet, listPath(o)
	case "create", "create-bare":
		bare := o.kase == "create-bare"
		if bare && o.target != "pocketbase" {
			return errors.New("-case create-bare is PocketBase's plain record create")
		}
		method, path, want = http.MethodPost, createPath(o), createStatus(o)
		body = func(i int) []byte { return createBody(o, i, priorities[i%len(priorities)], bare) }
	default:
		return fmt.Errorf("-case must be create, list or create-bare, got %q", o.kase)
	}
	pids := parsePids(o.pids)
	base := rand.IntN(1 << 30) // distinct subjects from run to run
	var (
		seq      atomic.Int64
		measure  atomic.Bool
		stop     atomic.Bool
		mu       sync.Mutex
		lat      []time.Duration
		errCount atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	for range o.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 4096)
			for !stop.Load() {
				i := int(seq.Add(1))
				var b []byte
				if body != nil {
					b = body(base + i)
				}
				t0 := time.Now()
				st, raw, err := c.do(method, path, b)
				d := time.Since(t0)
				if !measure.Load() {
					continue
				}
				if err != nil || st != want {
					if errCount.Add(1) == 1 {
						firstErr.Store(fmt.Sprintf("%d %v %.200s", st, err, raw))
					}
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	time.Sleep(o.warmup)
	cpu0 := cpuTimes(pids)
	measure.Store(true)
	start := time.Now()
	time.Sleep(o.dur)
	measure.Store(false)
	elapsed := time.Since(start)
	cpu1 := cpuTimes(pids)
	stop.Store(true)
	wg.Wait()
	slices.Sort(lat)
	n := len(lat)
	line := fmt.Sprintf("target=%s case=%s conc=%d n=%d errors=%d rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f",
		o.target, o.kase, o.conc, n, errCount.Load(), float64(n)/elapsed.Seconds(), ms(q(lat, 0.5)), ms(q(lat, 0.9)),
		ms(q(lat, 0.99)), ms(q(lat, 1)))
	for i := range pids {
		if cpu0[i] >= 0 && cpu1[i] >= 0 && n > 0 {
			line += fmt.Sprintf(" cpu%d_us_per_req=%.0f", i, (cpu1[i]-cpu0[i])*1e6/float64(n))
		}
	}
	if e := firstErr.Load(); e != nil {
		line += " first_error=" + strconv.Quote(e.(string))
	}
	fmt.Println(line)
	return nil
}

func q(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s))*p+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func parsePids(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// cpuTimes is each process's user+system CPU seconds from /proc, or -1.
func cpuTimes(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, p := range pids {
		out[i] = -1
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// The fields after the command name, which is in parentheses.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out[i] = (ut + st) / 100 // USER_HZ is 100 on Linux
	}
	return out
}
