package contact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"unicode"
)

// vonageSettings configure a Vonage (Nexmo) account for the SMS API.
// SignatureMethod is the signed webhooks' method, as set in Vonage's
// dashboard: md5hash (the default), md5, sha1, sha256 or sha512.
type vonageSettings struct {
	BaseURL         string `json:"base_url"`
	From            string `json:"from"`
	SignatureMethod string `json:"signature_method"`
}

// vonage sends SMS through Vonage's SMS API.
type vonage struct {
	s           vonageSettings
	base        string
	key, secret string
	callback    string // where delivery receipts go: callbacks.go's endpoint, when the public URL is known
	c           *http.Client
}

func buildVonage(e env, raw json.RawMessage, creds map[string]string) (provider, error) {
	var s vonageSettings
	if err := decodeSettings(raw, &s); err != nil {
		return nil, err
	}
	if s.From == "" {
		return nil, errors.New("from is required")
	}
	if _, ok := vonageHashes[s.SignatureMethod]; !ok && s.SignatureMethod != "" && s.SignatureMethod != "md5hash" {
		return nil, errors.New("signature_method must be md5hash, md5, sha1, sha256 or sha512")
	}
	base, err := baseURL(e, s.BaseURL, "https://rest.nexmo.com")
	if err != nil {
		return nil, err
	}
	cb := e.callbackURL()
	if cb != "" && creds["signature_secret"] == "" && creds["callback_secret"] != "" {
		cb += "?secret=" + url.QueryEscape(creds["callback_secret"])
	}
	return &vonage{s: s, base: base, key: creds["api_key"], secret: creds["api_secret"], callback: cb,
		c: httpClient(e.allowPrivate, e.timeout)}, nil
}

// vonagePermanent are the SMS API's statuses about the message or the
// recipient: missing or invalid parameters, an invalid message, a barred
// number, a message too long, an invalid network, a destination not
// allowed. The others (throttled, bad credentials, the service's own
// errors) are worth a retry or another provider.
var vonagePermanent = map[string]bool{"2": true, "3": true, "6": true, "7": true, "12": true, "22": true, "29": true}

func (v *vonage) Send(ctx context.Context, m *outgoing) (string, error) {
	form := url.Values{"api_key": {v.key}, "api_secret": {v.secret}, "from": {v.s.From},
		"to": {trimPlus(m.To)}, "text": {m.Text}, "client-ref": {m.ID}}
	if !ascii(m.Text) {
		form.Set("type", "unicode")
	}
	if v.callback != "" {
		form.Set("callback", v.callback)
	}
	res, body, err := post(ctx, v.c, v.base+"/sms/json", "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
	if err != nil {
		return "", fmt.Errorf("vonage: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return "", httpOutcome(res, body, "vonage")
	}
	var out struct {
		Messages []struct {
			Status    string `json:"status"`
			MessageID string `json:"message-id"`
			ErrorText string `json:"error-text"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Messages) == 0 {
		return "", fmt.Errorf("vonage: an answer without messages: %s", clip(body))
	}
	first := out.Messages[0]
	switch {
	case first.Status == "0":
		return first.MessageID, nil
	case vonagePermanent[first.Status]:
		return "", permanent(StatusFailed, fmt.Errorf("vonage: status %s: %s", first.Status, first.ErrorText))
	}
	return "", fmt.Errorf("vonage: status %s: %s", first.Status, first.ErrorText)
}

// trimPlus is an E.164 number as Vonage takes it, without the plus.
func trimPlus(n string) string {
	if len(n) > 0 && n[0] == '+' {
		return n[1:]
	}
	return n
}

func ascii(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII {
			return false
		}
	}
	return true
}
