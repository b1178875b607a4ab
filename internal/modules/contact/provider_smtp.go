package contact

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// smtpSettings configure a mail server. TLS is "starttls" (the default:
// upgrade on port 587 and refuse a server that cannot), "tls" (implicit,
// port 465) or "none" (a local relay only; no password is sent).
type smtpSettings struct {
	Host           string `json:"host"`
	Port           int    `json:"port"`
	TLS            string `json:"tls"`
	Username       string `json:"username"`
	From           string `json:"from"`
	HELO           string `json:"helo"`
	RootCA         string `json:"root_ca"`         // PEM; "": the system's roots
	UnsubscribeURL string `json:"unsubscribe_url"` // marketing; "{id}" is the message id, "{token}" the signed unsubscribe token
}

// smtpSender sends e-mail through a mail server.
type smtpSender struct {
	s            smtpSettings
	from         *mail.Address
	password     string
	roots        *x509.CertPool
	allowPrivate bool
	timeout      time.Duration
	now          func() time.Time
}

func buildSMTP(e env, raw json.RawMessage, creds map[string]string) (provider, error) {
	var s smtpSettings
	if err := decodeSettings(raw, &s); err != nil {
		return nil, err
	}
	if s.Host == "" {
		return nil, errors.New("host is required")
	}
	if err := checkHost(s.Host, e.allowPrivate); err != nil {
		return nil, fmt.Errorf("host %w", err)
	}
	if s.TLS == "" {
		s.TLS = "starttls"
	}
	if s.TLS != "starttls" && s.TLS != "tls" && s.TLS != "none" {
		return nil, errors.New("tls must be starttls, tls or none")
	}
	if s.Port == 0 {
		s.Port = map[string]int{"starttls": 587, "tls": 465, "none": 25}[s.TLS]
	}
	if s.Port < 1 || s.Port > 65535 {
		return nil, errors.New("port must be from 1 to 65535")
	}
	if s.TLS == "none" && s.Username != "" {
		return nil, errors.New("a username needs tls or starttls: the password would travel in clear")
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return nil, errors.New("from must be an e-mail address such as Shop <shop@example.com>")
	}
	p := &smtpSender{s: s, from: from, password: creds["password"], allowPrivate: e.allowPrivate, timeout: e.timeout,
		now: e.m.now}
	if s.RootCA != "" {
		p.roots = x509.NewCertPool()
		if !p.roots.AppendCertsFromPEM([]byte(s.RootCA)) {
			return nil, errors.New("root_ca holds no PEM certificate")
		}
	}
	return p, nil
}

// smtpStage names where an SMTP exchange failed: a 5xx reply to the
// recipient or to the message is a hard bounce, one to the rest (HELO,
// AUTH, MAIL) is the server's or the account's trouble.
type smtpStage string

func (p *smtpSender) Send(ctx context.Context, m *outgoing) (string, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return "", permanent(StatusFailed, fmt.Errorf("smtp: recipient %q: %w", m.To, err))
	}
	msgID := messageID(m.ID, p.from.Address)
	body, err := p.compose(m, to, msgID)
	if err != nil {
		return "", permanent(StatusFailed, fmt.Errorf("smtp: compose: %w", err))
	}
	stage, err := p.deliver(ctx, to.Address, body)
	if err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 && (stage == "rcpt" || stage == "data") {
			return "", permanent(StatusBounced, fmt.Errorf("smtp %s: %w", stage, err))
		}
		if blocked(err) {
			return "", fmt.Errorf("smtp: %w", err) // the server's address: another provider may do
		}
		return "", fmt.Errorf("smtp %s: %w", stage, err)
	}
	return msgID, nil
}

// deliver runs one SMTP exchange and returns the stage it reached.
func (p *smtpSender) deliver(ctx context.Context, rcpt string, body []byte) (smtpStage, error) {
	addr := net.JoinHostPort(p.s.Host, strconv.Itoa(p.s.Port))
	conn, err := dialContext(ctx, p.allowPrivate, p.timeout, addr)
	if err != nil {
		return "dial", err
	}
	deadline := time.Now().Add(p.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	tlsCfg := &tls.Config{ServerName: p.s.Host, RootCAs: p.roots, MinVersion: tls.VersionTLS12}
	if p.s.TLS == "tls" {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return "tls", err
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, p.s.Host)
	if err != nil {
		conn.Close()
		return "greeting", err
	}
	defer c.Close()
	helo := p.s.HELO
	if helo == "" {
		helo = domainOf(p.from.Address)
	}
	if err := c.Hello(helo); err != nil {
		return "helo", err
	}
	if p.s.TLS == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return "starttls", errors.New("the server does not offer STARTTLS")
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return "starttls", err
		}
	}
	if p.s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", p.s.Username, p.password, p.s.Host)); err != nil {
			return "auth", err
		}
	}
	if err := c.Mail(p.from.Address); err != nil {
		return "mail", err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return "rcpt", err
	}
	w, err := c.Data()
	if err != nil {
		return "data", err
	}
	if _, err := w.Write(body); err != nil {
		return "data", err
	}
	if err := w.Close(); err != nil {
		return "data", err
	}
	_ = c.Quit()
	return "done", nil
}

// compose builds the message: text and, when there is one, HTML, as
// multipart/alternative in quoted-printable, with a Message-ID made from
// the message's id (so that a retry carries the same one) and, for
// marketing, List-Unsubscribe with one-click unsubscription (RFC 8058).
func (p *smtpSender) compose(m *outgoing, to *mail.Address, msgID string) ([]byte, error) {
	var b bytes.Buffer
	h := textproto.MIMEHeader{}
	h.Set("From", p.from.String())
	h.Set("To", to.String())
	h.Set("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h.Set("Date", p.now().Format(time.RFC1123Z))
	h.Set("Message-ID", msgID)
	if ids := threadIDs(m.Metadata["in_reply_to"]); ids != nil {
		h.Set("In-Reply-To", strings.Join(ids, " "))
	}
	if ids := threadIDs(m.Metadata["references"]); ids != nil {
		h.Set("References", strings.Join(ids, "\r\n ")) // folded, one id a line
	}
	h.Set("MIME-Version", "1.0")
	if m.Locale != "" {
		h.Set("Content-Language", m.Locale)
	}
	if m.Category == "marketing" {
		links := []string{"<mailto:" + p.from.Address + "?subject=unsubscribe%20" + m.ID + ">"}
		u := m.Metadata["unsubscribe_url"]
		if u == "" && p.s.UnsubscribeURL != "" {
			u = strings.NewReplacer("{id}", m.ID, "{token}", m.UnsubscribeToken).Replace(p.s.UnsubscribeURL)
		}
		if u == "" {
			u = m.UnsubscribeURL
		}
		if headerURL(u) {
			links = append([]string{"<" + u + ">"}, links...)
			h.Set("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
		}
		h.Set("List-Unsubscribe", strings.Join(links, ", "))
	}
	if m.HTML == "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		writeHeader(&b, h)
		return b.Bytes(), writeQP(&b, m.Text)
	}
	mw := multipart.NewWriter(&b)
	h.Set("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	writeHeader(&b, h)
	for _, part := range []struct{ typ, text string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, err
		}
		if err := writeQP(pw, part.text); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), mw.Close()
}

// headerURL reports whether u may stand in a header as <u>: an absolute
// http(s) URL without spaces, angle brackets or control characters, which
// could end the header and start another.
func headerURL(u string) bool {
	if u == "" || strings.ContainsAny(u, "<> \t\r\n") {
		return false
	}
	for _, r := range u {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	pu, err := url.Parse(u)
	return err == nil && (pu.Scheme == "https" || pu.Scheme == "http") && pu.Host != ""
}

// Bounds of a thread header taken from metadata (in_reply_to, references).
const (
	maxThreadIDs    = 20
	maxThreadIDLen  = 250
	maxThreadHeader = 4000
)

// msgIDToken is one msg-id of RFC 5322 without obsolete forms or comments:
// "<" dot-atom-text "@" (dot-atom-text or a domain literal) ">".
var msgIDToken = regexp.MustCompile("^<[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*" +
	"@(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*|\\[[!-Z^-~]*\\])>$")

// threadIDs are the msg-ids of a metadata value for In-Reply-To or
// References, separated by spaces; nil when there is none. A value with a
// control character (a CR or LF could start another header) or longer than
// the bounds is dropped whole; a token that is not a msg-id is dropped.
func threadIDs(v string) []string {
	if v == "" || len(v) > maxThreadHeader || strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r >= 0x7f }) >= 0 {
		return nil
	}
	var out []string
	for _, tok := range strings.Split(v, " ") {
		if tok != "" && len(tok) <= maxThreadIDLen && msgIDToken.MatchString(tok) {
			out = append(out, tok)
		}
	}
	if len(out) > maxThreadIDs {
		return nil
	}
	return out
}

// headerOrder is the order headers are written in, for readers' sake.
var headerOrder = []string{"From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Language",
	"List-Unsubscribe", "List-Unsubscribe-Post", "Content-Type", "Content-Transfer-Encoding"}

func writeHeader(b *bytes.Buffer, h textproto.MIMEHeader) {
	for _, k := range headerOrder {
		for _, v := range h[textproto.CanonicalMIMEHeaderKey(k)] {
			fmt.Fprintf(b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n"))); err != nil {
		return err
	}
	return qp.Close()
}

// messageID is the Message-ID of message id sent from address from.
func messageID(id, from string) string { return "<" + id + "@" + domainOf(from) + ">" }

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}
