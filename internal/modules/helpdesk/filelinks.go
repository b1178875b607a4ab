package helpdesk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// ErrFileLink is a file link that does not verify, has expired, or names a
// file that is gone or not on a public reply.
var ErrFileLink = errs.New(errs.NotFound, "helpdesk.file_link_invalid", "This download link is not valid.")

// fileClaim is what a file link names: one attachment of a ticket of a
// tenant, until Exp (Unix seconds).
type fileClaim struct {
	Tenant     string `json:"tn"`
	Ticket     string `json:"tk"`
	Attachment string `json:"a"`
	Exp        int64  `json:"exp"`
}

// filePurpose keys the HMAC of file links, apart from the CSAT links'.
const filePurpose = "helpdesk.file"

// fileLink is the customer's download link of attachment a of a reply
// written at: valid for attachment_link_ttl from the reply, so that a
// retried send makes the same link.
func (m *Module) fileLink(a *attachmentRow, at time.Time) (link string, exp time.Time) {
	exp = at.Add(m.cfg.AttachmentLinkTTL).UTC().Truncate(time.Second)
	tok := m.signToken(filePurpose, fileClaim{Tenant: a.TenantID, Ticket: a.TicketID, Attachment: a.ID, Exp: exp.Unix()}) // csat.go
	return m.publicLink("/files/" + tok), exp
}

// publicLink is the URL of one of the module's public routes: absolute
// when http.public_url is set.
func (m *Module) publicLink(path string) string {
	return strings.TrimRight(m.k.Config.HTTP.PublicURL, "/") + "/api/v1/" + Name + path
}

// openFileToken checks a file link and returns its attachment, with the
// tenant's system principal in ctx. The attachment must still be on a
// public message of the ticket the link names.
func (m *Module) openFileToken(ctx context.Context, token string) (context.Context, *attachmentRow, error) {
	var c fileClaim
	if !m.openToken(filePurpose, token, &c) || c.Tenant == "" || c.Ticket == "" || c.Attachment == "" || m.clock().Unix() > c.Exp {
		return ctx, nil, ErrFileLink
	}
	ctx = security.WithPrincipal(ctx, security.System(c.Tenant))
	if _, err := m.store.ticket(ctx, c.Ticket); err != nil {
		return ctx, nil, linkGone(err)
	}
	a, err := m.store.attachment(ctx, c.Ticket, c.Attachment)
	if err != nil {
		return ctx, nil, linkGone(err)
	}
	msg, err := m.store.message(ctx, a.MessageID)
	if err != nil {
		return ctx, nil, linkGone(err)
	}
	if msg.Internal || msg.TicketID != c.Ticket {
		return ctx, nil, ErrFileLink
	}
	return ctx, a, nil
}

// linkGone is ErrFileLink for a row that is not there, and err otherwise.
func linkGone(err error) error {
	if errs.KindOf(err) == errs.NotFound || errors.Is(err, errMessageNotFound) {
		return ErrFileLink
	}
	return err
}

// getFileLink downloads an attachment of a public reply by its signed
// link, without an account: the link in the reply's e-mail.
func (m *Module) getFileLink(c echo.Context) error {
	_, a, err := m.openFileToken(c.Request().Context(), c.Param("token"))
	if err != nil {
		return err
	}
	err = m.serveAttachment(c, a)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrFileLink
	}
	return err
}

// fileList is the part of a reply's e-mail that links its files: each
// one's name and size, then its link.
func (m *Module) fileList(atts []attachmentRow, at time.Time) string {
	if len(atts) == 0 {
		return ""
	}
	var b strings.Builder
	for i := range atts {
		link, exp := m.fileLink(&atts[i], at)
		if i == 0 {
			fmt.Fprintf(&b, "\n\nAttachments (links valid until %s):", exp.Format("2 January 2006 15:04 UTC"))
		}
		fmt.Fprintf(&b, "\n- %s (%s)\n  %s", atts[i].Filename, byteSize(atts[i].Size), link)
	}
	return b.String()
}

// byteSize is a file size for people: 512 bytes, 1.5 KB, 3.2 MB.
func byteSize(n int64) string {
	switch {
	case n == 1:
		return "1 byte"
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f KB", float64(n)/1000)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1000/1000)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1000/1000/1000)
}
