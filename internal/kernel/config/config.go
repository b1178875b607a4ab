// Package config loads the platform's configuration: defaults in code, an
// optional YAML file, then PLATFORM_* environment variables, in rising order
// of precedence. Every key and its default is listed in configs/platform.yaml.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/spf13/viper"
)

// Config is the kernel's configuration. Module settings stay raw under
// Modules and are decoded by each module with Sub.
type Config struct {
	DataDir string `mapstructure:"data_dir"`

	HTTP struct {
		Addr            string        `mapstructure:"addr"`
		BodyLimit       string        `mapstructure:"body_limit"`
		ReadTimeout     time.Duration `mapstructure:"read_timeout"`
		WriteTimeout    time.Duration `mapstructure:"write_timeout"`
		IdleTimeout     time.Duration `mapstructure:"idle_timeout"`
		ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
		TrustedProxies  []string      `mapstructure:"trusted_proxies"`
		CORSOrigins     []string      `mapstructure:"cors_origins"`
		PublicURL       string        `mapstructure:"public_url"`
		AccessLog       bool          `mapstructure:"access_log"`
	} `mapstructure:"http"`

	Database struct {
		Driver          string        `mapstructure:"driver"`
		DSN             string        `mapstructure:"dsn"`
		AutoMigrate     string        `mapstructure:"auto_migrate"`
		MaxOpenConns    int           `mapstructure:"max_open_conns"`
		MaxIdleConns    int           `mapstructure:"max_idle_conns"`
		ConnMaxLifetime time.Duration `mapstructure:"conn_max_lifetime"`
	} `mapstructure:"database"`

	Redis struct {
		Addr     string `mapstructure:"addr"`
		Password string `mapstructure:"password"`
		DB       int    `mapstructure:"db"`
	} `mapstructure:"redis"`

	Queue struct {
		Concurrency     int           `mapstructure:"concurrency"`
		ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
		RelayInterval   time.Duration `mapstructure:"relay_interval"`
		Lease           time.Duration `mapstructure:"lease"`
		Retention       time.Duration `mapstructure:"retention"`
		WriteBehind     time.Duration `mapstructure:"write_behind"`
		PollInterval    time.Duration `mapstructure:"poll_interval"`
		Dequeuers       int           `mapstructure:"dequeuers"`
		// Limits by queue name (critical, default, low).
		Limits map[string]QueueLimits `mapstructure:"limits"`
	} `mapstructure:"queue"`

	Security struct {
		JWTSecret        string        `mapstructure:"jwt_secret"`
		AccessTokenTTL   time.Duration `mapstructure:"access_token_ttl"`
		RefreshTokenTTL  time.Duration `mapstructure:"refresh_token_ttl"`
		ServiceTokenTTL  time.Duration `mapstructure:"service_token_ttl"`
		LoginMaxFailures int           `mapstructure:"login_max_failures"`
		LoginWindow      time.Duration `mapstructure:"login_window"`
		PasswordMinLen   int           `mapstructure:"password_min_length"`
	} `mapstructure:"security"`

	Bootstrap struct {
		AdminEmail    string `mapstructure:"admin_email"`
		AdminPassword string `mapstructure:"admin_password"`
	} `mapstructure:"bootstrap"`

	Log struct {
		Level  string `mapstructure:"level"`
		Format string `mapstructure:"format"`
	} `mapstructure:"log"`

	Metrics struct {
		Token string `mapstructure:"token"`
	} `mapstructure:"metrics"`

	v *viper.Viper
}

// Error is a configuration error that names the offending key, so an
// operator can find it in the YAML file or the environment.
type Error struct {
	Key string
	Msg string
}

func (e *Error) Error() string {
	env := "PLATFORM_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(e.Key))
	return fmt.Sprintf("config: %s (env %s): %s", e.Key, env, e.Msg)
}

// QueueLimits are one queue's limits across every worker process; zero is
// off.
type QueueLimits struct {
	TenantRate        float64 `mapstructure:"tenant_rate"`        // tasks a tenant starts a second
	TenantBurst       int     `mapstructure:"tenant_burst"`       // 0: the rate rounded up
	TenantConcurrency int     `mapstructure:"tenant_concurrency"` // tasks of one tenant running at once
	Concurrency       int     `mapstructure:"concurrency"`        // tasks running at once on the queue
}

// queueNames are the queues limits may name (queue.Queues).
var queueNames = []string{"critical", "default", "low"}

func defaults(v *viper.Viper) {
	v.SetDefault("data_dir", "./data")
	v.SetDefault("http.addr", ":8080")
	v.SetDefault("http.body_limit", "1M")
	v.SetDefault("http.read_timeout", "15s")
	v.SetDefault("http.write_timeout", "30s")
	v.SetDefault("http.idle_timeout", "120s")
	v.SetDefault("http.shutdown_timeout", "25s")
	v.SetDefault("http.trusted_proxies", []string{})
	v.SetDefault("http.cors_origins", []string{})
	v.SetDefault("http.public_url", "")
	v.SetDefault("http.access_log", true)
	v.SetDefault("database.driver", "sqlite")
	v.SetDefault("database.dsn", "")
	v.SetDefault("database.auto_migrate", "auto")
	v.SetDefault("database.max_open_conns", 0)
	v.SetDefault("database.max_idle_conns", 0)
	v.SetDefault("database.conn_max_lifetime", "30m")
	v.SetDefault("redis.addr", "")
	v.SetDefault("redis.password", "")
	v.SetDefault("redis.db", 0)
	v.SetDefault("queue.concurrency", 10)
	v.SetDefault("queue.shutdown_timeout", "20s")
	v.SetDefault("queue.relay_interval", "1s")
	v.SetDefault("queue.lease", "5m")
	v.SetDefault("queue.retention", "168h")
	v.SetDefault("queue.write_behind", "20ms")
	v.SetDefault("queue.poll_interval", "0s")
	v.SetDefault("queue.dequeuers", 0)
	// Each limit has a default, so that PLATFORM_QUEUE_LIMITS_DEFAULT_TENANT_RATE
	// and the like are read from the environment.
	for _, q := range queueNames {
		for _, k := range []string{"tenant_rate", "tenant_burst", "tenant_concurrency", "concurrency"} {
			v.SetDefault("queue.limits."+q+"."+k, 0)
		}
	}
	v.SetDefault("security.jwt_secret", "")
	v.SetDefault("security.access_token_ttl", "15m")
	v.SetDefault("security.refresh_token_ttl", "720h")
	v.SetDefault("security.service_token_ttl", "60s")
	v.SetDefault("security.login_max_failures", 5)
	v.SetDefault("security.login_window", "15m")
	v.SetDefault("security.password_min_length", 10)
	v.SetDefault("bootstrap.admin_email", "")
	v.SetDefault("bootstrap.admin_password", "")
	v.SetDefault("log.level", "info")
	v.SetDefault("log.format", "json")
	v.SetDefault("metrics.token", "")
}

// Load reads the configuration. file may be empty: then
// $PLATFORM_CONFIG, ./configs/platform.yaml and ./platform.yaml are tried, and
// a missing file is not an error.
func Load(file string) (*Config, error) {
	v := viper.New()
	defaults(v)
	v.SetEnvPrefix("PLATFORM")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	if file == "" {
		file = os.Getenv("PLATFORM_CONFIG")
	}
	if file == "" {
		// Look for the usual places by exact name: viper's own search also
		// matches extension-less files, such as the binary itself.
		for _, f := range []string{"configs/platform.yaml", "platform.yaml"} {
			if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
				file = f
				break
			}
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return nil, &Error{Key: "config", Msg: fmt.Sprintf("%s: %v", file, err)}
		}
	}

	c := &Config{v: v}
	if err := decode(v, c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decode unmarshals key by key so that a type error names its key.
func decode(v *viper.Viper, c *Config) error {
	if err := v.Unmarshal(c); err != nil {
		// Find the key: try each known key alone.
		for _, k := range v.AllKeys() {
			probe := viper.New()
			probe.Set(k, v.Get(k))
			var tmp Config
			if perr := probe.Unmarshal(&tmp); perr != nil {
				return &Error{Key: k, Msg: fmt.Sprintf("invalid value %q", fmt.Sprint(v.Get(k)))}
			}
		}
		return &Error{Key: "config", Msg: err.Error()}
	}
	return nil
}

func (c *Config) validate() error {
	switch c.Database.Driver {
	case "sqlite":
	case "mysql":
		if c.Database.DSN == "" {
			return &Error{Key: "database.dsn", Msg: "required when database.driver is mysql, e.g. user:pass@tcp(127.0.0.1:3306)/platform"}
		}
		if _, err := mysqldrv.ParseDSN(c.Database.DSN); err != nil {
			return &Error{Key: "database.dsn", Msg: "not a MySQL DSN such as user:pass@tcp(127.0.0.1:3306)/platform: " + err.Error()}
		}
	default:
		return &Error{Key: "database.driver", Msg: fmt.Sprintf("must be sqlite or mysql, got %q", c.Database.Driver)}
	}
	switch c.Database.AutoMigrate {
	case "auto", "true", "false", "1", "0":
	default:
		return &Error{Key: "database.auto_migrate", Msg: fmt.Sprintf("must be auto, true or false, got %q", c.Database.AutoMigrate)}
	}
	if c.Database.MaxOpenConns < 0 {
		return &Error{Key: "database.max_open_conns", Msg: "must be 0 (the default size) or more"}
	}
	if c.Database.MaxIdleConns < 0 {
		return &Error{Key: "database.max_idle_conns", Msg: "must be 0 (as many as max_open_conns) or more"}
	}
	if c.Database.ConnMaxLifetime < 0 {
		return &Error{Key: "database.conn_max_lifetime", Msg: "must be a duration such as 30m, or 0 for no limit"}
	}
	if !hostPort(c.HTTP.Addr) {
		return &Error{Key: "http.addr", Msg: fmt.Sprintf("must be host:port with a port from 0 to 65535, got %q", c.HTTP.Addr)}
	}
	if c.Redis.Addr != "" && !hostPort(c.Redis.Addr) {
		return &Error{Key: "redis.addr", Msg: fmt.Sprintf("must be host:port or empty, got %q", c.Redis.Addr)}
	}
	for _, p := range c.HTTP.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return &Error{Key: "http.trusted_proxies", Msg: fmt.Sprintf("%q is neither an IP address nor a CIDR range", p)}
			}
		}
	}
	if u := c.HTTP.PublicURL; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "" {
			return &Error{Key: "http.public_url", Msg: fmt.Sprintf("must be an absolute URL such as https://platform.example.com, got %q", u)}
		}
	}
	for _, o := range c.HTTP.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://") {
			return &Error{Key: "http.cors_origins", Msg: fmt.Sprintf("%q must be an origin such as https://app.example.com", o)}
		}
	}
	if c.Redis.DB < 0 || c.Redis.DB > 15 {
		return &Error{Key: "redis.db", Msg: "must be between 0 and 15"}
	}
	if c.DataDir == "" {
		return &Error{Key: "data_dir", Msg: "must not be empty"}
	}
	if _, err := ParseBytes(c.HTTP.BodyLimit); err != nil {
		return &Error{Key: "http.body_limit", Msg: err.Error()}
	}
	for k, d := range map[string]time.Duration{
		"http.read_timeout": c.HTTP.ReadTimeout, "http.write_timeout": c.HTTP.WriteTimeout,
		"http.idle_timeout": c.HTTP.IdleTimeout, "http.shutdown_timeout": c.HTTP.ShutdownTimeout,
		"queue.shutdown_timeout": c.Queue.ShutdownTimeout, "queue.relay_interval": c.Queue.RelayInterval,
		"queue.lease": c.Queue.Lease, "queue.retention": c.Queue.Retention,
		"security.access_token_ttl": c.Security.AccessTokenTTL, "security.refresh_token_ttl": c.Security.RefreshTokenTTL,
		"security.service_token_ttl": c.Security.ServiceTokenTTL, "security.login_window": c.Security.LoginWindow,
	} {
		if d <= 0 {
			return &Error{Key: k, Msg: "must be a positive duration such as 30s"}
		}
	}
	if c.Queue.Concurrency < 1 {
		return &Error{Key: "queue.concurrency", Msg: "must be at least 1"}
	}
	if c.Queue.Dequeuers < 0 {
		return &Error{Key: "queue.dequeuers", Msg: "must be 0 (automatic) or a positive number"}
	}
	if c.Queue.PollInterval < 0 {
		return &Error{Key: "queue.poll_interval", Msg: "must be 0 (automatic) or a positive duration such as 100ms"}
	}
	if c.Queue.WriteBehind < 0 || c.Queue.WriteBehind > time.Second {
		return &Error{Key: "queue.write_behind", Msg: "must be between 0 (off) and 1s"}
	}
	for name, l := range c.Queue.Limits {
		if !slices.Contains(queueNames, name) {
			return &Error{Key: "queue.limits." + name, Msg: "names no queue; the queues are critical, default and low"}
		}
		key := "queue.limits." + name + "."
		switch {
		case l.TenantRate < 0:
			return &Error{Key: key + "tenant_rate", Msg: "must not be negative"}
		case l.TenantBurst < 0:
			return &Error{Key: key + "tenant_burst", Msg: "must not be negative"}
		case l.TenantConcurrency < 0:
			return &Error{Key: key + "tenant_concurrency", Msg: "must not be negative"}
		case l.Concurrency < 0:
			return &Error{Key: key + "concurrency", Msg: "must not be negative"}
		}
	}
	if c.Security.LoginMaxFailures < 1 {
		return &Error{Key: "security.login_max_failures", Msg: "must be at least 1"}
	}
	if c.Security.PasswordMinLen < 8 {
		return &Error{Key: "security.password_min_length", Msg: "must be at least 8"}
	}
	if s := c.Security.JWTSecret; s != "" && len(s) < 32 {
		return &Error{Key: "security.jwt_secret", Msg: "must be at least 32 characters, or empty to generate one"}
	}
	if e := c.Bootstrap.AdminEmail; e != "" && !strings.Contains(e, "@") {
		return &Error{Key: "bootstrap.admin_email", Msg: fmt.Sprintf("not an e-mail address: %q", e)}
	}
	if p := c.Bootstrap.AdminPassword; p != "" && len(p) < c.Security.PasswordMinLen {
		return &Error{Key: "bootstrap.admin_password", Msg: fmt.Sprintf("must be at least %d characters", c.Security.PasswordMinLen)}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return &Error{Key: "log.level", Msg: fmt.Sprintf("must be debug, info, warn or error, got %q", c.Log.Level)}
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		return &Error{Key: "log.format", Msg: fmt.Sprintf("must be json or text, got %q", c.Log.Format)}
	}
	return nil
}

// hostPort reports whether addr is host:port with a numeric port, which is
// what net.Listen and Redis need; a bad port would otherwise surface only
// when the server starts listening.
func hostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

// AutoMigrate reports whether serve applies pending migrations itself:
// by default on SQLite, not on MySQL, where deploys run "platform migrate up".
func (c *Config) AutoMigrate() bool {
	switch c.Database.AutoMigrate {
	case "true", "1":
		return true
	case "false", "0":
		return false
	}
	return c.Database.Driver == "sqlite"
}

// Embedded reports whether the queue runs on the in-process Redis server.
func (c *Config) Embedded() bool { return c.Redis.Addr == "" }

// BodyLimitBytes is http.body_limit in bytes; validate has checked it.
func (c *Config) BodyLimitBytes() int64 {
	n, _ := ParseBytes(c.HTTP.BodyLimit)
	return n
}

// Sub decodes modules.<name> into out, a pointer to a struct that holds
// the module's defaults. The file's values apply first, then the
// environment's: PLATFORM_MODULES_<NAME>_<KEY> for each of out's fields
// (its mapstructure tag, upper-cased). An error names the key.
func (c *Config) Sub(name string, out any) error {
	if c.v == nil {
		return nil
	}
	key := "modules." + name
	settings := map[string]any{}
	if sub := c.v.Sub(key); sub != nil {
		settings = sub.AllSettings()
	}
	for _, field := range fieldKeys(out) {
		env := "PLATFORM_MODULES_" + strings.ToUpper(name+"_"+field)
		if v, ok := os.LookupEnv(env); ok {
			settings[field] = v
		}
	}
	if len(settings) == 0 {
		return nil
	}
	for field, val := range settings {
		// One key at a time, so that an error names it.
		one := viper.New()
		one.Set(field, val)
		if err := one.Unmarshal(out); err != nil {
			return &Error{Key: key + "." + field, Msg: err.Error()}
		}
	}
	return nil
}

// fieldKeys lists the mapstructure keys of the struct out points to.
func fieldKeys(out any) []string {
	t := reflect.TypeOf(out)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		switch tag {
		case "-":
			continue
		case "":
			tag = strings.ToLower(f.Name)
		}
		keys = append(keys, tag)
	}
	return keys
}

// ParseBytes parses sizes such as 512K, 1M or 2MiB.
func ParseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	var n int64
	if _, err := fmt.Sscanf(t, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != t {
		return 0, fmt.Errorf("not a size such as 1M or 512K: %q", s)
	}
	return n * mult, nil
}
