// Package benchkit holds what the benchmark programs under bench/ share.
package benchkit

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/config"
)

// Kernel builds a kernel the way cmd/platform does, from a configuration
// file of the given YAML lines written into dir. Only the file counts: the
// caller's PLATFORM_* variables are unset, or they would override it.
func Kernel(ctx context.Context, dir string, yaml []string, log *slog.Logger) (*kernel.Kernel, error) {
	file := filepath.Join(dir, "platform.yaml")
	if err := os.WriteFile(file, []byte(strings.Join(yaml, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PLATFORM_") {
			os.Unsetenv(k)
		}
	}
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	return kernel.New(ctx, cfg, log)
}
