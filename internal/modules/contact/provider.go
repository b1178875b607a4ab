package contact

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/platform/platform/internal/modules/contracts"
)

// outgoing is what a provider sends: one message, rendered.
type outgoing struct {
	ID        string
	TenantID  string
	Channel   contracts.Channel
	To        string
	Subject   string
	Text      string
	HTML      string
	Locale    string
	Category  contracts.Category
	Metadata  map[string]string
	Data      json.RawMessage
	CreatedAt time.Time
	// UnsubscribeToken and UnsubscribeURL are a marketing e-mail's signed
	// unsubscribe link (the URL only when http.public_url is set).
	UnsubscribeToken, UnsubscribeURL string
}

// provider delivers messages of one channel through one service. Send
// returns the service's id of the message. A failure wrapped by permanent
// stops the message at once; any other failure is retried, then handed to
// the next provider.
type provider interface {
	Send(ctx context.Context, m *outgoing) (string, error)
}

// sendError is a permanent failure: the recipient or the message is bad,
// so no retry and no other provider would do better.
type sendError struct {
	status string // StatusFailed or StatusBounced
	err    error
}

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// permanent marks err as a permanent failure ending in status.
func permanent(status string, err error) error { return &sendError{status: status, err: err} }

// permanentStatus is the final status of a permanent failure, if err is one.
func permanentStatus(err error) (string, bool) {
	var se *sendError
	if errors.As(err, &se) {
		return se.status, true
	}
	if blocked(err) {
		return StatusFailed, true
	}
	return "", false
}

// kind is one sort of provider: the channels it serves, and how it is
// built from its settings and decrypted credentials.
type kind struct {
	channels []contracts.Channel
	// build checks the settings and credentials and makes the provider.
	// A returned error is shown to the admin who configures it.
	build func(e env, settings json.RawMessage, creds map[string]string) (provider, error)
	// secrets are the credentials' names, all required.
	secrets []string
	// optional are credentials a kind may have, such as the secrets that
	// verify its callbacks.
	optional []string
}

// env is what a provider may use: its own row's networking and the store.
type env struct {
	m            *Module
	row          *providerRow
	allowPrivate bool
	timeout      time.Duration
}

// kinds are the providers there are.
var kinds = map[string]kind{
	"smtp":   {channels: []contracts.Channel{contracts.ChannelEmail}, build: buildSMTP, secrets: []string{"password"}},
	"twilio": {channels: []contracts.Channel{contracts.ChannelSMS, contracts.ChannelVoice}, build: buildTwilio, secrets: []string{"auth_token"}},
	"vonage": {channels: []contracts.Channel{contracts.ChannelSMS}, build: buildVonage, secrets: []string{"api_key", "api_secret"},
		optional: []string{"signature_secret", "callback_secret"}},
	"webhook": {channels: []contracts.Channel{contracts.ChannelWebhook}, build: buildWebhook, secrets: []string{"signing_secret"}},
	"log": {channels: []contracts.Channel{contracts.ChannelEmail, contracts.ChannelSMS, contracts.ChannelVoice, contracts.ChannelWebhook},
		build: buildLog},
}

// decodeSettings decodes a provider's settings strictly: an unknown key is
// a mistake the admin should hear of.
func decodeSettings(raw json.RawMessage, dst any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("settings: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// baseURL is a provider's API address: its default, or the configured
// one, which must pass the address checks.
func baseURL(e env, configured, def string) (string, error) {
	if configured == "" {
		return def, nil
	}
	if err := checkURL(configured, e.allowPrivate); err != nil {
		return "", fmt.Errorf("base_url %w", err)
	}
	return strings.TrimRight(configured, "/"), nil
}

// httpOutcome classifies an API's answer: 2xx is success; 400 and 422
// mean the message itself is wrong (permanent); anything else (401 and 404
// too: a wrong account is the provider's trouble) is worth a retry or
// another provider.
func httpOutcome(res *http.Response, body []byte, what string) error {
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return nil
	case res.StatusCode == http.StatusBadRequest || res.StatusCode == http.StatusUnprocessableEntity:
		return permanent(StatusFailed, fmt.Errorf("%s refused the message: %d %s", what, res.StatusCode, clip(body)))
	}
	return fmt.Errorf("%s: %d %s", what, res.StatusCode, clip(body))
}

// clip shortens a response body for an error message.
func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// post sends a form or JSON body and reads the answer.
func post(ctx context.Context, c *http.Client, url, contentType string, body []byte, hdr http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, permanent(StatusFailed, err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res, b, err
}

// basicAuth is an Authorization header for HTTP basic authentication.
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}
