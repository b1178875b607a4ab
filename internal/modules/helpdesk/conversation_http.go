package helpdesk

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/httpx"
	"github.com/platform/platform/internal/kernel/security"
)

// conversationRoutes serves attachments, inbound e-mail and CSAT.
func (m *Module) conversationRoutes(r kernel.Routes) {
	submit, write := security.Require(PermSubmit), security.Require(PermWrite)
	r.API.GET("/tickets/:id/attachments/:aid", m.getAttachment, submit)
	r.API.GET("/inbound", m.getInbound, write)
	r.API.POST("/inbound/secret", m.postInboundSecret, write)
	r.Public.POST("/inbound/email", m.postInboundEmail, httpx.BodyLimit(m.inboundBytes()))
	r.Public.GET("/csat/:token", m.getCSAT)
	r.Public.POST("/csat/:token", m.postCSAT)
	r.Public.GET("/files/:token", m.getFileLink) // filelinks.go
}

// uploadBytes is the body limit of a multipart reply: its files at their
// largest, and a megabyte for the text and the form's framing.
func (m *Module) uploadBytes() int64 {
	return m.cfg.AttachmentMaxBytes*int64(m.cfg.AttachmentMaxFiles) + 1<<20
}

// inboundBytes is the body limit of an inbound e-mail: the same files,
// base64-encoded, as MIME carries them.
func (m *Module) inboundBytes() int64 {
	return m.cfg.AttachmentMaxBytes*int64(m.cfg.AttachmentMaxFiles)/3*4 + 1<<20
}

// uploadLimit raises a multipart request's body limit from http.body_limit
// to uploadBytes, so that attachment_max_bytes is the limit that counts;
// a JSON body keeps the server's limit, since it is read whole.
func (m *Module) uploadLimit() echo.MiddlewareFunc {
	raise := httpx.BodyLimit(m.uploadBytes())
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		raised := raise(next)
		return func(c echo.Context) error {
			if strings.HasPrefix(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
				return raised(c)
			}
			return next(c)
		}
	}
}
