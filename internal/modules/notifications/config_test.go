package notifications_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/config"
	"github.com/platform/platform/internal/kernel/kerneltest"
	"github.com/platform/platform/internal/modules/notifications"
)

// A bad modules.notifications key stops New with an error that names it.
func TestConfigErrors(t *testing.T) {
	for key, value := range map[string]string{"ttl": "10s", "fallback_after": "0s", "cleanup_interval": "1ms",
		"queue": "urgent"} {
		t.Run(key, func(t *testing.T) {
			kerneltest.Config(t) // isolates the environment and the database
			path := filepath.Join(t.TempDir(), "platform.yaml")
			if err := os.WriteFile(path, []byte("modules:\n  notifications:\n    "+key+": "+value+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			k, err := kernel.New(context.Background(), cfg, kerneltest.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			_, err = notifications.New(k)
			if err == nil || !strings.Contains(err.Error(), "modules.notifications."+key) {
				t.Fatalf("%s: %s: %v", key, value, err)
			}
		})
	}
}
