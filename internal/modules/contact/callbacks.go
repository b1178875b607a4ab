package contact

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// ErrCallbackUnverified is a callback whose signature or secret does not
// verify, or that names no provider that could sign it: it changes nothing.
var ErrCallbackUnverified = errs.New(errs.Unauthenticated, "contact.callback_unverified",
	"The callback could not be verified.")

// outcomeCallback marks history entries a provider's callback added.
const outcomeCallback = "callback"

// vonageMaxSkew bounds how old (or early) a signed Vonage callback's
// timestamp may be: a captured one cannot be replayed later.
const vonageMaxSkew = 5 * time.Minute

// errUnknownMessage is a status callback about no message of ours (yet).
var errUnknownMessage = errors.New("contact: callback for an unknown message")

// stopWords and startWords are the opt-out and opt-in keywords of an
// inbound SMS, matched on the whole trimmed text, case-insensitively.
var (
	stopWords  = map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true, "END": true, "QUIT": true}
	startWords = map[string]bool{"START": true, "UNSTOP": true}
)

// callbackEvent is what a provider's callback says, whichever provider.
type callbackEvent struct {
	key       string // unique per provider: the same key again is a replay
	ref       string // the provider's id of our message
	clientRef string // our message id, when the provider echoes it
	status    string // StatusDelivered or StatusFailed; "" changes no message
	detail    string
	from      string // an inbound SMS's sender, normalized
	text      string // an inbound SMS's text
}

// callbackRow records an applied callback.
type callbackRow struct {
	ID         string    `gorm:"column:id;primaryKey"`
	TenantID   string    `gorm:"column:tenant_id"`
	ProviderID string    `gorm:"column:provider_id"`
	EventKey   string    `gorm:"column:event_key"`
	MessageID  *string   `gorm:"column:message_id"`
	CreatedAt  time.Time `gorm:"column:created_at"`
}

func (callbackRow) TableName() string { return "contact_callback_events" }

// callback takes a provider's status callback or inbound SMS. The
// provider row in the path names the tenant and the credentials that
// verify it; a callback that does not verify gets 401 and changes nothing.
func (m *Module) callback(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := m.store.provider(security.WithPrincipal(ctx, security.System("")), c.Param("provider_id"))
	if err != nil {
		return ErrCallbackUnverified
	}
	creds, err := m.credentials(p)
	if err != nil {
		m.k.Log.Warn("contact: callback: credentials do not open", "provider_id", p.ID, "error", err)
		return ErrCallbackUnverified
	}
	var ev *callbackEvent
	switch p.Kind {
	case "twilio":
		ev, err = m.twilioCallback(c, creds)
	case "vonage":
		ev, err = m.vonageCallback(c, p, creds)
	default:
		err = ErrCallbackUnverified
	}
	if err != nil {
		return err
	}
	ctx = security.WithPrincipal(ctx, security.System(p.TenantID))
	if ev != nil {
		if err := m.applyCallback(ctx, p, ev); err != nil && !errors.Is(err, errUnknownMessage) {
			return err
		}
	}
	if p.Kind == "twilio" {
		return c.Blob(http.StatusOK, "text/xml", []byte("<Response/>")) // TwiML: no reply to an inbound SMS
	}
	return c.NoContent(http.StatusOK)
}

// callbackURL is the endpoint of the provider's callbacks, for it to put
// in each request; "" when http.public_url is not set.
func (e env) callbackURL() string {
	if e.m == nil || e.m.k == nil || e.row == nil || e.row.ID == "" {
		return ""
	}
	base := strings.TrimRight(e.m.k.Config.HTTP.PublicURL, "/")
	if base == "" {
		return ""
	}
	return base + "/api/v1/" + Name + "/callbacks/" + e.row.ID
}

// applyCallback applies an event once: its key goes in with its effect, in
// one transaction, so a replay (or a concurrent twin) finds the key taken.
func (m *Module) applyCallback(ctx context.Context, p *providerRow, ev *callbackEvent) error {
	return m.k.DB.InTx(ctx, func(ctx context.Context) error {
		row := &callbackRow{ID: uuid.Must(uuid.NewV7()).String(), TenantID: p.TenantID, ProviderID: p.ID,
			EventKey: ev.key, CreatedAt: m.now()}
		if ev.from != "" {
			if fresh, err := m.store.addCallback(ctx, row); !fresh || err != nil {
				return err
			}
			return m.inboundSMS(ctx, ev)
		}
		msg, err := m.store.messageByRef(ctx, p.ID, ev.ref, ev.clientRef)
		if errors.Is(err, ErrMessageNotFound) {
			return errUnknownMessage // not recorded: a retry may find it once sent
		}
		if err != nil {
			return err
		}
		row.MessageID = &msg.ID
		if fresh, err := m.store.addCallback(ctx, row); !fresh || err != nil {
			return err
		}
		entry := m.event(msg, ev.status, p, outcomeCallback, ev.detail)
		if msg.Status != StatusSent && msg.Status != StatusDelivered {
			return m.store.addEvent(ctx, entry) // history only: a late receipt does not undo a failure
		}
		return m.store.setStatus(ctx, msg.ID, map[string]any{"status": ev.status, "updated_at": m.now()}, entry)
	})
}

// inboundSMS honours STOP and START keywords from a recipient.
func (m *Module) inboundSMS(ctx context.Context, ev *callbackEvent) error {
	word := strings.ToUpper(strings.TrimSpace(ev.text))
	switch {
	case stopWords[word]:
		_, _, err := m.suppress(ctx, "sms", ev.from, ReasonStop, nil)
		return err
	case startWords[word]:
		return m.store.unsuppressStop(ctx, "sms", ev.from)
	}
	return nil
}

// callbackParams are a callback's parameters: the query and a form or
// JSON body. form is the body's form fields alone, which Twilio signs.
func callbackParams(c echo.Context) (all map[string]string, form url.Values, err error) {
	req := c.Request()
	all = map[string]string{}
	for k, v := range req.URL.Query() {
		all[k] = v[0]
	}
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	switch {
	case req.Method != http.MethodPost:
	case mt == "application/json":
		var body map[string]any
		b, rerr := io.ReadAll(req.Body)
		if rerr != nil || json.Unmarshal(b, &body) != nil {
			return nil, nil, ErrCallbackUnverified
		}
		for k, v := range body {
			if s, ok := v.(string); ok {
				all[k] = s
			} else if v != nil {
				j, _ := json.Marshal(v)
				all[k] = string(j)
			}
		}
	default:
		if err := req.ParseForm(); err != nil {
			return nil, nil, ErrCallbackUnverified
		}
		form = req.PostForm
		for k, v := range form {
			all[k] = v[0]
		}
	}
	return all, form, nil
}

// twilioCallback verifies X-Twilio-Signature and reads a message or call
// status callback, or an inbound SMS.
func (m *Module) twilioCallback(c echo.Context, creds map[string]string) (*callbackEvent, error) {
	all, form, err := callbackParams(c)
	if err != nil {
		return nil, err
	}
	sig := c.Request().Header.Get("X-Twilio-Signature")
	ok := false
	for _, u := range m.requestURLs(c) {
		if sig != "" && creds["auth_token"] != "" && hmac.Equal([]byte(sig), []byte(TwilioSignature(creds["auth_token"], u, form))) {
			ok = true
		}
	}
	if !ok {
		return nil, ErrCallbackUnverified
	}
	sid := firstOf(all, "MessageSid", "SmsSid", "CallSid")
	status := firstOf(all, "MessageStatus", "CallStatus")
	if body, inbound := all["Body"]; inbound && (status == "" || status == "received") {
		from := normalizeAddress("sms", all["From"])
		if from == "" || sid == "" {
			return nil, nil
		}
		return &callbackEvent{key: "in:" + sid, from: from, text: body}, nil
	}
	ev := &callbackEvent{key: sid + ":" + status, ref: sid}
	switch status {
	case "delivered", "completed":
		ev.status = StatusDelivered
	case "undelivered", "failed", "busy", "no-answer", "canceled":
		ev.status = StatusFailed
	default:
		return nil, nil // queued, sending, sent, ringing…: nothing to record
	}
	ev.detail = "twilio: " + status
	if code := all["ErrorCode"]; code != "" {
		ev.detail += " (error " + code + ")"
	}
	if sid == "" {
		return nil, nil
	}
	return ev, nil
}

// TwilioSignature is Twilio's request signature: base64 of the HMAC-SHA1,
// under the auth token, of the full URL followed by each POST parameter's
// name and value, sorted by name.
func TwilioSignature(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			mac.Write([]byte(k + v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// requestURLs are the URLs a provider may have called: the request's path
// under http.public_url (the address behind a proxy), and as the server saw
// it. Either must still carry the provider's signature.
func (m *Module) requestURLs(c echo.Context) []string {
	req := c.Request()
	var out []string
	if base := strings.TrimRight(m.k.Config.HTTP.PublicURL, "/"); base != "" {
		out = append(out, base+req.URL.RequestURI())
	}
	return append(out, c.Scheme()+"://"+req.Host+req.URL.RequestURI())
}

// vonageCallback verifies a Vonage delivery receipt or inbound SMS by its
// signature (signed webhooks, with the signature secret) or, when no
// signature secret is set, by the callback secret in the URL's query.
func (m *Module) vonageCallback(c echo.Context, p *providerRow, creds map[string]string) (*callbackEvent, error) {
	all, _, err := callbackParams(c)
	if err != nil {
		return nil, err
	}
	var s vonageSettings
	if err := decodeSettings(json.RawMessage(p.Settings), &s); err != nil {
		return nil, ErrCallbackUnverified
	}
	switch {
	case creds["signature_secret"] != "":
		if !VonageVerify(all, s.SignatureMethod, creds["signature_secret"], m.now()) {
			return nil, ErrCallbackUnverified
		}
	case creds["callback_secret"] != "":
		if subtle.ConstantTimeCompare([]byte(all["secret"]), []byte(creds["callback_secret"])) != 1 {
			return nil, ErrCallbackUnverified
		}
	default:
		return nil, ErrCallbackUnverified
	}
	id := firstOf(all, "messageId", "message-id")
	if text, inbound := all["text"]; inbound && all["status"] == "" {
		from := normalizeAddress("sms", all["msisdn"])
		if from == "" || id == "" {
			return nil, nil
		}
		return &callbackEvent{key: "in:" + id, from: from, text: text}, nil
	}
	ev := &callbackEvent{key: id + ":" + all["status"], ref: id, clientRef: all["client-ref"]}
	switch all["status"] {
	case "delivered":
		ev.status = StatusDelivered
	case "failed", "rejected", "expired":
		ev.status = StatusFailed
	default:
		return nil, nil // accepted, buffered, unknown
	}
	ev.detail = "vonage: " + all["status"]
	if code := all["err-code"]; code != "" && code != "0" {
		ev.detail += " (err-code " + code + ")"
	}
	if id == "" {
		return nil, nil
	}
	return ev, nil
}

// vonageHashes are the HMAC methods of Vonage's signed webhooks.
var vonageHashes = map[string]func() hash.Hash{"md5": md5.New, "sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}

// VonageSignature is the sig of Vonage's signed webhooks over params (sig
// itself left out): each parameter, sorted by name, as "&name=value" with
// & and = in values made _, then for "md5hash" (the default) the MD5 of
// that string followed by the secret, or else the HMAC (md5, sha1, sha256,
// sha512) of the string under the secret; in hex.
func VonageSignature(params map[string]string, method, secret string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "sig" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	clean := strings.NewReplacer("&", "_", "=", "_")
	for _, k := range keys {
		b.WriteString("&" + k + "=" + clean.Replace(params[k]))
	}
	if method == "" || method == "md5hash" {
		sum := md5.Sum([]byte(b.String() + secret))
		return hex.EncodeToString(sum[:])
	}
	newHash, ok := vonageHashes[method]
	if !ok {
		return ""
	}
	mac := hmac.New(newHash, []byte(secret))
	mac.Write([]byte(b.String()))
	return hex.EncodeToString(mac.Sum(nil))
}

// VonageVerify checks a signed Vonage callback: its sig, case aside, and a
// timestamp (Unix seconds) within vonageMaxSkew of now.
func VonageVerify(params map[string]string, method, secret string, now time.Time) bool {
	ts, err := strconv.ParseInt(params["timestamp"], 10, 64)
	if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > vonageMaxSkew {
		return false
	}
	want := VonageSignature(params, method, secret)
	got := strings.ToLower(params["sig"])
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func firstOf(params map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := params[k]; v != "" {
			return v
		}
	}
	return ""
}

// addCallback records an applied callback, or reports a replay.
func (s *store) addCallback(ctx context.Context, r *callbackRow) (bool, error) {
	err := s.db.Conn(ctx).Create(r).Error
	if db.IsUniqueViolation(err) {
		return false, nil
	}
	return err == nil, err
}

// messageByRef is the message a provider knows as ref, or, failing that,
// the SMS with our id clientRef (Vonage echoes it, and may call back
// before the attempt has recorded the provider's id).
func (s *store) messageByRef(ctx context.Context, providerID, ref, clientRef string) (*messageRow, error) {
	var r messageRow
	err := s.conn(ctx).Where("provider_id = ? AND provider_message_id = ?", providerID, ref).Take(&r).Error
	if db.IsNotFound(err) && clientRef != "" {
		err = s.conn(ctx).Where("id = ? AND channel = ?", clientRef, "sms").Take(&r).Error
	}
	if db.IsNotFound(err) {
		return nil, ErrMessageNotFound
	}
	return &r, err
}
