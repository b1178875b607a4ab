package main

import (
	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/modules/contact"
	"github.com/platform/platform/internal/modules/helpdesk"
	"github.com/platform/platform/internal/modules/jobs"
	"github.com/platform/platform/internal/modules/notifications"
)

// modules wires the domain modules. Each takes from the kernel only what it
// uses and reaches other modules through internal/modules/contracts. A
// module's bad configuration is an error here, which stops start-up.
func modules(k *kernel.Kernel) ([]kernel.Module, error) {
	bus := jobs.New(k)
	sender, err := contact.New(k)
	if err != nil {
		return nil, err
	}
	notifier, err := notifications.New(k, notifications.WithSender(sender), notifications.WithSubscriber(bus))
	if err != nil {
		return nil, err
	}
	desk := helpdesk.New(k, bus, helpdesk.WithSender(sender))
	if err := desk.Err(); err != nil {
		return nil, err
	}
	return withTagged(k, bus, []kernel.Module{bus, sender, desk, notifier}), nil
}

// moduleList is the set of modules, for commands that need their
// migrations but not a running kernel.
func moduleList() []kernel.Module {
	bus := jobs.New(nil)
	sender, _ := contact.New(nil)         // without a kernel it only serves its migrations
	notifier, _ := notifications.New(nil) // without a kernel it only serves its migrations
	return withTagged(nil, bus, []kernel.Module{bus, sender, helpdesk.New(nil, nil), notifier})
}

// tagged makes the modules that only a build tag compiles in, such as the
// end-to-end tests' probe (probe_e2e.go). k is nil for commands that need
// only the modules' migrations; bus is the messaging module.
var tagged []func(k *kernel.Kernel, bus *jobs.Module) kernel.Module

// withTagged appends the tagged modules to mods, after the domain modules.
func withTagged(k *kernel.Kernel, bus *jobs.Module, mods []kernel.Module) []kernel.Module {
	for _, mk := range tagged {
		mods = append(mods, mk(k, bus))
	}
	return mods
}
