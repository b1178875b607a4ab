// Package contracts holds the only things one module may know of another:
// small interfaces, the DTOs they pass and the event types modules publish.
// A module depends on an interface here, never on another module's package,
// and cmd/platform decides what implements it (in-process today, over HTTP
// if a module becomes a service). Fakes for tests live in contracts/<name>test.
//
// Contracts import nothing under internal/modules but contracts itself.
package contracts
