package contact_test

import (
	"context"
	"testing"

	"github.com/platform/platform/internal/kernel/kerneltest"
)

// The settings API: who may read and change them, bad fields named with
// nothing changed, and each tenant its own.
func TestSettingsAPI(t *testing.T) {
	f := newFixture(t, "")
	rows := func() int64 {
		var n int64
		f.k.DB.Conn(context.Background()).Table("contact_settings").Count(&n)
		return n
	}
	defaults := func(r *kerneltest.Response) {
		j := r.JSON()
		if j["quiet_start"] != nil || j["quiet_end"] != nil || j["time_zone"] != "UTC" || j["rate_per_minute"] != 0.0 ||
			j["daily_quota"] != 0.0 || j["updated_at"] != nil {
			t.Errorf("want the defaults: %s", r.Body)
		}
	}
	good := map[string]any{"quiet_start": "21:30", "quiet_end": "07:00", "time_zone": "Europe/Vienna", "rate_per_minute": 60,
		"daily_quota": 1000}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for key, val := range good {
			m[key] = val
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	steps := []struct {
		name, method, path, token string
		body                      any
		want                      int
		code                      string
		check                     func(*kerneltest.Response)
	}{
		{name: "reading needs a token", method: "GET", path: "/settings", want: 401},
		{name: "a customer may not read", method: "GET", path: "/settings", token: f.customerA, want: 403},
		{name: "an agent reads the defaults", method: "GET", path: "/settings", token: f.agentA, want: 200, check: defaults},
		{name: "an agent may not change them", method: "PUT", path: "/settings", token: f.agentA, body: good, want: 403},
		{name: "bad clock", method: "PUT", path: "/settings", token: f.ownerA, body: with("quiet_start", "25:00"), want: 422,
			code: "contact.invalid_settings", check: wantField(t, "quiet_start")},
		{name: "an end without a start", method: "PUT", path: "/settings", token: f.ownerA, body: with("quiet_start", nil),
			want: 422, code: "contact.invalid_settings", check: wantField(t, "quiet_start")},
		{name: "an empty window", method: "PUT", path: "/settings", token: f.ownerA, body: with("quiet_end", "21:30"), want: 422,
			code: "contact.invalid_settings", check: wantField(t, "quiet_end")},
		{name: "unknown time zone", method: "PUT", path: "/settings", token: f.ownerA, body: with("time_zone", "Mars/Olympus"),
			want: 422, code: "contact.invalid_settings", check: wantField(t, "time_zone")},
		{name: "Local is no place", method: "PUT", path: "/settings", token: f.ownerA, body: with("time_zone", "Local"),
			want: 422, code: "contact.invalid_settings", check: wantField(t, "time_zone")},
		{name: "negative numbers", method: "PUT", path: "/settings", token: f.ownerA,
			body: map[string]any{"rate_per_minute": -1, "daily_quota": -5}, want: 422, code: "contact.invalid_settings",
			check: wantField(t, "rate_per_minute", "daily_quota")},
		{name: "unknown field", method: "PUT", path: "/settings", token: f.ownerA, body: with("tenant_id", f.tb), want: 400,
			code: "unknown_field"},
		{name: "nothing was changed", method: "GET", path: "/settings", token: f.ownerA, want: 200,
			check: func(r *kerneltest.Response) {
				defaults(r)
				if n := rows(); n != 0 {
					t.Errorf("bad input stored %d rows", n)
				}
			}},
		{name: "an owner sets them", method: "PUT", path: "/settings", token: f.ownerA, body: good, want: 200,
			check: func(r *kerneltest.Response) {
				j := r.JSON()
				if j["quiet_start"] != "21:30" || j["quiet_end"] != "07:00" || j["time_zone"] != "Europe/Vienna" ||
					j["rate_per_minute"] != 60.0 || j["daily_quota"] != 1000.0 || j["updated_at"] == nil {
					t.Errorf("put: %s", r.Body)
				}
			}},
		{name: "an agent reads them", method: "GET", path: "/settings", token: f.agentA, want: 200,
			check: func(r *kerneltest.Response) {
				if r.JSON()["time_zone"] != "Europe/Vienna" || r.JSON()["quiet_start"] != "21:30" {
					t.Errorf("get: %s", r.Body)
				}
			}},
		{name: "tenant B has its own", method: "GET", path: "/settings", token: f.ownerB, want: 200, check: defaults},
		{name: "a put replaces them all", method: "PUT", path: "/settings", token: f.ownerA, body: map[string]any{"daily_quota": 5},
			want: 200, check: func(r *kerneltest.Response) {
				j := r.JSON()
				if j["quiet_start"] != nil || j["time_zone"] != "UTC" || j["rate_per_minute"] != 0.0 || j["daily_quota"] != 5.0 {
					t.Errorf("replace: %s", r.Body)
				}
				if n := rows(); n != 1 {
					t.Errorf("%d rows, want 1", n)
				}
			}},
		{name: "a message's bad time zone", method: "POST", path: "/messages", token: f.agentA,
			body: map[string]any{"channel": "sms", "to": "+14155550123", "body": "x", "time_zone": "Europe/Atlantis"}, want: 422,
			code: "contact.invalid_message", check: wantField(t, "time_zone")},
		{name: "a message's good one", method: "POST", path: "/messages", token: f.agentA,
			body: map[string]any{"channel": "sms", "to": "+14155550123", "body": "x", "time_zone": "America/New_York"}, want: 202},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			res := f.c.Do(s.method, "/api/v1/contact"+s.path, s.token, s.body)
			if res.Status != s.want {
				t.Fatalf("%s %s: %d %s, want %d", s.method, s.path, res.Status, res.Body, s.want)
			}
			if s.code != "" && res.ErrorCode() != s.code {
				t.Errorf("code %q, want %q: %s", res.ErrorCode(), s.code, res.Body)
			}
			if s.check != nil {
				s.check(res)
			}
		})
	}
}
