// Package migrations holds every module's versioned SQL, one folder per
// module and dialect (migrations/<module>/<sqlite|mysql>/0001_name.up.sql),
// embedded in the binary. A merged migration is never edited: a change is a
// new numbered file for each dialect.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed */*/*.sql
var all embed.FS

// For returns the migrations of one module, rooted at its folder, or nil when
// it has none.
func For(module string) fs.FS {
	sub, err := fs.Sub(all, module)
	if err != nil {
		return nil
	}
	if _, err := fs.ReadDir(sub, "."); err != nil {
		return nil
	}
	return sub
}
