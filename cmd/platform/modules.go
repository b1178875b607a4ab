package main

import "github.com/platform/platform/internal/kernel"

// modules wires the domain modules. Each takes from the kernel only what it
// uses and reaches other modules through internal/modules/contracts.
func modules(k *kernel.Kernel) []kernel.Module {
	_ = k
	return moduleList()
}

// moduleList is the set of modules, for commands that need their
// migrations but not a running kernel.
func moduleList() []kernel.Module {
	return nil
}
