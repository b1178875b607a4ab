package contact

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/platform/platform/internal/modules/contracts"
)

// twilioSettings configure a Twilio account. From is a number of the
// account; MessagingServiceSID may stand in for it for SMS.
type twilioSettings struct {
	BaseURL             string `json:"base_url"`
	AccountSID          string `json:"account_sid"`
	From                string `json:"from"`
	MessagingServiceSID string `json:"messaging_service_sid"`
	Voice               string `json:"voice"` // a TwiML <Say> voice, such as "alice"; "": Twilio's default
}

// twilio sends SMS through the Messages API and places calls that speak
// the message through the Calls API with TwiML.
type twilio struct {
	s        twilioSettings
	base     string
	token    string
	callback string // StatusCallback: callbacks.go's endpoint, when the public URL is known
	c        *http.Client
}

func buildTwilio(e env, raw json.RawMessage, creds map[string]string) (provider, error) {
	var s twilioSettings
	if err := decodeSettings(raw, &s); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(s.AccountSID, "AC") {
		return nil, errors.New("account_sid must be a Twilio account SID (AC...)")
	}
	if s.From == "" && (s.MessagingServiceSID == "" || e.row.Channel == string(contracts.ChannelVoice)) {
		return nil, errors.New("from is required (or messaging_service_sid, for SMS)")
	}
	base, err := baseURL(e, s.BaseURL, "https://api.twilio.com")
	if err != nil {
		return nil, err
	}
	return &twilio{s: s, base: base, token: creds["auth_token"], callback: e.callbackURL(),
		c: httpClient(e.allowPrivate, e.timeout)}, nil
}

// twilioError is the body of a Twilio error.
type twilioError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// twilioPermanent are the error codes about the recipient or the message
// (an invalid or unreachable number, an opted-out one): another attempt or
// another provider would not help.
var twilioPermanent = map[int]bool{21211: true, 21214: true, 21217: true, 21407: true, 21408: true, 21610: true,
	21612: true, 21614: true, 21617: true, 13224: true, 13223: true}

func (t *twilio) Send(ctx context.Context, m *outgoing) (string, error) {
	form := url.Values{"To": {m.To}}
	if t.s.From != "" {
		form.Set("From", t.s.From)
	}
	if t.callback != "" {
		form.Set("StatusCallback", t.callback)
	}
	endpoint := "Messages.json"
	if m.Channel == contracts.ChannelVoice {
		endpoint = "Calls.json"
		form.Set("Twiml", twiml(m.Text, m.Locale, t.s.Voice))
	} else {
		form.Set("Body", m.Text)
		if t.s.From == "" {
			form.Set("MessagingServiceSid", t.s.MessagingServiceSID)
		}
	}
	u := t.base + "/2010-04-01/Accounts/" + url.PathEscape(t.s.AccountSID) + "/" + endpoint
	hdr := http.Header{}
	hdr.Set("Authorization", basicAuth(t.s.AccountSID, t.token))
	// Twilio drops a repeated request with the same token within a day,
	// so a retry after a lost answer sends nothing twice.
	hdr.Set("I-Twilio-Idempotency-Token", m.ID)
	res, body, err := post(ctx, t.c, u, "application/x-www-form-urlencoded", []byte(form.Encode()), hdr)
	if err != nil {
		return "", fmt.Errorf("twilio: %w", err)
	}
	if res.StatusCode >= 300 {
		// Only the codes about the recipient are permanent: another 400,
		// such as a From number the account does not own, is the
		// provider's configuration, and another provider may do.
		var te twilioError
		if json.Unmarshal(body, &te) == nil && twilioPermanent[te.Code] {
			return "", permanent(StatusFailed, fmt.Errorf("twilio: %d %s", te.Code, te.Message))
		}
		return "", fmt.Errorf("twilio: %d %s", res.StatusCode, clip(body))
	}
	var ok struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(body, &ok); err != nil || ok.SID == "" {
		return "", fmt.Errorf("twilio: an answer without a sid: %s", clip(body))
	}
	return ok.SID, nil
}

// twiml is a call's instructions: say the text, in the message's language.
func twiml(text, locale, voice string) string {
	var b strings.Builder
	b.WriteString("<Response><Say")
	if voice != "" {
		b.WriteString(` voice="`)
		xml.EscapeText(&b, []byte(voice))
		b.WriteString(`"`)
	}
	if locale != "" {
		b.WriteString(` language="`)
		xml.EscapeText(&b, []byte(locale))
		b.WriteString(`"`)
	}
	b.WriteString(">")
	xml.EscapeText(&b, []byte(text))
	b.WriteString("</Say></Response>")
	return b.String()
}
