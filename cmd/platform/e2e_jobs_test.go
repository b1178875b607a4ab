package main

// End-to-end tests of messages between modules: the probe module publishes
// on its topic, probe.pinged, and subscribes to it with a handler that
// sleeps, then writes its side effect under the idempotency key (message
// id and subscriber name) in a table with that key as its primary key.

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/kerneltest"
)

// pingState is what GET /api/v1/probe/messages reports.
type pingState struct {
	Effects map[string]int `json:"effects"` // side effects by the message's ref
	Calls   int            `json:"calls"`   // handler invocations
	Deduped int            `json:"deduped"` // invocations that found their effect written
	Ledger  map[string]int `json:"ledger"`  // deliveries by state
}

func readPings(t *testing.T, c *kerneltest.Client, tok string) pingState {
	t.Helper()
	var st pingState
	getJSON(t, c, tok, "/api/v1/probe/messages", &st)
	return st
}

// getJSON decodes the 200 response to GET path into v.
func getJSON(t *testing.T, c *kerneltest.Client, tok, path string, v any) {
	t.Helper()
	res := c.Do(http.MethodGet, path, tok, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.Status, res.Body)
	}
	res.Decode(t, v)
}

// publishPings has the probe publish count messages in one transaction,
// then publishes viaAPI more through POST /api/v1/jobs/publish, and
// returns every message's ref.
func publishPings(t *testing.T, c *kerneltest.Client, tok string, count, viaAPI, sleepMS int) []string {
	t.Helper()
	res := c.Do(http.MethodPost, "/api/v1/probe/messages", tok, map[string]int{"count": count, "sleep_ms": sleepMS})
	if res.Status != http.StatusCreated {
		t.Fatalf("publish probe messages: %d %s", res.Status, res.Body)
	}
	var out struct{ Refs []string }
	res.Decode(t, &out)
	if len(out.Refs) != count {
		t.Fatalf("the probe published %d messages, want %d", len(out.Refs), count)
	}
	for i := range viaAPI {
		ref := fmt.Sprintf("api-%d", i)
		res := c.Do(http.MethodPost, "/api/v1/jobs/publish", tok,
			map[string]any{"topic": "probe.pinged", "data": map[string]any{"ref": ref, "sleep_ms": sleepMS}})
		if res.Status != http.StatusAccepted {
			t.Fatalf("publish through the API: %d %s", res.Status, res.Body)
		}
		out.Refs = append(out.Refs, ref)
	}
	return out.Refs
}

// serveAsAdmin starts serve on b and signs the admin in.
func serveAsAdmin(t *testing.T, b *backend, name string) (*proc, *kerneltest.Client, string) {
	t.Helper()
	p := start(t, b, name, nil, "serve")
	p.waitReady()
	c := p.client()
	return p, c, c.Login(kerneltest.AdminEmail, kerneltest.AdminPassword)
}

// pollUntil calls cond every interval until it holds, and fails the test
// with cond's last word when limit has passed.
func pollUntil(t *testing.T, limit, interval time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, limit, last)
		}
		time.Sleep(interval)
	}
}

// A process stopped while it delivers messages, by kill -9 or SIGTERM, and
// started again on the same data loses no message, and the subscriber's
// idempotency key keeps each side effect to one, however often the handler
// ran. SIGTERM lets running deliveries finish: every invocation begun
// before the exit wrote its effect and was marked done.
func TestMessagesSurviveAStop(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		sig      syscall.Signal
		graceful bool
	}{
		{"kill -9", syscall.SIGKILL, false},
		{"SIGTERM", syscall.SIGTERM, true},
	}
	for _, tc := range cases {
		for _, name := range backends() {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				b := newBackend(t, name)
				mustRun(t, b, "migrate", "up")
				p, c, tok := serveAsAdmin(t, b, "serve (first)")
				// Ten workers, 600ms a message: the last starts after some
				// five seconds, so many are in flight or waiting at the stop.
				refs := publishPings(t, c, tok, 75, 5, 600)

				var at pingState
				pollUntil(t, jobsLimit, 20*time.Millisecond, "a first side effect", func() (bool, string) {
					at = readPings(t, c, tok)
					return len(at.Effects) > 0, fmt.Sprintf("%+v", at)
				})
				if len(at.Effects) >= len(refs) {
					t.Fatalf("all %d messages were delivered before the stop; the test needs them in flight", len(refs))
				}
				t.Logf("%s after %d of %d side effects", tc.name, len(at.Effects), len(refs))
				p.signal(tc.sig)
				code := p.waitExit()
				if tc.graceful {
					if code != 0 {
						t.Fatalf("exit %d after SIGTERM, want 0", code)
					}
					checkDrained(t, b, len(refs))
				}

				p2, c2, tok2 := serveAsAdmin(t, b, "serve (after "+tc.name+")")
				var st pingState
				pollUntil(t, jobsLimit, 200*time.Millisecond, "every message's side effect and done delivery", func() (bool, string) {
					st = readPings(t, c2, tok2)
					return len(st.Effects) >= len(refs) && st.Ledger["done"] == len(refs) && len(st.Ledger) == 1,
						fmt.Sprintf("%d of %d effects, ledger %v", len(st.Effects), len(refs), st.Ledger)
				})
				for _, ref := range refs {
					if n := st.Effects[ref]; n != 1 {
						t.Errorf("message %s: %d side effects, want 1", ref, n)
					}
				}
				if len(st.Effects) != len(refs) {
					t.Errorf("%d messages have side effects, %d were published", len(st.Effects), len(refs))
				}
				t.Logf("%d messages: the handler ran %d times, %d of them found the effect written (delivery is at least once)",
					len(refs), st.Calls, st.Deduped)
				if tc.graceful && st.Deduped != 0 {
					t.Errorf("after a graceful stop %d deliveries ran again after writing their effect", st.Deduped)
				}
				p2.stop()
			})
		}
	}
}

// checkDrained reads what a process stopped by SIGTERM left: every
// delivery it began finished (its effect is written and its ledger row is
// done), and the rest wait in the ledger, none of them failed.
func checkDrained(t *testing.T, b *backend, published int) {
	t.Helper()
	conn := b.openData(t).Conn(context.Background())
	var calls struct{ Calls, Deduped, Effects, Done, Archived int64 }
	err := conn.Raw(`SELECT
		(SELECT COALESCE(SUM(calls), 0) FROM probe_message_calls) AS calls,
		(SELECT COALESCE(SUM(deduped), 0) FROM probe_message_calls) AS deduped,
		(SELECT COUNT(*) FROM probe_message_effects) AS effects,
		(SELECT COUNT(*) FROM kernel_jobs WHERE type = ? AND state = 'done') AS done,
		(SELECT COUNT(*) FROM kernel_jobs WHERE type = ? AND state = 'archived') AS archived`,
		"jobs:deliver:probe.pinged:probe", "jobs:deliver:probe.pinged:probe").Scan(&calls).Error
	if err != nil {
		t.Fatalf("read what the drain left: %v", err)
	}
	t.Logf("after SIGTERM: %d invocations, %d effects, %d of %d deliveries done", calls.Calls, calls.Effects, calls.Done, published)
	if calls.Calls != calls.Effects+calls.Deduped {
		t.Errorf("%d invocations began but %d finished (%d effects, %d found written): the drain cut deliveries short",
			calls.Calls, calls.Effects+calls.Deduped, calls.Effects, calls.Deduped)
	}
	if calls.Done != calls.Effects {
		t.Errorf("%d deliveries done in the ledger, %d side effects written", calls.Done, calls.Effects)
	}
	if calls.Archived != 0 {
		t.Errorf("%d deliveries archived by the stop", calls.Archived)
	}
	if calls.Done >= int64(published) {
		t.Errorf("every delivery finished before the exit; the test needs some left for the restart")
	}
}
