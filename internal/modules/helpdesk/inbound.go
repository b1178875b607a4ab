package helpdesk

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/db"
	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// Errors of inbound e-mail.
var (
	ErrInboundAuth = errs.New(errs.Unauthenticated, "helpdesk.inbound_unauthenticated",
		"Send the tenant's inbound secret as X-Inbound-Token or ?token=.")
	ErrInboundMalformed = errs.New(errs.BadRequest, "helpdesk.inbound_malformed", "The body is not an RFC 5322 message.")
	ErrInboundInvalid   = errs.New(errs.Invalid, "helpdesk.inbound_invalid", "The message cannot open or answer a ticket.")
	ErrOwnerOnly        = errs.New(errs.Forbidden, "helpdesk.owner_only", "Only the tenant's owner may do this.")
)

// InboundHeader carries the inbound secret (Authorization is the
// platform's own credentials' header).
const InboundHeader = "X-Inbound-Token"

// inboundWindow is the period of the per-sender rate cap.
const inboundWindow = 10 * time.Minute

type inboundSecretRow struct {
	TenantID   string    `gorm:"column:tenant_id;primaryKey"`
	SecretHash string    `gorm:"column:secret_hash"`
	CreatedBy  string    `gorm:"column:created_by"`
	CreatedAt  time.Time `gorm:"column:created_at"`
}

func (inboundSecretRow) TableName() string { return "helpdesk_inbound_secrets" }

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// inboundURL is where a tenant's mail is posted.
func (m *Module) inboundURL() string {
	return strings.TrimRight(m.k.Config.HTTP.PublicURL, "/") + "/api/v1/" + Name + "/inbound/email"
}

// postInboundSecret makes a new inbound secret for the tenant, replacing
// the old one, and shows it once: only its hash is kept.
func (m *Module) postInboundSecret(c echo.Context) error {
	secret, at, err := m.rotateInboundSecret(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"secret": secret, "url": m.inboundURL(), "header": InboundHeader,
		"created_at": at.UTC()})
}

// rotateInboundSecret replaces the tenant's inbound secret with a new one,
// which it returns; the tenant's owner (or the system) only.
func (m *Module) rotateInboundSecret(ctx context.Context) (string, time.Time, error) {
	if p, _ := security.PrincipalFrom(ctx); p == nil || (p.Role != security.RoleOwner && p.Kind != security.KindSystem) {
		return "", time.Time{}, ErrOwnerOnly
	}
	tenant := security.TenantOf(ctx)
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	secret := tenant + "." + base64.RawURLEncoding.EncodeToString(b)
	row := inboundSecretRow{TenantID: tenant, SecretHash: hashSecret(secret), CreatedBy: actor(ctx), CreatedAt: now()}
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		if err := m.store.conn(ctx).Where("tenant_id = ?", tenant).Delete(&inboundSecretRow{}).Error; err != nil {
			return err
		}
		return m.k.DB.Conn(ctx).Create(&row).Error
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return secret, row.CreatedAt, nil
}

// getInbound tells whether the tenant has an inbound secret, and where
// mail goes.
func (m *Module) getInbound(c echo.Context) error {
	at, err := m.inboundSince(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"configured": at != nil, "created_at": at, "url": m.inboundURL(),
		"header": InboundHeader})
}

// inboundSince is when the tenant's inbound secret was made; nil when it
// has none.
func (m *Module) inboundSince(ctx context.Context) (*time.Time, error) {
	var row inboundSecretRow
	err := m.store.conn(ctx).Take(&row).Error
	if db.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return utc(&row.CreatedAt), nil
}

// inboundTenant authenticates an inbound request: the secret names its
// tenant, and its hash must match the stored one.
func (m *Module) inboundTenant(c echo.Context) (string, error) {
	secret := c.Request().Header.Get(InboundHeader)
	if secret == "" {
		secret = c.QueryParam("token")
	}
	tenant, _, ok := strings.Cut(secret, ".")
	if !ok || tenant == "" || len(secret) > 200 {
		return "", ErrInboundAuth
	}
	var row inboundSecretRow
	err := m.k.DB.Conn(c.Request().Context()).Where("tenant_id = ?", tenant).Take(&row).Error
	if db.IsNotFound(err) {
		return "", ErrInboundAuth
	}
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(row.SecretHash)) != 1 {
		return "", ErrInboundAuth
	}
	return tenant, nil
}

// inboundMail is a parsed inbound message.
type inboundMail struct {
	env        *enmime.Envelope
	from, name string // the sender's address, lower-cased, and name
	mailID     string // Message-ID without <>; a hash of the message when it has none
	refs       []string
	subject    string
}

// noMessageIDDomain is the domain of the key of a message without a
// Message-ID: not an id any mail client knows.
const noMessageIDDomain = "inbound.invalid"

var angleIDs = regexp.MustCompile(`<([^<>\s]+)>`)

// messageIDs are the ids of a Message-ID, In-Reply-To or References header.
func messageIDs(h string) []string {
	var out []string
	for _, m := range angleIDs.FindAllStringSubmatch(h, -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		for _, f := range strings.Fields(h) {
			if strings.Contains(f, "@") {
				out = append(out, strings.Trim(f, "<>"))
			}
		}
	}
	return out
}

func parseMail(raw []byte) (*inboundMail, error) {
	env, err := enmime.ReadEnvelope(bytes.NewReader(raw))
	if err != nil {
		return nil, ErrInboundMalformed
	}
	in := &inboundMail{env: env, subject: strings.TrimSpace(env.GetHeader("Subject"))}
	from, err := env.AddressList("From")
	if err != nil || len(from) == 0 || !strings.Contains(from[0].Address, "@") || len(from[0].Address) > 320 {
		return nil, ErrInboundInvalid.WithDetails(invalid("From", "email", "must be one e-mail address"))
	}
	in.from, in.name = strings.ToLower(from[0].Address), strings.TrimSpace(from[0].Name)
	if ids := messageIDs(env.GetHeader("Message-ID")); len(ids) > 0 && len(ids[0]) <= 250 {
		in.mailID = ids[0]
	} else {
		h := sha256.Sum256(raw)
		in.mailID = "sha256-" + hex.EncodeToString(h[:]) + "@" + noMessageIDDomain
	}
	in.refs = append(messageIDs(env.GetHeader("In-Reply-To")), messageIDs(env.GetHeader("References"))...)
	return in, nil
}

// autoReply says why a message is an automatic one that must not open or
// answer a ticket ("" if it is not): auto-replies, bulk and list mail, and
// bounces.
func autoReply(in *inboundMail) string {
	h := func(k string) string { return strings.ToLower(strings.TrimSpace(in.env.GetHeader(k))) }
	switch {
	case h("Auto-Submitted") != "" && h("Auto-Submitted") != "no":
		return "auto_reply"
	case slices.Contains([]string{"bulk", "junk", "list", "auto_reply"}, h("Precedence")):
		return "auto_reply"
	case h("X-Autoreply") != "", h("X-Autorespond") != "", h("X-Auto-Response-Suppress") != "":
		return "auto_reply"
	case h("Return-Path") == "<>", strings.HasPrefix(in.from, "mailer-daemon@"), strings.HasPrefix(in.from, "postmaster@"):
		return "bounce"
	}
	return ""
}

func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return strings.ToLower(d)
}

func localPart(id string) string {
	l, _, _ := strings.Cut(id, "@")
	return l
}

// postInboundEmail takes one raw RFC 5322 message for the tenant whose
// secret it carries: a reply threads into its ticket, anything else opens
// one. Automatic mail and loops are dropped (200 {"dropped": reason}); a
// second delivery of one Message-ID is 200 with the first one's ids.
func (m *Module) postInboundEmail(c echo.Context) (err error) {
	tenant, err := m.inboundTenant(c)
	if err != nil {
		return err
	}
	ctx := security.WithPrincipal(c.Request().Context(), security.System(tenant))
	raw, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return readError(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return ErrInboundMalformed
	}
	in, err := parseMail(raw)
	if err != nil {
		return err
	}
	if why := autoReply(in); why != "" {
		return c.JSON(http.StatusOK, map[string]string{"dropped": why})
	}
	if prev, err := m.store.mailIDs(ctx, []string{in.mailID}); err != nil {
		return err
	} else if len(prev) > 0 {
		if prev[0].Direction == mailOut {
			return c.JSON(http.StatusOK, map[string]string{"dropped": "loop"})
		}
		return c.JSON(http.StatusOK, map[string]any{"ticket_id": prev[0].TicketID, "message_id": prev[0].MessageID,
			"duplicate": true})
	}
	if why, err := m.loop(ctx, in); err != nil || why != "" {
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"dropped": why})
	}
	files, notes := m.mailFiles(in.env)
	defer func() {
		if err != nil {
			discardAll(files)
		}
	}()
	res, err := m.takeMail(ctx, in, files, notes)
	if errors.Is(err, errDuplicateMail) {
		discardAll(files)
		prev, err := m.store.mailIDs(ctx, []string{in.mailID})
		if err != nil || len(prev) == 0 {
			return errs.ErrConflict
		}
		return c.JSON(http.StatusOK, map[string]any{"ticket_id": prev[0].TicketID, "message_id": prev[0].MessageID,
			"duplicate": true})
	}
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if res.Created {
		status = http.StatusCreated
	}
	return c.JSON(status, res)
}

// loop says whether a message is our own coming back, or one sender's
// flood: from or about one of modules.helpdesk.own_domains, an answer to
// nothing but itself, or more than inbound_rate_limit messages from one
// address within ten minutes.
func (m *Module) loop(ctx context.Context, in *inboundMail) (string, error) {
	if slices.Contains(m.cfg.OwnDomains, domainOf(in.from)) || slices.Contains(m.cfg.OwnDomains, domainOf(in.mailID)) {
		return "loop", nil
	}
	ours, err := m.store.mailIDs(ctx, []string{localPart(in.mailID)})
	if err != nil {
		return "", err
	}
	for _, r := range ours {
		if r.Direction == mailOut {
			return "loop", nil
		}
	}
	var n int64
	err = m.store.conn(ctx).Model(&mailIDRow{}).
		Where("sender = ? AND direction = ? AND created_at > ?", in.from, mailIn, now().Add(-inboundWindow)).Count(&n).Error
	if err != nil {
		return "", err
	}
	if n >= int64(m.cfg.InboundRateLimit) {
		return "rate_limited", nil
	}
	return "", nil
}

// mailFiles receives a message's attachments (and inline files), at most
// attachment_max_files of at most attachment_max_bytes; notes name those
// left out.
func (m *Module) mailFiles(env *enmime.Envelope) (files []*upload, notes []string) {
	parts := append(append([]*enmime.Part{}, env.Attachments...), env.Inlines...)
	for _, p := range parts {
		name := p.FileName
		if name == "" {
			name = "attachment"
		}
		if len(files) >= m.cfg.AttachmentMaxFiles {
			notes = append(notes, safeFilename(name)+" (too many files)")
			continue
		}
		u, err := m.receive(name, bytes.NewReader(p.Content))
		if err != nil {
			notes = append(notes, safeFilename(name)+" (too large)")
			continue
		}
		files = append(files, u)
	}
	return files, notes
}

// inboundResult is the answer to an inbound message that was taken.
type inboundResult struct {
	TicketID  string `json:"ticket_id"`
	MessageID string `json:"message_id"`
	Created   bool   `json:"created"` // a new ticket
}

var errDuplicateMail = errors.New("helpdesk: message delivered twice")

var subjectRef = regexp.MustCompile(`\[#([0-9a-f]{10})\]`)

// thread finds the open ticket a message answers: by a Message-ID it
// references, or by the [#ref] of its subject. Only the ticket's requester
// threads into it; anything else opens a new ticket.
func (m *Module) thread(ctx context.Context, in *inboundMail, requester string) (*ticketRow, error) {
	var ids []string
	for _, r := range in.refs {
		ids = append(ids, r, localPart(r))
	}
	var cands []string
	if len(ids) > 0 {
		rows, err := m.store.mailIDs(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			cands = append(cands, r.TicketID)
		}
	}
	if sm := subjectRef.FindStringSubmatch(strings.ToLower(in.subject)); sm != nil {
		var t []ticketRow
		err := m.store.conn(ctx).Where("id LIKE ?", "%"+sm[1]).Limit(2).Find(&t).Error
		if err != nil {
			return nil, err
		}
		if len(t) == 1 {
			cands = append(cands, t[0].ID)
		}
	}
	for _, id := range cands {
		t, err := m.store.ticket(ctx, id)
		if errs.KindOf(err) == errs.NotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		if t.Status != StatusClosed && t.RequesterID == requester {
			return t, nil
		}
	}
	return nil, nil
}

// takeMail writes an inbound message as a reply or a new ticket, in one
// transaction that first claims its Message-ID.
func (m *Module) takeMail(ctx context.Context, in *inboundMail, files []*upload, notes []string) (*inboundResult, error) {
	text := strings.TrimSpace(in.env.Text)
	res := &inboundResult{}
	err := m.k.DB.InTx(ctx, func(ctx context.Context) error {
		c, err := m.findOrCreateCustomer(ctx, in.from, in.name)
		if err != nil {
			return err
		}
		t, err := m.thread(ctx, in, c.ID)
		if err != nil {
			return err
		}
		at := now()
		body, quoted := text, ""
		if t != nil { // a reply: the conversation it quotes is on the ticket already (quoted.go)
			body, quoted = splitQuoted(text)
		}
		if body == "" {
			body = "(no text)"
		}
		if len(notes) > 0 {
			body += "\n\n[Attachments not kept: " + strings.Join(notes, ", ") + "]"
		}
		body = truncateText(body, maxMessageText)
		if t == nil {
			subject := in.subject
			if subject == "" {
				subject = "(no subject)"
			}
			for len(subject) > 500 {
				_, size := utf8.DecodeLastRuneInString(subject)
				subject = subject[:len(subject)-size]
			}
			t = &ticketRow{ID: newID(), TenantID: security.TenantOf(ctx), Subject: subject, Status: StatusNew,
				Priority: "normal", Tags: "[]", RequesterID: c.ID, Channel: "email", Version: 1, CreatedAt: at, UpdatedAt: at}
			res.Created = true
		}
		msg := &messageRow{ID: newID(), TenantID: t.TenantID, TicketID: t.ID, AuthorKind: AuthorCustomer, AuthorID: c.ID,
			Body: body, CreatedAt: at}
		if quoted != "" {
			q := truncateText(quoted, maxMessageText)
			msg.QuotedText = &q
		}
		res.TicketID, res.MessageID = t.ID, msg.ID
		ok, err := m.store.addMailID(ctx, &mailIDRow{TenantID: t.TenantID, MailID: in.mailID, Direction: mailIn,
			TicketID: t.ID, MessageID: msg.ID, Sender: in.from, CreatedAt: at})
		if err != nil {
			return err
		}
		if !ok {
			return errDuplicateMail
		}
		if res.Created {
			if err := m.slaOnCreate(ctx, t); err != nil { // sla_clock.go
				return err
			}
			if err := m.store.createTicket(ctx, t); err != nil {
				return err
			}
		}
		if err := m.store.addMessage(ctx, msg); err != nil {
			return err
		}
		if _, err := m.attach(ctx, t, msg, files); err != nil {
			return err
		}
		if !res.Created {
			if err := m.store.touchTicket(ctx, t.ID, at); err != nil {
				return err
			}
			if err := m.publish(ctx, TopicTicketReplied, t, TicketEvent{Message: msg.ID}); err != nil {
				return err
			}
			return m.reopenOnReply(ctx, t) // service.go
		}
		if err := m.store.addHistory(ctx, []historyRow{m.change(ctx, t, "status", nil, &t.Status, at)}); err != nil {
			return err
		}
		return m.publish(ctx, TopicTicketCreated, t, TicketEvent{Message: msg.ID})
	})
	return res, err
}

// maxMessageText bounds an inbound message's text, and its quoted text.
const maxMessageText = 65536

// truncateText cuts s to at most n bytes, on a character boundary.
func truncateText(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// mailIDs are the recorded Message-IDs among ids, newest first.
func (s *store) mailIDs(ctx context.Context, ids []string) ([]mailIDRow, error) {
	var out []mailIDRow
	if len(ids) == 0 {
		return out, nil
	}
	return out, s.conn(ctx).Where("mail_id IN ?", ids).Order("created_at DESC").Find(&out).Error
}
