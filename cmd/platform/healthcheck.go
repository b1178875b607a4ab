package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/platform/platform/internal/kernel/config"
)

// healthcheckCmd asks the local server's /readyz, for container health
// checks in images that have no shell or curl.
func healthcheckCmd(cfgFile *string, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the local server answers /readyz with 200",
		Long: `healthcheck asks http://127.0.0.1:<port>/readyz of the server configured in
http.addr and exits 0 when it is ready, 1 otherwise. The Docker image uses it
as its HEALTHCHECK.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(*cfgFile)
			if err != nil {
				return err
			}
			_, port, _ := net.SplitHostPort(cfg.HTTP.Addr)
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/readyz", nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("not ready: %w", err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("not ready: /readyz answered %d", res.StatusCode)
			}
			fmt.Fprintln(stdout, "ready")
			return nil
		},
	}
}
