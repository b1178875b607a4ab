package main

// End-to-end tests of the real binary: they build it once, with the probe
// module (probe_e2e.go, -tags e2eprobe), and run it as a child process on
// the embedded default and, when the tests run against real services, on
// MariaDB and Redis too.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/kerneltest"
)

const e2eVersion = "v0.0.0-e2e"

// bin is the binary under test, built by TestMain.
var bin string

func TestMain(m *testing.M) {
	// The process tests mostly wait for children; run more of them at once
	// than the default of one per CPU, unless -parallel says otherwise.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", "6")
	}
	dir, err := os.MkdirTemp("", "platform-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "platform")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goTool, "build", "-tags", "e2eprobe",
		"-ldflags", "-X github.com/platform/platform/internal/kernel.Version="+e2eVersion, "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build the platform binary:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Bounds of the process tests. A healthy run needs a small part of each.
const (
	cmdLimit   = time.Minute      // a short command such as migrate up
	readyLimit = 90 * time.Second // start-up, migrations included
	exitLimit  = 60 * time.Second // drain after SIGTERM
	// After kill -9 a real Redis still holds the killed worker's tasks as
	// active; asynq takes them back once their lease has expired, which
	// takes one to two minutes.
	jobsLimit = 4 * time.Minute
)

// backend is where a child process keeps its data: a data dir, and a fresh
// MariaDB database and Redis database for the real services.
type backend struct {
	name string
	dir  string   // working directory, with the data dir under it
	vars []string // PLATFORM_* for the child
	real bool
}

// backends lists the backends to run a scenario on: the embedded default
// always, and MariaDB (with the real Redis when one is given) when the tests
// run on the real services.
func backends() []string {
	if kerneltest.Driver() == "mysql" {
		return []string{"embedded", "mariadb+redis"}
	}
	return []string{"embedded"}
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	dir := t.TempDir()
	b := &backend{name: name, dir: dir, vars: []string{
		"PLATFORM_DATA_DIR=" + filepath.Join(dir, "data"),
		"PLATFORM_BOOTSTRAP_ADMIN_EMAIL=" + kerneltest.AdminEmail,
		"PLATFORM_BOOTSTRAP_ADMIN_PASSWORD=" + kerneltest.AdminPassword,
		"PLATFORM_HTTP_ACCESS_LOG=false",
		"PLATFORM_QUEUE_RELAY_INTERVAL=50ms", "PLATFORM_QUEUE_POLL_INTERVAL=50ms",
	}}
	if name == "mariadb+redis" {
		b.real = true
		b.vars = append(b.vars, "PLATFORM_DATABASE_DRIVER=mysql", "PLATFORM_DATABASE_DSN="+kerneltest.NewMySQLDatabase(t))
		if addr := kerneltest.RedisAddr(); addr != "" {
			n := kerneltest.ClaimRedisDB(t, addr)
			b.vars = append(b.vars, "PLATFORM_REDIS_ADDR="+addr, "PLATFORM_REDIS_DB="+strconv.Itoa(n))
		}
	}
	return b
}

// environ is the test's environment without any PLATFORM_ variable, then
// the backend's, then extra; a later entry wins.
func (b *backend) environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLATFORM_") {
			env = append(env, kv)
		}
	}
	env = append(env, b.vars...)
	return append(env, extra...)
}

// lockedBuffer collects a child's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// runCmd runs the binary to its end and returns its output and exit code.
func runCmd(t *testing.T, b *backend, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = b.dir
	cmd.Env = b.environ(env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("platform %s did not finish within %v; stderr:\n%s", strings.Join(args, " "), cmdLimit, tail(errOut.String(), 4000))
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("platform %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func mustRun(t *testing.T, b *backend, args ...string) string {
	t.Helper()
	out, errOut, code := runCmd(t, b, nil, args...)
	if code != 0 {
		t.Fatalf("platform %s exited %d:\n%s%s", strings.Join(args, " "), code, out, tail(errOut, 4000))
	}
	return out
}

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// proc is a running platform process.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{}
	base   string
}

// start runs the binary in the background; it is killed at cleanup if it
// is still running.
func start(t *testing.T, b *backend, name string, env []string, args ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, args...)
	cmd.Dir = b.dir
	cmd.Env = b.environ(append([]string{"PLATFORM_HTTP_ADDR=" + addr}, env...)...)
	p := &proc{t: t, name: name, cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{}), base: "http://" + addr}
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, tail(p.stderr.String(), 6000))
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// waitReady waits for /readyz to answer 200.
func (p *proc) waitReady() {
	p.t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(readyLimit)
	for {
		if !p.running() {
			p.t.Fatalf("%s exited with %d before it was ready:\n%s", p.name, p.cmd.ProcessState.ExitCode(), tail(p.stderr.String(), 4000))
		}
		if res, err := hc.Get(p.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not ready within %v", p.name, readyLimit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitExit waits for the process to end and returns its exit code.
func (p *proc) waitExit() int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(exitLimit):
		p.cmd.Process.Kill()
		<-p.exited
		p.t.Fatalf("%s did not exit within %v", p.name, exitLimit)
		return -1
	}
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(); code != 0 {
		p.t.Fatalf("%s exited with %d after SIGTERM, want 0", p.name, code)
	}
}

func (p *proc) client() *kerneltest.Client { return kerneltest.NewClient(p.t, p.base) }

// enqueueProbe asks the probe module for count jobs that each sleep.
func enqueueProbe(t *testing.T, c *kerneltest.Client, tok string, count, sleepMS, runInMS int) []string {
	t.Helper()
	return postProbeJobs(t, c, tok, count, map[string]any{"count": count, "sleep_ms": sleepMS, "run_in_ms": runInMS})
}

// enqueueProbeDirect enqueues count probe jobs one by one outside a
// transaction: the queue's direct path.
func enqueueProbeDirect(t *testing.T, c *kerneltest.Client, tok string, count, sleepMS int) []string {
	t.Helper()
	return postProbeJobs(t, c, tok, count, map[string]any{"count": count, "sleep_ms": sleepMS, "direct": true})
}

func postProbeJobs(t *testing.T, c *kerneltest.Client, tok string, count int, body map[string]any) []string {
	t.Helper()
	res := c.Do(http.MethodPost, "/api/v1/probe/jobs", tok, body)
	if res.Status != http.StatusCreated {
		t.Fatalf("enqueue probe jobs: %d %s", res.Status, res.Body)
	}
	var out struct{ IDs []string }
	res.Decode(t, &out)
	if len(out.IDs) != count {
		t.Fatalf("enqueued %d probe jobs, want %d", len(out.IDs), count)
	}
	return out.IDs
}

type probeState struct {
	Runs   map[string]int `json:"runs"`
	Ledger map[string]int `json:"ledger"`
}

func readProbe(t *testing.T, c *kerneltest.Client, tok string) probeState {
	t.Helper()
	var st probeState
	getJSON(t, c, tok, "/api/v1/probe/runs", &st)
	return st
}

// waitAllRan waits until every job has run to its end and the ledger holds
// all of them as done, and returns how often each ran.
func waitAllRan(t *testing.T, c *kerneltest.Client, tok string, ids []string) map[string]int {
	t.Helper()
	deadline := time.Now().Add(jobsLimit)
	for {
		st := readProbe(t, c, tok)
		var missing []string
		for _, id := range ids {
			if st.Runs[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 && st.Ledger["done"] == len(ids) && len(st.Ledger) == 1 {
			return st.Runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d of %d jobs never ran (ledger %v)", jobsLimit, len(missing), len(ids), st.Ledger)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	b := newBackend(t, "embedded")
	out := mustRun(t, b, "--help")
	for _, want := range []string{"Usage:", "business platform", "PLATFORM_DATABASE_DRIVER", "--config"} {
		if !strings.Contains(out, want) {
			t.Errorf("platform --help lacks %q:\n%s", want, out)
		}
	}
	// Every command listed explains itself.
	var cmds []string
	inList := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Available Commands:"):
			inList = true
		case inList && strings.TrimSpace(line) == "":
			inList = false
		case inList:
			cmds = append(cmds, strings.Fields(line)[0])
		}
	}
	for _, want := range []string{"serve", "worker", "migrate", "version"} {
		if !slices.Contains(cmds, want) {
			t.Errorf("platform --help does not list %q (lists %v)", want, cmds)
		}
	}
	helps := [][]string{{"migrate", "up"}, {"migrate", "down"}, {"migrate", "status"}}
	for _, c := range cmds {
		if c != "help" && c != "completion" {
			helps = append(helps, []string{c})
		}
	}
	for _, args := range helps {
		name := strings.Join(args, " ")
		t.Run(name, func(t *testing.T) {
			out := mustRun(t, b, append(args, "--help")...)
			desc, _, found := strings.Cut(out, "Usage:")
			if !found || !strings.Contains(out, "platform "+name) {
				t.Fatalf("platform %s --help is not a usage text:\n%s", name, out)
			}
			if len(strings.TrimSpace(desc)) < 20 {
				t.Errorf("platform %s --help does not say what it does:\n%s", name, out)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(b.dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--help touched the data dir: %v", err)
	}

	if out := mustRun(t, b, "version"); out != e2eVersion+"\n" {
		t.Errorf("platform version = %q, want %q", out, e2eVersion+"\n")
	}
	if _, errOut, code := runCmd(t, b, nil, "frobnicate"); code == 0 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("an unknown command: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := runCmd(t, b, nil, "migrate", "down", "zero"); code != 1 || !strings.Contains(errOut, "positive number") {
		t.Errorf("migrate down zero: exit %d, stderr %q", code, errOut)
	}
}

func TestInvalidConfigExitsWithCode2(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  []string
		args []string
		key  string
	}{
		{"unknown driver, no command", []string{"PLATFORM_DATABASE_DRIVER=oracle"}, nil, "database.driver"},
		{"unknown driver, serve", []string{"PLATFORM_DATABASE_DRIVER=oracle"}, []string{"serve"}, "database.driver"},
		{"address without a port", []string{"PLATFORM_HTTP_ADDR=nonsense"}, []string{"serve"}, "http.addr"},
		{"address without a port, worker", []string{"PLATFORM_HTTP_ADDR=nonsense"}, []string{"worker"}, "http.addr"},
		{"mysql without a dsn, migrate up", []string{"PLATFORM_DATABASE_DRIVER=mysql"}, []string{"migrate", "up"}, "database.dsn"},
		{"bad duration, migrate status", []string{"PLATFORM_QUEUE_LEASE=soon"}, []string{"migrate", "status"}, "queue.lease"},
		{"short bootstrap password", []string{"PLATFORM_BOOTSTRAP_ADMIN_PASSWORD=short"}, nil, "bootstrap.admin_password"},
		{"missing config file", nil, []string{"--config", "nowhere.yaml", "serve"}, "config"},
		{"bad address, healthcheck", []string{"PLATFORM_HTTP_ADDR=nonsense"}, []string{"healthcheck"}, "http.addr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, "embedded")
			out, errOut, code := runCmd(t, b, tc.env, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stdout %q stderr %q", code, out, errOut)
			}
			if !strings.Contains(errOut, tc.key) {
				t.Errorf("stderr does not name %s: %q", tc.key, errOut)
			}
			if _, err := os.Stat(filepath.Join(b.dir, "data")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused configuration created the data dir: %v", err)
			}
		})
	}
}

// migrateStatus parses "platform migrate status": the migrations in the
// order it lists them, and whether each is applied.
func migrateStatus(t *testing.T, b *backend) ([]string, map[string]bool) {
	t.Helper()
	out := mustRun(t, b, "migrate", "status")
	var ids []string
	st := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if i == 0 {
			if len(f) != 2 || f[0] != "MIGRATION" {
				t.Fatalf("status header %q", line)
			}
			continue
		}
		if len(f) < 2 {
			t.Fatalf("status line %q", line)
		}
		ids = append(ids, f[0])
		st[f[0]] = f[1] != "pending"
	}
	return ids, st
}

// The migrations are the kernel's, then each module's, the probe's last;
// the test takes the kernel's and the domain modules' from the fresh
// status, so that a new one does not change it.
func TestMigrateCommands(t *testing.T) {
	t.Parallel()
	for _, name := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, name)
			all, _ := migrateStatus(t, b)
			if len(all) < 3 || all[0] != "kernel/0001_init" || !slices.Equal(all[len(all)-2:], []string{"probe/0001_init", "probe/0002_messages"}) {
				t.Fatalf("status lists %v, want the kernel's first and the probe's last", all)
			}
			// statusIs checks that the first n migrations are applied.
			statusIs := func(when string, n int) {
				t.Helper()
				want := map[string]bool{}
				for i, id := range all {
					want[id] = i < n
				}
				if _, got := migrateStatus(t, b); !mapsEqual(got, want) {
					t.Fatalf("status %s = %v, want %v", when, got, want)
				}
			}
			// printed is what migrate prints for ids, in order.
			printed := func(verb string, ids ...string) string {
				var sb strings.Builder
				for _, id := range ids {
					sb.WriteString(verb + " " + id + "\n")
				}
				return sb.String()
			}
			statusIs("of a fresh database", 0)
			if out := mustRun(t, b, "migrate", "up"); out != printed("applied", all...) {
				t.Fatalf("migrate up printed %q", out)
			}
			if out := mustRun(t, b, "migrate", "up"); out != "nothing to apply\n" {
				t.Fatalf("second migrate up printed %q", out)
			}
			statusIs("after up", len(all))
			if out := mustRun(t, b, "migrate", "down"); out != printed("rolled back", all[len(all)-1]) {
				t.Fatalf("migrate down printed %q, want only the last migration", out)
			}
			statusIs("after down", len(all)-1)
			rest := slices.Clone(all[:len(all)-1])
			slices.Reverse(rest)
			if out := mustRun(t, b, "migrate", "down", strconv.Itoa(len(all)+3)); out != printed("rolled back", rest...) {
				t.Fatalf("migrate down %d printed %q", len(all)+3, out)
			}
			statusIs("after rolling back everything", 0)
		})
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Without auto-migrate (the default on MariaDB), serve refuses a database
// with pending migrations, the kernel's or a module's, until "migrate up".
func TestServeRefusesPendingMigrations(t *testing.T) {
	t.Parallel()
	for _, name := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, name)
			if !b.real {
				b.vars = append(b.vars, "PLATFORM_DATABASE_AUTO_MIGRATE=false")
			}
			refused := func(when string) {
				t.Helper()
				_, errOut, code := runCmd(t, b, []string{"PLATFORM_HTTP_ADDR=" + freeAddr(t)}, "serve")
				if code != 1 || !strings.Contains(errOut, "platform migrate up") {
					t.Fatalf("%s: serve exited %d, want 1 and advice to run migrate up; stderr:\n%s", when, code, tail(errOut, 2000))
				}
			}
			refused("fresh database")
			mustRun(t, b, "migrate", "up")
			mustRun(t, b, "migrate", "down")
			refused("a module's migration pending")
			mustRun(t, b, "migrate", "up")

			p := start(t, b, "serve", nil, "serve")
			p.waitReady()
			tok := p.client().Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
			if res := p.client().Do(http.MethodGet, "/api/v1/auth/me", tok, nil); res.Status != http.StatusOK {
				t.Fatalf("me: %d %s", res.Status, res.Body)
			}
			p.stop()
		})
	}
}

// kill -9 in the middle of the work, then a restart on the same data: every
// job runs to its end, the ones due later too, and the ones enqueued on the
// direct path (written behind, with a Redis server).
func TestKill9LosesNoJob(t *testing.T) {
	t.Parallel()
	for _, name := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, name)
			mustRun(t, b, "migrate", "up")
			p, c, tok := serveAsAdmin(t, b, "serve (first)")
			const now, later = 60, 5
			ids := enqueueProbe(t, c, tok, now, 500, 0)
			ids = append(ids, enqueueProbeDirect(t, c, tok, now, 500)...)
			ids = append(ids, enqueueProbe(t, c, tok, later, 10, 8000)...)

			// Kill once some have finished and others are running.
			deadline := time.Now().Add(jobsLimit)
			for {
				st := readProbe(t, c, tok)
				if len(st.Runs) > 0 {
					if len(st.Runs) >= now {
						t.Fatalf("all %d jobs finished before the kill; the test needs them in flight", len(st.Runs))
					}
					t.Logf("kill -9 after %d of %d jobs", len(st.Runs), len(ids))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no job ran within %v", jobsLimit)
				}
				time.Sleep(20 * time.Millisecond)
			}
			p.signal(syscall.SIGKILL)
			p.waitExit()

			p2 := start(t, b, "serve (after kill -9)", nil, "serve")
			p2.waitReady()
			c2 := p2.client()
			tok2 := c2.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
			runs := waitAllRan(t, c2, tok2, ids)
			again := 0
			for _, n := range runs {
				if n > 1 {
					again++
				}
			}
			t.Logf("%d jobs ran to their end twice (delivery is at least once)", again)
			p2.stop()
		})
	}
}

// requestTally counts what a stream of requests got back.
type requestTally struct {
	mu       sync.Mutex
	ok       int
	draining int      // /readyz 503 "draining": the readiness signal
	bad      []string // any other status >= 500
	refused  int
	errs     []string // transport errors other than a refused connection
}

func (r *requestTally) add(f func(r *requestTally)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// SIGTERM in the middle of a stream of requests and jobs: no request fails,
// the process exits 0, and no job is lost.
func TestSIGTERMDrains(t *testing.T) {
	t.Parallel()
	for _, name := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, name)
			mustRun(t, b, "migrate", "up")
			p, c, tok := serveAsAdmin(t, b, "serve (first)")
			ids := enqueueProbe(t, c, tok, 40, 400, 0)

			var tally requestTally
			stop := make(chan struct{})
			var wg sync.WaitGroup
			tr := &http.Transport{MaxIdleConnsPerHost: 8}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for w := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						path := "/api/v1/auth/me"
						if (w+i)%2 == 1 {
							path = "/readyz"
						}
						req, _ := http.NewRequest(http.MethodGet, p.base+path, nil)
						req.Header.Set("Authorization", "Bearer "+tok)
						res, err := hc.Do(req)
						if err != nil {
							tally.add(func(r *requestTally) {
								if errors.Is(err, syscall.ECONNREFUSED) {
									r.refused++
								} else {
									r.errs = append(r.errs, path+": "+err.Error())
								}
							})
							return // the listener is closed
						}
						body, _ := io.ReadAll(res.Body)
						res.Body.Close()
						tally.add(func(r *requestTally) {
							switch {
							case res.StatusCode == http.StatusOK:
								r.ok++
							case path == "/readyz" && res.StatusCode == http.StatusServiceUnavailable && bytes.Contains(body, []byte(`"draining"`)):
								r.draining++
							default:
								r.bad = append(r.bad, fmt.Sprintf("%s: %d %s", path, res.StatusCode, body))
							}
						})
					}
				}()
			}
			var once sync.Once
			stopStream := func() { once.Do(func() { close(stop); wg.Wait() }) }
			defer stopStream()

			// SIGTERM once the stream flows and jobs are running.
			deadline := time.Now().Add(jobsLimit)
			for {
				var ok int
				tally.add(func(r *requestTally) { ok = r.ok })
				st := readProbe(t, c, tok)
				if ok >= 100 && len(st.Runs) > 0 {
					t.Logf("SIGTERM after %d responses and %d of %d jobs", ok, len(st.Runs), len(ids))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the stream did not get going: %d responses, %d jobs", ok, len(st.Runs))
				}
				time.Sleep(20 * time.Millisecond)
			}
			p.signal(syscall.SIGTERM)
			if code := p.waitExit(); code != 0 {
				t.Fatalf("exit %d after SIGTERM, want 0", code)
			}
			log := p.stderr.String()
			for _, want := range []string{`"msg":"draining"`, `"msg":"stopped"`} {
				if !strings.Contains(log, want) {
					t.Errorf("the log lacks %s", want)
				}
			}
			stopStream()
			tally.mu.Lock()
			t.Logf("responses: %d ok, %d readiness 503 while draining, %d refused after the listener closed", tally.ok, tally.draining, tally.refused)
			for _, s := range tally.bad {
				t.Errorf("server error during the drain: %s", s)
			}
			for _, s := range tally.errs {
				t.Errorf("request failed during the drain: %s", s)
			}
			tally.mu.Unlock()

			// The jobs that ran finished; the others went back to the queue.
			p2 := start(t, b, "serve (after SIGTERM)", nil, "serve")
			p2.waitReady()
			c2 := p2.client()
			tok2 := c2.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
			waitAllRan(t, c2, tok2, ids)
			p2.stop()
		})
	}
}

// With nothing configured, platform (no command) creates its data under
// ./data, becomes ready, and logs a generated admin password once.
func TestFirstRunWithNothingConfigured(t *testing.T) {
	t.Parallel()
	b := &backend{name: "nothing configured", dir: t.TempDir()}
	p := start(t, b, "platform (first run)", nil)
	p.waitReady()
	if _, err := os.Stat(filepath.Join(b.dir, "data", "platform.db")); err != nil {
		t.Fatalf("no database under ./data: %v", err)
	}
	pw, email := generatedPassword(t, p.stderr.String())
	if len(pw) != 1 {
		t.Fatalf("the first run logged %d generated passwords, want 1:\n%s", len(pw), tail(p.stderr.String(), 4000))
	}
	if email != "admin@localhost" {
		t.Errorf("generated admin is %q, want admin@localhost", email)
	}
	if n := strings.Count(p.stderr.String(), pw[0]); n != 1 {
		t.Errorf("the password appears %d times in the log, want once", n)
	}
	c := p.client()
	tok := c.Login("admin@localhost", pw[0])
	if res := c.Do(http.MethodGet, "/api/v1/auth/me", tok, nil); res.Status != http.StatusOK || res.JSON()["role"] != "platform_admin" {
		t.Fatalf("me: %d %s", res.Status, res.Body)
	}
	p.stop()

	p2 := start(t, b, "platform (second run)", nil)
	p2.waitReady()
	if again, _ := generatedPassword(t, p2.stderr.String()); len(again) != 0 || strings.Contains(p2.stderr.String(), pw[0]) {
		t.Errorf("the second run logged a password again")
	}
	p2.client().Login("admin@localhost", pw[0])
	p2.stop()
}

var jsonLine = regexp.MustCompile(`^\{.*\}$`)

// generatedPassword finds the log lines that carry a password.
func generatedPassword(t *testing.T, log string) (passwords []string, email string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if !jsonLine.MatchString(line) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			continue
		}
		if pw, ok := m["password"].(string); ok {
			passwords = append(passwords, pw)
			email, _ = m["email"].(string)
		}
	}
	return passwords, email
}

// openData opens the backend's database as the platform does, for a test
// to read what a process left behind.
func (b *backend) openData(t *testing.T) *db.DB {
	t.Helper()
	o := db.Options{Driver: db.SQLite, DataDir: filepath.Join(b.dir, "data"), Logger: kerneltest.Logger(t)}
	for _, kv := range b.vars {
		if dsn, ok := strings.CutPrefix(kv, "PLATFORM_DATABASE_DSN="); ok {
			o.Driver, o.DSN = db.MySQL, dsn
		}
	}
	d, err := db.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open the backend's database: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// The worker role runs jobs without serving HTTP: jobs scheduled while serve
// ran, then stopped, run in a worker afterwards.
func TestWorkerRunsJobsWithoutHTTP(t *testing.T) {
	t.Parallel()
	for _, name := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, name)
			mustRun(t, b, "migrate", "up")
			p, c, tok := serveAsAdmin(t, b, "serve")
			ids := enqueueProbe(t, c, tok, 10, 10, 3000)
			p.stop()

			w := start(t, b, "worker", nil, "worker")
			d := b.openData(t)
			deadline := time.Now().Add(jobsLimit)
			for {
				if !w.running() {
					t.Fatalf("worker exited with %d", w.cmd.ProcessState.ExitCode())
				}
				var n int64
				err := d.Conn(context.Background()).Table("probe_runs").Where("job_id IN ?", ids).Count(&n).Error
				if err == nil && n == int64(len(ids)) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the worker ran %d of %d jobs within %v (%v)", n, len(ids), jobsLimit, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !strings.Contains(w.stderr.String(), `"role":"worker"`) {
				t.Errorf("the worker did not log its role")
			}
			if res, err := http.Get(w.base + "/readyz"); err == nil {
				res.Body.Close()
				t.Errorf("the worker answers HTTP on %s", w.base)
			}
			w.stop()
		})
	}
}

// A port in use stops serve at start-up with exit code 1.
func TestServeStopsWhenThePortIsTaken(t *testing.T) {
	t.Parallel()
	b := newBackend(t, "embedded")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, errOut, code := runCmd(t, b, []string{"PLATFORM_HTTP_ADDR=" + l.Addr().String()}, "serve")
	if code != 1 || !strings.Contains(errOut, "listen on "+l.Addr().String()) {
		t.Fatalf("exit %d, want 1 and the listen error; stderr:\n%s", code, tail(errOut, 2000))
	}
}
