// Command platform runs the business platform: one binary with the HTTP
// API, the backoffice, the queue workers and the scheduler.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/platform/platform/internal/kernel"
	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/config"
	"github.com/platform/platform/internal/kernel/migrate"
)

// exitConfig is the exit code of a configuration error.
const exitConfig = 2

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var cfgFile string
	code := 0
	fail := func(err error) {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, "platform:", err)
			code = exitConfig
			return
		}
		fmt.Fprintln(stderr, "platform:", err)
		code = 1
	}

	root := &cobra.Command{
		Use:   "platform",
		Short: "The business platform in one binary",
		Long: `platform runs a company's business platform: the HTTP API, the backoffice,
the job queue workers and the scheduler, with pluggable modules.

With no configuration it keeps its data in SQLite under ./data and runs the
queue on an in-process Redis-compatible server; nothing needs installing.
Set PLATFORM_DATABASE_DRIVER=mysql, PLATFORM_DATABASE_DSN and
PLATFORM_REDIS_ADDR to run on MariaDB and Redis. Every key is listed in
configs/platform.yaml; environment variables are PLATFORM_<KEY> with dots
as underscores.

Running platform with no command is the same as "platform serve".`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&cfgFile, "config", "c", "", "YAML config file (default: $PLATFORM_CONFIG, ./configs/platform.yaml or ./platform.yaml when present)")
	root.SetOut(stdout)
	root.SetErr(stderr)

	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API, backoffice, workers and scheduler (the default)",
		Long: `serve runs everything in one process: the HTTP API and backoffice on
http.addr, the queue workers and the periodic scheduler. On SIGTERM or
SIGINT it stops accepting connections, reports 503 on /readyz, lets requests
in flight and running tasks finish, and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRole(cmd.Context(), cfgFile, kernel.RoleServe, stderr)
		},
	}
	worker := &cobra.Command{
		Use:   "worker",
		Short: "Run the queue workers and scheduler only, to scale out",
		Long: `worker runs the queue workers and the periodic scheduler without the HTTP
server. Run as many as the load needs, beside one or more "serve"
processes, against the same MariaDB and Redis.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRole(cmd.Context(), cfgFile, kernel.RoleWorker, stderr)
		},
	}
	mig := &cobra.Command{
		Use:   "migrate",
		Short: "Apply, roll back or list database migrations",
		Long: `migrate manages the versioned SQL migrations of the kernel and every module,
which are embedded in the binary. "serve" applies them itself when
database.auto_migrate is on (the default on SQLite); on MariaDB run
"platform migrate up" as a deploy step.`,
	}
	mig.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withMigrator(cmd.Context(), cfgFile, stderr, func(m *migrate.Migrator) error {
				done, err := m.Up(cmd.Context())
				for _, d := range done {
					fmt.Fprintln(stdout, "applied", d.ID())
				}
				if err == nil && len(done) == 0 {
					fmt.Fprintln(stdout, "nothing to apply")
				}
				return err
			})
		},
	})
	mig.AddCommand(&cobra.Command{
		Use:   "down [N]",
		Short: "Roll back the N most recent migrations (default 1)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 1
			if len(args) == 1 {
				v, err := strconv.Atoi(args[0])
				if err != nil || v < 1 {
					return fmt.Errorf("N must be a positive number, got %q", args[0])
				}
				n = v
			}
			return withMigrator(cmd.Context(), cfgFile, stderr, func(m *migrate.Migrator) error {
				done, err := m.Down(cmd.Context(), n)
				for _, d := range done {
					fmt.Fprintln(stdout, "rolled back", d.ID())
				}
				return err
			})
		},
	})
	mig.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withMigrator(cmd.Context(), cfgFile, stderr, func(m *migrate.Migrator) error {
				st, err := m.Status(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "MIGRATION\tAPPLIED")
				for _, s := range st {
					at := "pending"
					if s.AppliedAt != nil {
						at = s.AppliedAt.Format("2006-01-02 15:04:05Z")
					}
					fmt.Fprintf(tw, "%s\t%s\n", s.ID(), at)
				}
				return tw.Flush()
			})
		},
	})
	version := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Long: `version prints the version of this build: the release set at build time
(make build stamps it from git describe), or dev-<commit> for a build from
source. It reads no configuration.`,
		Args: cobra.NoArgs,
		Run:  func(*cobra.Command, []string) { fmt.Fprintln(stdout, kernel.BuildVersion()) },
	}
	root.AddCommand(serve, worker, mig, version, healthcheckCmd(&cfgFile, stdout))
	root.RunE = serve.RunE
	root.Args = cobra.NoArgs

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fail(err)
	}
	return code
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func runRole(ctx context.Context, cfgFile string, role kernel.Role, logw io.Writer) error {
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return err
	}
	log := newLogger(cfg, logw)
	slog.SetDefault(log)
	k, err := kernel.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer k.Close()
	mods, err := modules(k)
	if err != nil {
		return err
	}
	if err := k.Register(mods...); err != nil {
		return err
	}
	k.UseShell(admin.New(k, admin.WithBaseURL(cfg.HTTP.PublicURL)))
	return k.Run(ctx, role, nil)
}

func withMigrator(ctx context.Context, cfgFile string, logw io.Writer, fn func(*migrate.Migrator) error) error {
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return err
	}
	log := newLogger(cfg, logw)
	d, err := kernel.OpenDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(migrate.New(d.SQL(), d.Dialect(), kernel.MigrationSources(moduleList())...))
}
