// Package modules is the home of the platform's domain modules, one folder
// per bounded context: internal/modules/<name> (contact, helpdesk, jobs, ...),
// each a package named after its module, wired in cmd/platform.
//
// A module uses the kernel (internal/kernel/...) and internal/modules/contracts,
// and nothing of another module: what one module may know of another is an
// interface, DTO or event type in contracts, with fakes beside it in
// contracts/<name>test. The kernel knows no module at all. imports_test.go
// fails the build when either rule is broken.
//
// This package itself holds no code.
package modules
