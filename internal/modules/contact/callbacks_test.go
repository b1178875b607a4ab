package contact_test

import (
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/modules/contact"
	"github.com/platform/platform/internal/modules/contracts"
)

// publicURL is http.public_url in these tests: providers sign the URL they
// called, which behind a proxy is not the one the server sees.
const publicURL = "https://platform.example.com"

// callbackConfig is fastConfig with http.public_url (the yaml goes on
// after modules.contact, at the top level).
const callbackConfig = fastConfig + "http:\n  public_url: " + publicURL + "\n"

// postForm posts a form to the API without a token.
func (f *fixture) postForm(path string, form url.Values, headers ...string) *kerneltest.Response {
	return f.c.Do(http.MethodPost, path, "", form.Encode(),
		append([]string{"Content-Type", "application/x-www-form-urlencoded"}, headers...)...)
}

// The signature schemes, against Twilio's documented example and the
// literal form of Vonage's md5hash.
func TestCallbackSignatures(t *testing.T) {
	example := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	changed := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1235"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	for _, c := range []struct {
		name, token, url string
		form             url.Values
		want             bool
	}{
		{"Twilio's documented example", "12345", "https://mycompany.com/myapp.php?foo=1&bar=2", example, true},
		{"another token", "54321", "https://mycompany.com/myapp.php?foo=1&bar=2", example, false},
		{"another URL", "12345", "https://mycompany.com/myapp.php?foo=1&bar=3", example, false},
		{"a changed parameter", "12345", "https://mycompany.com/myapp.php?foo=1&bar=2", changed, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := contact.TwilioSignature(c.token, c.url, c.form)
			if (got == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=") != c.want {
				t.Errorf("signature %q, documented match %v", got, c.want)
			}
		})
	}

	now := time.Unix(1_700_000_000, 0)
	params := map[string]string{"b": "x&y=z", "a": "1", "timestamp": "1700000000"}
	sum := md5.Sum([]byte("&a=1&b=x_y_z&timestamp=1700000000" + "s3cret"))
	if got, want := contact.VonageSignature(params, "", "s3cret"), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("md5hash = %s, want %s", got, want)
	}
	sign := func(p map[string]string, method string) map[string]string {
		out := map[string]string{"sig": strings.ToUpper(contact.VonageSignature(p, method, "s3cret"))}
		for k, v := range p {
			out[k] = v
		}
		return out
	}
	for _, c := range []struct {
		name   string
		params map[string]string
		method string
		at     time.Time
		want   bool
	}{
		{"md5hash, upper-case", sign(params, ""), "", now, true},
		{"sha256 HMAC", sign(params, "sha256"), "sha256", now, true},
		{"another method", sign(params, "sha256"), "sha512", now, false},
		{"a changed parameter", func() map[string]string { p := sign(params, ""); p["a"] = "2"; return p }(), "", now, false},
		{"too old", sign(params, ""), "", now.Add(6 * time.Minute), false},
		{"no timestamp", sign(map[string]string{"a": "1"}, ""), "", now, false},
	} {
		t.Run("vonage "+c.name, func(t *testing.T) {
			if got := contact.VonageVerify(c.params, c.method, "s3cret", c.at); got != c.want {
				t.Errorf("verify = %v, want %v", got, c.want)
			}
		})
	}
}

// Twilio's status callbacks and inbound SMS: a bad signature changes
// nothing, a good one records the receipt once, STOP suppresses the
// sender and START lifts it.
func TestTwilioCallbacks(t *testing.T) {
	f := newFixture(t, callbackConfig)
	api := newAPIServer(t, reply{201, `{"sid":"SM0001"}`}, reply{201, `{"sid":"SM0002"}`})
	pid := f.provider(t, f.ta, map[string]any{"name": "twilio", "channel": "sms", "kind": "twilio",
		"settings":    map[string]any{"base_url": api.URL, "account_sid": "AC123", "from": "+15005550006"},
		"credentials": map[string]string{"auth_token": "tw-token"}})
	path := "/api/v1/contact/callbacks/" + pid
	signed := func(token string, form url.Values) []string {
		return []string{"X-Twilio-Signature", contact.TwilioSignature(token, publicURL+path, form)}
	}
	id := send(t, asTenant(f.ta), f.m, contracts.ContactMessage{Channel: contracts.ChannelSMS, To: "+14155550123", Body: "Hi"})
	f.waitStatus(t, id, "sent")
	if _, bodies := api.got(); !strings.Contains(bodies[0], "StatusCallback="+url.QueryEscape(publicURL+path)) {
		t.Errorf("the message asked for no status callbacks: %s", bodies[0])
	}
	delivered := url.Values{"MessageSid": {"SM0001"}, "MessageStatus": {"delivered"}, "AccountSid": {"AC123"}}

	for _, c := range []struct {
		name    string
		path    string
		form    url.Values
		headers []string
		want    int
	}{
		{"no signature", path, delivered, nil, 401},
		{"signed with another token", path, delivered, signed("not-the-token", delivered), 401},
		{"signed for other parameters", path, url.Values{"MessageSid": {"SM0001"}, "MessageStatus": {"failed"}},
			signed("tw-token", delivered), 401},
		{"an unknown provider", "/api/v1/contact/callbacks/nope", delivered, signed("tw-token", delivered), 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := f.postForm(c.path, c.form, c.headers...)
			if res.Status != c.want || res.ErrorCode() != "contact.callback_unverified" {
				t.Fatalf("%d %s, want %d", res.Status, res.Body, c.want)
			}
			if v := f.message(t, f.ownerA, id); v.Status != "sent" || len(v.History) != 3 || f.count("contact_callback_events") != 0 {
				t.Errorf("an unverified callback changed %v", v.history())
			}
		})
	}

	want := []string{"queued", "sending", "sent/accepted", "delivered/callback"}
	for _, attempt := range []string{"first", "replay"} {
		res := f.postForm(path, delivered, signed("tw-token", delivered)...)
		if res.Status != http.StatusOK {
			t.Fatalf("%s delivery receipt: %d %s", attempt, res.Status, res.Body)
		}
		if v := f.message(t, f.ownerA, id); v.Status != "delivered" || !slices.Equal(v.history(), want) {
			t.Errorf("after the %s receipt: %s %v, want delivered %v", attempt, v.Status, v.history(), want)
		}
	}
	if n := f.count("contact_callback_events"); n != 1 {
		t.Errorf("%d callback events, want 1", n)
	}

	inbound := func(sid, body string) {
		t.Helper()
		form := url.Values{"MessageSid": {sid}, "SmsStatus": {"received"}, "From": {"+14155550123"},
			"To": {"+15005550006"}, "Body": {body}}
		if res := f.postForm(path, form, signed("tw-token", form)...); res.Status != http.StatusOK {
			t.Fatalf("inbound %q: %d %s", body, res.Status, res.Body)
		}
	}
	inbound("SMin1", "  stop \n")
	res := f.c.Do(http.MethodGet, "/api/v1/contact/suppressions?channel=sms", f.ownerA, nil)
	if !strings.Contains(string(res.Body), `"address":"+14155550123","reason":"stop_keyword"`) {
		t.Fatalf("suppressions after STOP: %s", res.Body)
	}
	id = send(t, asTenant(f.ta), f.m, contracts.ContactMessage{Channel: contracts.ChannelSMS, To: "+14155550123", Body: "Your code"})
	v := f.waitStatus(t, id, "suppressed")
	if !slices.Equal(v.history(), []string{"queued", "suppressed"}) || v.History[1].Detail == nil ||
		*v.History[1].Detail != "suppressed: stop_keyword" {
		t.Errorf("history of a message after STOP: %v", v.history())
	}
	if reqs, _ := api.got(); len(reqs) != 1 {
		t.Errorf("Twilio got %d requests, want only the first message's", len(reqs))
	}

	inbound("SMin2", "Start")
	id = send(t, asTenant(f.ta), f.m, contracts.ContactMessage{Channel: contracts.ChannelSMS, To: "+14155550123", Body: "Back"})
	f.waitStatus(t, id, "sent")
}

// Vonage's receipts, verified by signature (with a fresh timestamp) or by
// the callback secret in the URL; a replay changes nothing.
func TestVonageCallbacks(t *testing.T) {
	f := newFixture(t, callbackConfig)
	api := newAPIServer(t, reply{200, `{"messages":[{"status":"0","message-id":"VM0001"}]}`})
	signedID := f.provider(t, f.ta, map[string]any{"name": "vonage", "channel": "sms", "kind": "vonage",
		"settings":    map[string]any{"base_url": api.URL, "from": "Shop", "signature_method": "sha256"},
		"credentials": map[string]string{"api_key": "k", "api_secret": "s", "signature_secret": "sig-secret"}})
	secretID := f.provider(t, f.tb, map[string]any{"name": "vonage", "channel": "sms", "kind": "vonage",
		"settings":    map[string]any{"base_url": api.URL, "from": "Shop"},
		"credentials": map[string]string{"api_key": "k", "api_secret": "s", "callback_secret": "cb-secret"}})
	id := send(t, asTenant(f.ta), f.m, contracts.ContactMessage{Channel: contracts.ChannelSMS, To: "+14155550124", Body: "Hi"})
	f.waitStatus(t, id, "sent")
	if _, bodies := api.got(); !strings.Contains(bodies[0], "callback="+url.QueryEscape(publicURL+"/api/v1/contact/callbacks/"+signedID)+"&") {
		t.Errorf("the message asked for no receipts: %s", bodies[0])
	}

	receipt := func(at time.Time, secret string) string {
		p := map[string]string{"messageId": "VM0001", "status": "delivered", "msisdn": "14155550124", "to": "Shop",
			"err-code": "0", "client-ref": id, "timestamp": strconv.FormatInt(at.Unix(), 10)}
		p["sig"] = contact.VonageSignature(p, "sha256", secret)
		q := url.Values{}
		for k, v := range p {
			q.Set(k, v)
		}
		return "/api/v1/contact/callbacks/" + signedID + "?" + q.Encode()
	}
	now := time.Now()
	for _, c := range []struct{ name, path string }{
		{"another secret", receipt(now, "not-the-secret")},
		{"ten minutes old", receipt(now.Add(-10*time.Minute), "sig-secret")},
	} {
		t.Run(c.name, func(t *testing.T) {
			if res := f.c.Do(http.MethodGet, c.path, "", nil); res.Status != http.StatusUnauthorized {
				t.Fatalf("%d %s, want 401", res.Status, res.Body)
			}
			if v := f.message(t, f.ownerA, id); v.Status != "sent" {
				t.Errorf("an unverified receipt made the message %s", v.Status)
			}
		})
	}
	good := receipt(now, "sig-secret")
	for range 2 {
		if res := f.c.Do(http.MethodGet, good, "", nil); res.Status != http.StatusOK {
			t.Fatalf("receipt: %d %s", res.Status, res.Body)
		}
	}
	if v := f.message(t, f.ownerA, id); v.Status != "delivered" || len(v.History) != 4 {
		t.Errorf("after a receipt and its replay: %s %v", v.Status, v.history())
	}

	// Tenant B's provider has no signature secret: the URL's secret counts.
	inbound := url.Values{"msisdn": {"14155550125"}, "to": {"15005550006"}, "messageId": {"VIN1"}, "text": {"STOP"},
		"type": {"text"}}
	base := "/api/v1/contact/callbacks/" + secretID
	for _, c := range []struct {
		name, path string
		want       int
		listed     bool
	}{
		{"no secret", base, 401, false},
		{"the wrong secret", base + "?secret=nope", 401, false},
		{"A's signature secret is not B's", base + "?secret=sig-secret", 401, false},
		{"the callback secret", base + "?secret=cb-secret", 200, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if res := f.postForm(c.path, inbound); res.Status != c.want {
				t.Fatalf("%d %s, want %d", res.Status, res.Body, c.want)
			}
			res := f.c.Do(http.MethodGet, "/api/v1/contact/suppressions", f.ownerB, nil)
			if listed := strings.Contains(string(res.Body), `"+14155550125"`); listed != c.listed {
				t.Errorf("suppressed %v, want %v: %s", listed, c.listed, res.Body)
			}
		})
	}
	if res := f.c.Do(http.MethodGet, "/api/v1/contact/suppressions", f.ownerA, nil); res.JSON()["total"] != 0.0 {
		t.Errorf("B's STOP reached A: %s", res.Body)
	}

	// A provider with neither secret verifies nothing, whatever the URL says.
	open := f.provider(t, f.ta, map[string]any{"name": "vonage-open", "channel": "sms", "kind": "vonage",
		"settings": map[string]any{"base_url": api.URL, "from": "Shop"}, "credentials": map[string]string{"api_key": "k", "api_secret": "s"}})
	if res := f.postForm("/api/v1/contact/callbacks/"+open+"?secret=", inbound); res.Status != http.StatusUnauthorized {
		t.Errorf("a provider without secrets: %d %s, want 401", res.Status, res.Body)
	}
}
