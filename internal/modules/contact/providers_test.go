package contact_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/platform/platform/internal/modules/contact"
	"github.com/platform/platform/internal/modules/contracts"
)

// apiServer is a stand-in for a provider's HTTP API: it records each
// request and answers with the next of its replies (the last one repeats).
type apiServer struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []*http.Request
	bodies  []string
	replies []reply
}

type reply struct {
	status int
	body   string
}

func newAPIServer(t *testing.T, replies ...reply) *apiServer {
	s := &apiServer{replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.bodies = append(s.bodies, string(b))
		rep := s.replies[min(len(s.reqs), len(s.replies))-1]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		_, _ = w.Write([]byte(rep.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) got() ([]*http.Request, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...), append([]string(nil), s.bodies...)
}

func TestTwilioAndVonage(t *testing.T) {
	f := newFixture(t, "    attempts_per_provider: 2\n    max_attempts: 6\n    send_timeout: 5s\n")
	sms := newAPIServer(t, reply{201, `{"sid":"SM0001","status":"queued"}`})
	voice := newAPIServer(t, reply{201, `{"sid":"CA0001","status":"queued"}`})
	f.provider(t, f.ta, map[string]any{"name": "twilio-sms", "channel": "sms", "kind": "twilio",
		"settings":    map[string]any{"base_url": sms.URL, "account_sid": "AC123", "from": "+15005550006"},
		"credentials": map[string]string{"auth_token": "tw-token"}})
	f.provider(t, f.ta, map[string]any{"name": "twilio-voice", "channel": "voice", "kind": "twilio",
		"settings":    map[string]any{"base_url": voice.URL, "account_sid": "AC123", "from": "+15005550006", "voice": "alice"},
		"credentials": map[string]string{"auth_token": "tw-token"}})
	ctx := asTenant(f.ta)

	t.Run("twilio sms", func(t *testing.T) {
		id := send(t, ctx, f.m, contracts.ContactMessage{Channel: contracts.ChannelSMS, To: "+14155550123", Body: "Code 1234"})
		v := f.waitStatus(t, id, "sent")
		reqs, bodies := sms.got()
		if len(reqs) != 1 {
			t.Fatalf("%d requests", len(reqs))
		}
		form, _ := url.ParseQuery(bodies[0])
		user, pass, _ := reqs[0].BasicAuth()
		if reqs[0].URL.Path != "/2010-04-01/Accounts/AC123/Messages.json" || user != "AC123" || pass != "tw-token" ||
			form.Get("To") != "+14155550123" || form.Get("From") != "+15005550006" || form.Get("Body") != "Code 1234" ||
			reqs[0].Header.Get("I-Twilio-Idempotency-Token") != id {
			t.Errorf("request %s %v %s", reqs[0].URL.Path, reqs[0].Header, bodies[0])
		}
		if v.ProviderMessageID == nil || *v.ProviderMessageID != "SM0001" {
			t.Errorf("provider message id = %v", v.ProviderMessageID)
		}
	})
	t.Run("twilio voice speaks the text through TwiML", func(t *testing.T) {
		id := send(t, ctx, f.m, contracts.ContactMessage{Channel: contracts.ChannelVoice, To: "+14155550123",
			Body: "Your code is 1 2 3 <&>", Locale: "en-GB"})
		f.waitStatus(t, id, "sent")
		reqs, bodies := voice.got()
		form, _ := url.ParseQuery(bodies[0])
		want := `<Response><Say voice="alice" language="en-GB">Your code is 1 2 3 &lt;&amp;&gt;</Say></Response>`
		if reqs[0].URL.Path != "/2010-04-01/Accounts/AC123/Calls.json" || form.Get("Twiml") != want {
			t.Errorf("call %s Twiml %q, want %q", reqs[0].URL.Path, form.Get("Twiml"), want)
		}
	})
	t.Run("twilio invalid number is permanent", func(t *testing.T) {
		bad := newAPIServer(t, reply{400, `{"code":21211,"message":"The 'To' number is not a valid phone number."}`})
		f.provider(t, f.tb, map[string]any{"name": "twilio", "channel": "sms", "kind": "twilio",
			"settings":    map[string]any{"base_url": bad.URL, "account_sid": "AC9", "from": "+15005550006"},
			"credentials": map[string]string{"auth_token": "x"}})
		id := send(t, asTenant(f.tb), f.m, contracts.ContactMessage{Channel: contracts.ChannelSMS, To: "+15005550001", Body: "x"})
		var v messageView
		eventually(t, "the message failed", func() (bool, string) {
			v = f.message(t, f.ownerB, id)
			return v.Status == "failed", v.Status
		})
		if reqs, _ := bad.got(); len(reqs) != 1 || v.Attempts != 1 || !strings.Contains(*v.LastError, "21211") {
			t.Errorf("%d requests, %d attempts, error %v; want one of each and 21211", len(reqs), v.Attempts, v.LastError)
		}
	})
	t.Run("vonage retries a throttled message", func(t *testing.T) {
		vs := newAPIServer(t, reply{200, `{"message-count":"1","messages":[{"status":"1","error-text":"Throttled"}]}`},
			reply{200, `{"message-count":"1","messages":[{"status":"0","message-id":"0A0000001"}]}`})
		res := f.c.Do(http.MethodPatch, "/api/v1/contact/providers/"+f.providerID(t, f.ta, "twilio-sms"), f.ownerA,
			map[string]any{"enabled": false})
		if res.Status != http.StatusOK {
			t.Fatalf("disable twilio: %d %s", res.Status, res.Body)
		}
		f.provider(t, f.ta, map[string]any{"name": "vonage", "channel": "sms", "kind": "vonage",
			"settings":    map[string]any{"base_url": vs.URL, "from": "Shop"},
			"credentials": map[string]string{"api_key": "vk", "api_secret": "vs"}})
		id := send(t, ctx, f.m, contracts.ContactMessage{Channel: contracts.ChannelSMS, To: "+4915112345678", Body: "Grüße"})
		v := f.waitStatus(t, id, "sent")
		reqs, bodies := vs.got()
		form, _ := url.ParseQuery(bodies[1])
		if len(reqs) != 2 || reqs[1].URL.Path != "/sms/json" || form.Get("api_key") != "vk" || form.Get("api_secret") != "vs" ||
			form.Get("to") != "4915112345678" || form.Get("from") != "Shop" || form.Get("text") != "Grüße" ||
			form.Get("type") != "unicode" || form.Get("client-ref") != id {
			t.Errorf("%d requests; last %s %s", len(reqs), reqs[len(reqs)-1].URL.Path, bodies[len(bodies)-1])
		}
		if v.Attempts != 2 || *v.ProviderMessageID != "0A0000001" {
			t.Errorf("attempts %d, id %v", v.Attempts, *v.ProviderMessageID)
		}
	})
}

// providerID finds a provider of tenant by name.
func (f *fixture) providerID(t *testing.T, tenant, name string) string {
	t.Helper()
	res := f.c.Do(http.MethodGet, "/api/v1/contact/providers", f.admin, nil, "X-Tenant-ID", tenant)
	var out struct{ Items []struct{ ID, Name string } }
	res.Decode(t, &out)
	for _, p := range out.Items {
		if p.Name == name {
			return p.ID
		}
	}
	t.Fatalf("no provider %s: %s", name, res.Body)
	return ""
}

// A webhook is a POST of the message as JSON, signed with HMAC-SHA256
// over the timestamp and the body.
func TestWebhookIsSigned(t *testing.T) {
	f := newFixture(t, fastConfig)
	hook := newAPIServer(t, reply{204, ""})
	f.provider(t, f.ta, map[string]any{"name": "hooks", "channel": "webhook", "kind": "webhook",
		"credentials": map[string]string{"signing_secret": "whsec-123"}})
	id := send(t, asTenant(f.ta), f.m, contracts.ContactMessage{Channel: contracts.ChannelWebhook, To: hook.URL + "/in",
		Subject: "order.paid", Body: "paid", Data: map[string]any{"order": 42}, Metadata: map[string]string{"k": "v"}})
	f.waitStatus(t, id, "sent")
	reqs, bodies := hook.got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r, body := reqs[0], bodies[0]
	ts := r.Header.Get(contact.HeaderTimestamp)
	if sig := r.Header.Get(contact.HeaderSignature); sig != contact.Sign([]byte("whsec-123"), ts, []byte(body)) {
		t.Errorf("signature %q does not match the body", sig)
	}
	if n, _ := strconv.ParseInt(ts, 10, 64); time.Since(time.Unix(n, 0)) > time.Minute {
		t.Errorf("timestamp %q", ts)
	}
	var got map[string]any
	_ = json.Unmarshal([]byte(body), &got)
	if r.URL.Path != "/in" || r.Header.Get(contact.HeaderMessageID) != id || got["id"] != id ||
		got["data"].(map[string]any)["order"] != 42.0 || got["subject"] != "order.paid" {
		t.Errorf("request %s %v %s", r.URL.Path, r.Header, body)
	}
}

// loopbackName is a host name other than localhost that /etc/hosts maps
// to a loopback address, or "".
func loopbackName() string {
	fh, err := os.Open("/etc/hosts")
	if err != nil {
		return ""
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], "127.") {
			continue
		}
		for _, name := range f[1:] {
			if !strings.Contains(name, "localhost") && !strings.HasPrefix(name, "#") {
				return name
			}
		}
	}
	return ""
}

// The SSRF guard: internal addresses are refused when the message is
// sent, a name that resolves to one is refused when it is dialled, and
// only a platform admin may let a provider reach internal networks.
func TestSSRFGuard(t *testing.T) {
	f := newFixture(t, fastConfig)
	res := f.c.Do(http.MethodPost, "/api/v1/contact/providers", f.ownerA, map[string]any{"name": "hooks",
		"channel": "webhook", "kind": "webhook", "credentials": map[string]string{"signing_secret": "s"}})
	if res.Status != http.StatusCreated {
		t.Fatalf("owner creates a webhook provider: %d %s", res.Status, res.Body)
	}
	for _, to := range []string{"https://127.0.0.1/x", "https://169.254.169.254/latest/meta-data/", "https://[::1]:8443/",
		"https://10.0.0.5/hook", "https://localhost/hook", "http://hooks.example.com/plain-http"} {
		res := f.c.Do(http.MethodPost, "/api/v1/contact/messages", f.ownerA,
			map[string]any{"channel": "webhook", "to": to, "body": "x"})
		if res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != "contact.invalid_message" ||
			!strings.Contains(string(res.Body), `"field":"to"`) {
			t.Errorf("webhook to %s: %d %s", to, res.Status, res.Body)
		}
	}
	for name, body := range map[string]map[string]any{
		"allow_private": {"name": "p", "channel": "webhook", "kind": "webhook", "allow_private": true,
			"credentials": map[string]string{"signing_secret": "s"}},
	} {
		res := f.c.Do(http.MethodPost, "/api/v1/contact/providers", f.ownerA, body)
		if res.Status != http.StatusForbidden || res.ErrorCode() != "contact.allow_private_forbidden" {
			t.Errorf("owner sets %s: %d %s", name, res.Status, res.Body)
		}
	}
	res = f.c.Do(http.MethodPost, "/api/v1/contact/providers", f.ownerA, map[string]any{"name": "tw", "channel": "sms",
		"kind": "twilio", "settings": map[string]any{"base_url": "http://169.254.169.254", "account_sid": "AC1", "from": "+15005550006"},
		"credentials": map[string]string{"auth_token": "x"}})
	if res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != "contact.invalid_provider" {
		t.Errorf("owner points twilio at the metadata service: %d %s", res.Status, res.Body)
	}
	res = f.c.Do(http.MethodPost, "/api/v1/contact/providers", f.ownerA, map[string]any{"name": "mail", "channel": "email",
		"kind": "smtp", "settings": map[string]any{"host": "127.0.0.1", "port": 25, "tls": "none", "from": "a@example.com"}})
	if res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != "contact.invalid_provider" {
		t.Errorf("owner points smtp at loopback: %d %s", res.Status, res.Body)
	}

	// A provider a platform admin opened to internal networks: its owner
	// may switch it off, not point it elsewhere.
	opened := f.provider(t, f.ta, map[string]any{"name": "internal-hooks", "channel": "webhook", "kind": "webhook",
		"credentials": map[string]string{"signing_secret": "s"}})
	for body, want := range map[string]int{`{"settings":{}}`: 403, `{"credentials":{"signing_secret":"t"}}`: 403,
		`{"enabled":false}`: 200, `{"allow_private":true}`: 200} {
		if res := f.c.Do(http.MethodPatch, "/api/v1/contact/providers/"+opened, f.ownerA, body); res.Status != want {
			t.Errorf("owner patches %s: %d %s, want %d", body, res.Status, res.Body, want)
		}
	}

	name := loopbackName()
	if name == "" {
		t.Log("no name other than localhost maps to loopback in /etc/hosts: the dial-time case is covered by TestGuardedClient only")
		return
	}
	hook := newAPIServer(t, reply{204, ""})
	port := hook.Listener.Addr().String()[strings.LastIndexByte(hook.Listener.Addr().String(), ':'):]
	id := send(t, asTenant(f.ta), f.m, contracts.ContactMessage{Channel: contracts.ChannelWebhook,
		To: "https://" + name + port + "/hook", Body: "x"})
	v := f.waitStatus(t, id, "failed")
	if reqs, _ := hook.got(); len(reqs) != 0 || v.Attempts != 1 || !strings.Contains(*v.LastError, "blocked_address") {
		t.Errorf("webhook to %s (loopback): %d requests, %d attempts, error %v", name, len(reqs), v.Attempts, *v.LastError)
	}
	if want := []string{"queued", "sending", "failed/permanent"}; !slices.Equal(v.history(), want) {
		t.Errorf("history %v, want %v", v.history(), want)
	}
}
