package contact

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Headers of a webhook delivery. The signature is
// "v1=" + hex(HMAC-SHA256(secret, timestamp + "." + body)); a receiver
// recomputes it and refuses a timestamp more than a few minutes old.
const (
	HeaderMessageID = "X-Platform-Message-Id"
	HeaderTimestamp = "X-Platform-Timestamp"
	HeaderSignature = "X-Platform-Signature"
)

// webhook POSTs a message as JSON to the recipient's URL, signed.
type webhook struct {
	secret       []byte
	allowPrivate bool
	c            *http.Client
	now          func() time.Time
}

func buildWebhook(e env, raw json.RawMessage, creds map[string]string) (provider, error) {
	var s struct{}
	if err := decodeSettings(raw, &s); err != nil {
		return nil, err
	}
	return &webhook{secret: []byte(creds["signing_secret"]), allowPrivate: e.allowPrivate,
		c: httpClient(e.allowPrivate, e.timeout), now: e.m.now}, nil
}

// webhookBody is what a receiver gets.
type webhookBody struct {
	ID        string            `json:"id"`
	Subject   string            `json:"subject,omitempty"`
	Body      string            `json:"body,omitempty"`
	Data      json.RawMessage   `json:"data,omitempty"`
	Locale    string            `json:"locale,omitempty"`
	Category  string            `json:"category"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

// Sign is a webhook's signature of body at timestamp ts (Unix seconds).
func Sign(secret []byte, ts string, body []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte("."))
	h.Write(body)
	return "v1=" + hex.EncodeToString(h.Sum(nil))
}

func (w *webhook) Send(ctx context.Context, m *outgoing) (string, error) {
	if err := checkURL(m.To, w.allowPrivate); err != nil {
		return "", permanent(StatusFailed, fmt.Errorf("webhook: %s: %w", m.To, err))
	}
	body, err := json.Marshal(webhookBody{ID: m.ID, Subject: m.Subject, Body: m.Text, Data: m.Data, Locale: m.Locale,
		Category: string(m.Category), Metadata: m.Metadata, CreatedAt: m.CreatedAt})
	if err != nil {
		return "", permanent(StatusFailed, err)
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	hdr := http.Header{}
	hdr.Set(HeaderMessageID, m.ID)
	hdr.Set(HeaderTimestamp, ts)
	hdr.Set(HeaderSignature, Sign(w.secret, ts, body))
	hdr.Set("User-Agent", "platform-contact/1")
	res, rbody, err := post(ctx, w.c, m.To, "application/json", body, hdr)
	if err != nil {
		if blocked(err) {
			return "", permanent(StatusFailed, fmt.Errorf("webhook: %w", err))
		}
		return "", fmt.Errorf("webhook: %w", err)
	}
	switch c := res.StatusCode; {
	case c >= 200 && c < 300:
		return res.Header.Get("X-Request-Id"), nil
	case c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooEarly && c != http.StatusTooManyRequests:
		return "", permanent(StatusFailed, fmt.Errorf("webhook: the receiver refused the message: %d %s", c, clip(rbody)))
	default:
		return "", fmt.Errorf("webhook: %d %s", c, clip(rbody))
	}
}
