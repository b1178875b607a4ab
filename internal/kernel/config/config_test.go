package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"
)

// isolate clears every PLATFORM_ variable and moves to an empty directory,
// so that neither the caller's environment nor a config file nearby leaks
// into a test.
func isolate(t *testing.T) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PLATFORM_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t *testing.T, file string) *Config {
	t.Helper()
	c, err := Load(file)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	isolate(t)
	c := mustLoad(t, "")
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.DataDir, "./data"},
		{"http.addr", c.HTTP.Addr, ":8080"},
		{"http.body_limit", c.BodyLimitBytes(), int64(1 << 20)},
		{"http.read_timeout", c.HTTP.ReadTimeout, 15 * time.Second},
		{"http.write_timeout", c.HTTP.WriteTimeout, 30 * time.Second},
		{"http.idle_timeout", c.HTTP.IdleTimeout, 120 * time.Second},
		{"http.shutdown_timeout", c.HTTP.ShutdownTimeout, 25 * time.Second},
		{"http.trusted_proxies", len(c.HTTP.TrustedProxies), 0},
		{"http.access_log", c.HTTP.AccessLog, true},
		{"database.driver", c.Database.Driver, "sqlite"},
		{"database.dsn", c.Database.DSN, ""},
		{"database.auto_migrate", c.AutoMigrate(), true},
		{"database.conn_max_lifetime", c.Database.ConnMaxLifetime, 30 * time.Minute},
		{"redis.addr", c.Redis.Addr, ""},
		{"embedded", c.Embedded(), true},
		{"queue.concurrency", c.Queue.Concurrency, 10},
		{"queue.shutdown_timeout", c.Queue.ShutdownTimeout, 20 * time.Second},
		{"queue.relay_interval", c.Queue.RelayInterval, time.Second},
		{"queue.lease", c.Queue.Lease, 5 * time.Minute},
		{"queue.retention", c.Queue.Retention, 168 * time.Hour},
		{"queue.dequeuers", c.Queue.Dequeuers, 0},
		{"security.jwt_secret", c.Security.JWTSecret, ""},
		{"security.access_token_ttl", c.Security.AccessTokenTTL, 15 * time.Minute},
		{"security.refresh_token_ttl", c.Security.RefreshTokenTTL, 720 * time.Hour},
		{"security.login_max_failures", c.Security.LoginMaxFailures, 5},
		{"security.password_min_length", c.Security.PasswordMinLen, 10},
		{"bootstrap.admin_email", c.Bootstrap.AdminEmail, ""},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "json"},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestYAMLFile(t *testing.T) {
	dir := isolate(t)
	file := writeFile(t, filepath.Join(dir, "conf", "prod.yaml"), `
data_dir: /var/lib/platform
http:
  addr: "127.0.0.1:9000"
  body_limit: 2MiB
  read_timeout: 5s
  trusted_proxies: ["10.0.0.0/8", "192.168.1.1"]
  access_log: false
database:
  driver: mysql
  dsn: "platform:secret@tcp(db:3306)/platform"
  auto_migrate: true
  max_open_conns: 40
redis:
  addr: "redis:6379"
  db: 3
queue:
  concurrency: 25
  lease: 10m
security:
  jwt_secret: "0123456789abcdef0123456789abcdef"
bootstrap:
  admin_email: ops@example.com
log:
  level: debug
  format: text
modules:
  shop:
    currency: EUR
    page_size: 50
`)
	c := mustLoad(t, file)
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.DataDir, "/var/lib/platform"},
		{"http.addr", c.HTTP.Addr, "127.0.0.1:9000"},
		{"http.body_limit", c.BodyLimitBytes(), int64(2 << 20)},
		{"http.read_timeout", c.HTTP.ReadTimeout, 5 * time.Second},
		{"http.write_timeout (default)", c.HTTP.WriteTimeout, 30 * time.Second},
		{"http.trusted_proxies", c.HTTP.TrustedProxies, []string{"10.0.0.0/8", "192.168.1.1"}},
		{"http.access_log", c.HTTP.AccessLog, false},
		{"database.driver", c.Database.Driver, "mysql"},
		{"database.dsn", c.Database.DSN, "platform:secret@tcp(db:3306)/platform"},
		{"database.auto_migrate", c.AutoMigrate(), true},
		{"database.max_open_conns", c.Database.MaxOpenConns, 40},
		{"redis.addr", c.Redis.Addr, "redis:6379"},
		{"redis.db", c.Redis.DB, 3},
		{"embedded", c.Embedded(), false},
		{"queue.concurrency", c.Queue.Concurrency, 25},
		{"queue.lease", c.Queue.Lease, 10 * time.Minute},
		{"security.jwt_secret", c.Security.JWTSecret, "0123456789abcdef0123456789abcdef"},
		{"bootstrap.admin_email", c.Bootstrap.AdminEmail, "ops@example.com"},
		{"log.level", c.Log.Level, "debug"},
		{"log.format", c.Log.Format, "text"},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}

	shop := struct {
		Currency string `mapstructure:"currency"`
		PageSize int    `mapstructure:"page_size"`
		Enabled  bool   `mapstructure:"enabled"`
	}{Currency: "USD", PageSize: 20, Enabled: true}
	if err := c.Sub("shop", &shop); err != nil {
		t.Fatalf("sub: %v", err)
	}
	if shop.Currency != "EUR" || shop.PageSize != 50 || !shop.Enabled {
		t.Errorf("modules.shop = %+v, want EUR, 50 and the default enabled", shop)
	}
	absent := struct{ X int }{X: 7}
	if err := c.Sub("nothing", &absent); err != nil || absent.X != 7 {
		t.Errorf("sub of an absent module: %+v, %v", absent, err)
	}
}

func TestSubNamesTheModuleKey(t *testing.T) {
	dir := isolate(t)
	file := writeFile(t, filepath.Join(dir, "p.yaml"), "modules:\n  shop:\n    page_size: many\n")
	c := mustLoad(t, file)
	var out struct {
		PageSize int `mapstructure:"page_size"`
	}
	var ce *Error
	if err := c.Sub("shop", &out); !errors.As(err, &ce) || ce.Key != "modules.shop.page_size" {
		t.Fatalf("sub = %v, want a config error on modules.shop.page_size", err)
	}
}

// A module's keys come from the file, then from PLATFORM_MODULES_<NAME>_<KEY>;
// keys neither sets keep the module's defaults.
func TestSubReadsTheFileThenTheEnvironment(t *testing.T) {
	dir := isolate(t)
	file := writeFile(t, filepath.Join(dir, "p.yaml"), "modules:\n  shop:\n    page_size: 20\n    currency: EUR\n")
	t.Setenv("PLATFORM_MODULES_SHOP_CURRENCY", "CHF")
	t.Setenv("PLATFORM_MODULES_SHOP_TIMEOUT", "90s")
	t.Setenv("PLATFORM_MODULES_SHOP_TAGS", "a,b")
	c := mustLoad(t, file)
	out := struct {
		PageSize int           `mapstructure:"page_size"`
		Currency string        `mapstructure:"currency"`
		Timeout  time.Duration `mapstructure:"timeout"`
		Tags     []string      `mapstructure:"tags"`
		Keep     string        `mapstructure:"keep"`
	}{Keep: "default"}
	if err := c.Sub("shop", &out); err != nil {
		t.Fatal(err)
	}
	if out.PageSize != 20 || out.Currency != "CHF" || out.Timeout != 90*time.Second ||
		!reflect.DeepEqual(out.Tags, []string{"a", "b"}) || out.Keep != "default" {
		t.Fatalf("sub = %+v", out)
	}
	// Only the environment, no file section.
	t.Setenv("PLATFORM_MODULES_CART_PAGE_SIZE", "lots")
	var cart struct {
		PageSize int `mapstructure:"page_size"`
	}
	var ce *Error
	if err := c.Sub("cart", &cart); !errors.As(err, &ce) || ce.Key != "modules.cart.page_size" {
		t.Fatalf("sub = %v, want a config error on modules.cart.page_size", err)
	}
}

func TestAutoMigrate(t *testing.T) {
	cases := []struct {
		driver, value string
		want          bool
	}{
		{"sqlite", "auto", true},
		{"mysql", "auto", false},
		{"mysql", "true", true},
		{"mysql", "1", true},
		{"sqlite", "false", false},
		{"sqlite", "0", false},
	}
	for _, tc := range cases {
		t.Run(tc.driver+"/"+tc.value, func(t *testing.T) {
			isolate(t)
			t.Setenv("PLATFORM_DATABASE_DRIVER", tc.driver)
			t.Setenv("PLATFORM_DATABASE_DSN", "root@tcp(127.0.0.1:3306)/test")
			t.Setenv("PLATFORM_DATABASE_AUTO_MIGRATE", tc.value)
			if got := mustLoad(t, "").AutoMigrate(); got != tc.want {
				t.Fatalf("AutoMigrate() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFileDiscovery(t *testing.T) {
	file := func(addr string) string { return fmt.Sprintf("http:\n  addr: %q\n", addr) }
	cases := []struct {
		name     string
		files    map[string]string // relative to the working directory
		explicit string
		envFile  string
		want     string
	}{
		{"none", nil, "", "", ":8080"},
		{"./platform.yaml", map[string]string{"platform.yaml": file(":1001")}, "", "", ":1001"},
		{"./configs/platform.yaml before ./platform.yaml",
			map[string]string{"platform.yaml": file(":1001"), "configs/platform.yaml": file(":1002")}, "", "", ":1002"},
		{"$PLATFORM_CONFIG before the usual places",
			map[string]string{"configs/platform.yaml": file(":1002"), "env.yaml": file(":1003")}, "", "env.yaml", ":1003"},
		{"--config before $PLATFORM_CONFIG",
			map[string]string{"env.yaml": file(":1003"), "flag.yaml": file(":1004")}, "flag.yaml", "env.yaml", ":1004"},
		// viper's own search would read the binary itself.
		{"an extension-less file named platform is not read",
			map[string]string{"platform": "\x7fELF\x00 not yaml: [", "configs/platform": "nor: ["}, "", "", ":8080"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := isolate(t)
			for name, body := range tc.files {
				writeFile(t, filepath.Join(dir, name), body)
			}
			if tc.envFile != "" {
				t.Setenv("PLATFORM_CONFIG", tc.envFile)
			}
			if got := mustLoad(t, tc.explicit).HTTP.Addr; got != tc.want {
				t.Fatalf("http.addr = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	dir := isolate(t)
	file := writeFile(t, filepath.Join(dir, "p.yaml"), `
data_dir: /from/file
http:
  addr: "127.0.0.1:9000"
database:
  driver: sqlite
redis:
  addr: "file-redis:6379"
bootstrap:
  admin_email: file@example.com
  admin_password: file-password-1
`)
	env := map[string]string{
		"PLATFORM_HTTP_ADDR":                           "0.0.0.0:7070",
		"PLATFORM_DATA_DIR":                            "/from/env",
		"PLATFORM_DATABASE_DRIVER":                     "mysql",
		"PLATFORM_DATABASE_DSN":                        "u:p@tcp(mariadb:3306)/platform",
		"PLATFORM_REDIS_ADDR":                          "redis:6380",
		"PLATFORM_REDIS_DB":                            "2",
		"PLATFORM_BOOTSTRAP_ADMIN_EMAIL":               "root@example.com",
		"PLATFORM_BOOTSTRAP_ADMIN_PASSWORD":            "a-long-enough-password",
		"PLATFORM_HTTP_TRUSTED_PROXIES":                "10.0.0.0/8,192.168.1.1",
		"PLATFORM_HTTP_ACCESS_LOG":                     "false",
		"PLATFORM_QUEUE_RELAY_INTERVAL":                "250ms",
		"PLATFORM_QUEUE_CONCURRENCY":                   "3",
		"PLATFORM_QUEUE_DEQUEUERS":                     "3",
		"PLATFORM_QUEUE_LIMITS_DEFAULT_TENANT_RATE":    "2.5",
		"PLATFORM_QUEUE_LIMITS_LOW_TENANT_CONCURRENCY": "4",
		"PLATFORM_SECURITY_JWT_SECRET":                 strings.Repeat("s", 32),
		"PLATFORM_LOG_LEVEL":                           "warn",
		"PLATFORM_METRICS_TOKEN":                       "scrape-me",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	c := mustLoad(t, file)
	checks := []struct {
		name      string
		got, want any
	}{
		{"PLATFORM_HTTP_ADDR", c.HTTP.Addr, "0.0.0.0:7070"},
		{"PLATFORM_DATA_DIR", c.DataDir, "/from/env"},
		{"PLATFORM_DATABASE_DRIVER", c.Database.Driver, "mysql"},
		{"PLATFORM_DATABASE_DSN", c.Database.DSN, "u:p@tcp(mariadb:3306)/platform"},
		{"PLATFORM_REDIS_ADDR", c.Redis.Addr, "redis:6380"},
		{"PLATFORM_REDIS_DB", c.Redis.DB, 2},
		{"PLATFORM_BOOTSTRAP_ADMIN_EMAIL", c.Bootstrap.AdminEmail, "root@example.com"},
		{"PLATFORM_BOOTSTRAP_ADMIN_PASSWORD", c.Bootstrap.AdminPassword, "a-long-enough-password"},
		{"PLATFORM_HTTP_TRUSTED_PROXIES", c.HTTP.TrustedProxies, []string{"10.0.0.0/8", "192.168.1.1"}},
		{"PLATFORM_HTTP_ACCESS_LOG", c.HTTP.AccessLog, false},
		{"PLATFORM_QUEUE_RELAY_INTERVAL", c.Queue.RelayInterval, 250 * time.Millisecond},
		{"PLATFORM_QUEUE_CONCURRENCY", c.Queue.Concurrency, 3},
		{"PLATFORM_QUEUE_DEQUEUERS", c.Queue.Dequeuers, 3},
		{"PLATFORM_QUEUE_LIMITS_DEFAULT_TENANT_RATE", c.Queue.Limits["default"].TenantRate, 2.5},
		{"PLATFORM_QUEUE_LIMITS_LOW_TENANT_CONCURRENCY", c.Queue.Limits["low"].TenantConcurrency, 4},
		{"critical stays unlimited", c.Queue.Limits["critical"], QueueLimits{}},
		{"PLATFORM_SECURITY_JWT_SECRET", c.Security.JWTSecret, strings.Repeat("s", 32)},
		{"PLATFORM_LOG_LEVEL", c.Log.Level, "warn"},
		{"PLATFORM_METRICS_TOKEN", c.Metrics.Token, "scrape-me"},
		{"auto_migrate follows the driver", c.AutoMigrate(), false},
		{"embedded", c.Embedded(), false},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

// Every bad value stops start-up with an *Error that names its key and the
// variable that sets it.
func TestInvalidValuesNameTheirKey(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		yaml string
		key  string
	}{
		{"unknown driver", map[string]string{"PLATFORM_DATABASE_DRIVER": "oracle"}, "", "database.driver"},
		{"mysql without dsn", map[string]string{"PLATFORM_DATABASE_DRIVER": "mysql"}, "", "database.dsn"},
		{"mysql dsn that does not parse", map[string]string{"PLATFORM_DATABASE_DRIVER": "mysql", "PLATFORM_DATABASE_DSN": "mariadb://db/platform"}, "", "database.dsn"},
		{"auto_migrate", map[string]string{"PLATFORM_DATABASE_AUTO_MIGRATE": "sometimes"}, "", "database.auto_migrate"},
		{"max_open_conns negative", map[string]string{"PLATFORM_DATABASE_MAX_OPEN_CONNS": "-1"}, "", "database.max_open_conns"},
		{"max_open_conns not a number", map[string]string{"PLATFORM_DATABASE_MAX_OPEN_CONNS": "many"}, "", "database.max_open_conns"},
		{"max_idle_conns negative", map[string]string{"PLATFORM_DATABASE_MAX_IDLE_CONNS": "-2"}, "", "database.max_idle_conns"},
		{"conn_max_lifetime negative", map[string]string{"PLATFORM_DATABASE_CONN_MAX_LIFETIME": "-1m"}, "", "database.conn_max_lifetime"},
		{"http.addr without port", map[string]string{"PLATFORM_HTTP_ADDR": "nonsense"}, "", "http.addr"},
		{"http.addr with a bad port", map[string]string{"PLATFORM_HTTP_ADDR": "127.0.0.1:eighty"}, "", "http.addr"},
		{"http.addr port out of range", map[string]string{"PLATFORM_HTTP_ADDR": ":65536"}, "", "http.addr"},
		{"http.body_limit", map[string]string{"PLATFORM_HTTP_BODY_LIMIT": "lots"}, "", "http.body_limit"},
		{"http.body_limit zero", map[string]string{"PLATFORM_HTTP_BODY_LIMIT": "0"}, "", "http.body_limit"},
		{"http.read_timeout not a duration", map[string]string{"PLATFORM_HTTP_READ_TIMEOUT": "soon"}, "", "http.read_timeout"},
		{"http.write_timeout zero", map[string]string{"PLATFORM_HTTP_WRITE_TIMEOUT": "0s"}, "", "http.write_timeout"},
		{"http.idle_timeout negative", map[string]string{"PLATFORM_HTTP_IDLE_TIMEOUT": "-5s"}, "", "http.idle_timeout"},
		{"http.shutdown_timeout zero", map[string]string{"PLATFORM_HTTP_SHUTDOWN_TIMEOUT": "0"}, "", "http.shutdown_timeout"},
		{"http.trusted_proxies", map[string]string{"PLATFORM_HTTP_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, "", "http.trusted_proxies"},
		{"http.trusted_proxies bad mask", map[string]string{"PLATFORM_HTTP_TRUSTED_PROXIES": "10.0.0.0/33"}, "", "http.trusted_proxies"},
		{"http.access_log", map[string]string{"PLATFORM_HTTP_ACCESS_LOG": "maybe"}, "", "http.access_log"},
		{"http.cors_origins", map[string]string{"PLATFORM_HTTP_CORS_ORIGINS": "app.example.com"}, "", "http.cors_origins"},
		{"http.public_url relative", map[string]string{"PLATFORM_HTTP_PUBLIC_URL": "/admin"}, "", "http.public_url"},
		{"http.public_url scheme", map[string]string{"PLATFORM_HTTP_PUBLIC_URL": "ftp://x.example"}, "", "http.public_url"},
		{"redis.addr", map[string]string{"PLATFORM_REDIS_ADDR": "redis"}, "", "redis.addr"},
		{"redis.addr bad port", map[string]string{"PLATFORM_REDIS_ADDR": "redis:sixty"}, "", "redis.addr"},
		{"redis.db too high", map[string]string{"PLATFORM_REDIS_DB": "16"}, "", "redis.db"},
		{"redis.db not a number", map[string]string{"PLATFORM_REDIS_DB": "first"}, "", "redis.db"},
		{"queue.concurrency", map[string]string{"PLATFORM_QUEUE_CONCURRENCY": "0"}, "", "queue.concurrency"},
		{"queue.dequeuers", map[string]string{"PLATFORM_QUEUE_DEQUEUERS": "-1"}, "", "queue.dequeuers"},
		{"queue.shutdown_timeout", map[string]string{"PLATFORM_QUEUE_SHUTDOWN_TIMEOUT": "0s"}, "", "queue.shutdown_timeout"},
		{"queue.relay_interval", map[string]string{"PLATFORM_QUEUE_RELAY_INTERVAL": "-1s"}, "", "queue.relay_interval"},
		{"queue.lease", map[string]string{"PLATFORM_QUEUE_LEASE": "0s"}, "", "queue.lease"},
		{"queue.retention", map[string]string{"PLATFORM_QUEUE_RETENTION": "forever"}, "", "queue.retention"},
		{"queue.limits tenant_rate negative", map[string]string{"PLATFORM_QUEUE_LIMITS_DEFAULT_TENANT_RATE": "-1"}, "", "queue.limits.default.tenant_rate"},
		{"queue.limits tenant_concurrency", map[string]string{"PLATFORM_QUEUE_LIMITS_LOW_TENANT_CONCURRENCY": "-3"}, "", "queue.limits.low.tenant_concurrency"},
		{"queue.limits concurrency not a number", map[string]string{"PLATFORM_QUEUE_LIMITS_CRITICAL_CONCURRENCY": "lots"}, "", "queue.limits.critical.concurrency"},
		{"queue.limits of an unknown queue", nil, "queue:\n  limits:\n    urgent:\n      concurrency: 1\n", "queue.limits.urgent"},
		{"security.jwt_secret", map[string]string{"PLATFORM_SECURITY_JWT_SECRET": "short"}, "", "security.jwt_secret"},
		{"security.access_token_ttl", map[string]string{"PLATFORM_SECURITY_ACCESS_TOKEN_TTL": "0s"}, "", "security.access_token_ttl"},
		{"security.refresh_token_ttl", map[string]string{"PLATFORM_SECURITY_REFRESH_TOKEN_TTL": "-1h"}, "", "security.refresh_token_ttl"},
		{"security.service_token_ttl", map[string]string{"PLATFORM_SECURITY_SERVICE_TOKEN_TTL": "0s"}, "", "security.service_token_ttl"},
		{"security.login_window", map[string]string{"PLATFORM_SECURITY_LOGIN_WINDOW": "0s"}, "", "security.login_window"},
		{"security.login_max_failures", map[string]string{"PLATFORM_SECURITY_LOGIN_MAX_FAILURES": "0"}, "", "security.login_max_failures"},
		{"security.password_min_length", map[string]string{"PLATFORM_SECURITY_PASSWORD_MIN_LENGTH": "7"}, "", "security.password_min_length"},
		{"bootstrap.admin_email", map[string]string{"PLATFORM_BOOTSTRAP_ADMIN_EMAIL": "admin"}, "", "bootstrap.admin_email"},
		{"bootstrap.admin_password", map[string]string{"PLATFORM_BOOTSTRAP_ADMIN_PASSWORD": "short"}, "", "bootstrap.admin_password"},
		{"log.level", map[string]string{"PLATFORM_LOG_LEVEL": "verbose"}, "", "log.level"},
		{"log.format", map[string]string{"PLATFORM_LOG_FORMAT": "xml"}, "", "log.format"},
		{"data_dir empty in the file", nil, "data_dir: \"\"\n", "data_dir"},
		{"a number where a duration goes", nil, "queue:\n  lease: [1, 2]\n", "queue.lease"},
		{"text where a number goes", nil, "queue:\n  concurrency: ten\n", "queue.concurrency"},
		{"broken YAML", nil, "http:\n  addr: [\n", "config"},
		{"missing file", map[string]string{"PLATFORM_CONFIG": "does-not-exist.yaml"}, "", "config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			file := ""
			if tc.yaml != "" {
				file = writeFile(t, filepath.Join(dir, "p.yaml"), tc.yaml)
			}
			c, err := Load(file)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %+v, %v; want a *config.Error", c, err)
			}
			if ce.Key != tc.key {
				t.Fatalf("error names %q, want %q: %v", ce.Key, tc.key, err)
			}
			env := "PLATFORM_" + strings.ToUpper(strings.ReplaceAll(tc.key, ".", "_"))
			if msg := err.Error(); !strings.Contains(msg, tc.key) || !strings.Contains(msg, env) {
				t.Errorf("message %q should name %s and %s", msg, tc.key, env)
			}
		})
	}
}

func TestValidEdgeValues(t *testing.T) {
	cases := map[string]string{
		"PLATFORM_HTTP_ADDR":                    ":0",
		"PLATFORM_REDIS_DB":                     "15",
		"PLATFORM_SECURITY_PASSWORD_MIN_LENGTH": "8",
		"PLATFORM_DATABASE_MAX_OPEN_CONNS":      "0",
		"PLATFORM_DATABASE_CONN_MAX_LIFETIME":   "0s",
		"PLATFORM_HTTP_TRUSTED_PROXIES":         "::1,fd00::/8",
		"PLATFORM_REDIS_ADDR":                   "[::1]:6379",
	}
	for k, v := range cases {
		t.Run(k, func(t *testing.T) {
			isolate(t)
			t.Setenv(k, v)
			mustLoad(t, "")
		})
	}
}

func TestParseBytes(t *testing.T) {
	cases := []struct {
		in   string
		want int64 // 0: an error
	}{
		{"1", 1},
		{"512K", 512 << 10},
		{"512k", 512 << 10},
		{"1M", 1 << 20},
		{"1MB", 1 << 20},
		{"2MiB", 2 << 20},
		{" 3G ", 3 << 30},
		{"10B", 10},
		{"", 0},
		{"0", 0},
		{"-1M", 0},
		{"1.5M", 0},
		{"M", 0},
		{"1T", 0},
		{"1 M", 0},
		{"01M", 0},
	}
	for _, tc := range cases {
		got, err := ParseBytes(tc.in)
		switch {
		case tc.want == 0 && err == nil:
			t.Errorf("ParseBytes(%q) = %d, want an error", tc.in, got)
		case tc.want != 0 && (err != nil || got != tc.want):
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// configs/platform.yaml documents every key with its default: the file and
// the code must not drift apart.
func TestShippedConfigListsEveryKeyWithItsDefault(t *testing.T) {
	path, err := filepath.Abs(filepath.Join("..", "..", "..", "configs", "platform.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	file := viper.New()
	file.SetConfigFile(path)
	if err := file.ReadInConfig(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	code := viper.New()
	defaults(code)
	for _, k := range code.AllKeys() {
		if !file.IsSet(k) {
			t.Errorf("%s is missing from configs/platform.yaml", k)
			continue
		}
		if got, want := fmt.Sprint(file.Get(k)), fmt.Sprint(code.Get(k)); got != want {
			t.Errorf("%s: configs/platform.yaml says %q, the code's default is %q", k, got, want)
		}
	}
	known := map[string]bool{}
	for _, k := range code.AllKeys() {
		known[k] = true
	}
	for _, k := range file.AllKeys() {
		if !known[k] && !strings.HasPrefix(k, "modules.") {
			t.Errorf("configs/platform.yaml has %s, which the code does not know", k)
		}
	}
	isolate(t)
	if _, err := Load(path); err != nil {
		t.Errorf("the shipped file does not load: %v", err)
	}
}
