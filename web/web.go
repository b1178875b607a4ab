// Package web holds the backoffice's templates and static assets, embedded
// in the binary so that nothing needs building or installing to run it.
// Vendored libraries under static/vendor keep their licence files.
package web

import "embed"

// FS holds templates/ (html/template files) and static/ (CSS, icons and
// vendored scripts, served under /admin/static/).
//
//go:embed templates static
var FS embed.FS
