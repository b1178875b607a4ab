package helpdesk

import (
	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/security"
)

// conversationRoutes serves attachments, inbound e-mail and CSAT.
func (m *Module) conversationRoutes(r kernel.Routes) {
	submit, write := security.Require(PermSubmit), security.Require(PermWrite)
	r.API.GET("/tickets/:id/attachments/:aid", m.getAttachment, submit)
	r.API.GET("/inbound", m.getInbound, write)
	r.API.POST("/inbound/secret", m.postInboundSecret, write)
	r.Public.POST("/inbound/email", m.postInboundEmail)
	r.Public.GET("/csat/:token", m.getCSAT)
	r.Public.POST("/csat/:token", m.postCSAT)
}
