package helpdesk

import "github.com/platform/platform/internal/kernel"

// conversationRoutes serves attachments, inbound e-mail and CSAT.
func (m *Module) conversationRoutes(r kernel.Routes) {}
