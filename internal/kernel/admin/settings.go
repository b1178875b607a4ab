package admin

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // time zones for the settings form, whatever the host has

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/security"
)

// Branding is a tenant's look and locale, kept in its settings under these
// keys; the member area reads them too.
type Branding struct {
	Name      string // brand_name: the name shown to members, the tenant's name when empty
	LogoURL   string // logo_url: an https image
	Primary   string // primary_color: #rrggbb
	Secondary string // secondary_color: #rrggbb
	TimeZone  string // time_zone: an IANA zone
	Locale    string // locale: a language tag from Locales
}

// Settings keys of Branding.
const (
	KeyBrandName = "brand_name"
	KeyLogoURL   = "logo_url"
	KeyPrimary   = "primary_color"
	KeySecondary = "secondary_color"
	KeyTimeZone  = "time_zone"
	KeyLocale    = "locale"
)

// Locales are the locales a tenant may choose.
var Locales = []Choice{{Value: "en", Label: "English"}, {Value: "en-GB", Label: "English (UK)"}, {Value: "de", Label: "Deutsch"},
	{Value: "fr", Label: "Français"}, {Value: "es", Label: "Español"}, {Value: "it", Label: "Italiano"}, {Value: "nl", Label: "Nederlands"},
	{Value: "pl", Label: "Polski"}, {Value: "pt", Label: "Português"}, {Value: "sv", Label: "Svenska"}}

// TimeZones are the zones offered in the form; any IANA zone is accepted.
var TimeZones = []string{"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin",
	"Europe/Madrid", "Europe/Rome", "Europe/Amsterdam", "Europe/Brussels", "Europe/Vienna", "Europe/Zurich", "Europe/Stockholm",
	"Europe/Warsaw", "Europe/Prague", "Europe/Athens", "Europe/Helsinki", "America/New_York", "America/Chicago",
	"America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore",
	"Asia/Tokyo", "Australia/Sydney"}

// BrandingOf reads a tenant's branding, with defaults.
func BrandingOf(t *security.Tenant) Branding {
	str := func(k string) string { v, _ := t.Settings[k].(string); return v }
	b := Branding{Name: str(KeyBrandName), LogoURL: str(KeyLogoURL), Primary: str(KeyPrimary), Secondary: str(KeySecondary),
		TimeZone: str(KeyTimeZone), Locale: str(KeyLocale)}
	if b.Primary == "" {
		b.Primary = "#1d4ed8"
	}
	if b.Secondary == "" {
		b.Secondary = "#0f766e"
	}
	if b.TimeZone == "" {
		b.TimeZone = "UTC"
	}
	if b.Locale == "" {
		b.Locale = "en"
	}
	return b
}

var hexColour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// validate checks b and returns the invalid fields.
func (b Branding) validate() error {
	var ds []errs.Detail
	if len([]rune(b.Name)) > 100 {
		ds = append(ds, errs.Detail{Field: KeyBrandName, Code: "max", Message: "must be at most 100 characters"})
	}
	if b.LogoURL != "" {
		u, err := url.Parse(b.LogoURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(b.LogoURL) > 500 {
			ds = append(ds, errs.Detail{Field: KeyLogoURL, Code: "url", Message: "must be an https:// address of at most 500 characters"})
		}
	}
	if !hexColour.MatchString(b.Primary) {
		ds = append(ds, errs.Detail{Field: KeyPrimary, Code: "colour", Message: "must be a colour like #1d4ed8"})
	}
	if !hexColour.MatchString(b.Secondary) {
		ds = append(ds, errs.Detail{Field: KeySecondary, Code: "colour", Message: "must be a colour like #0f766e"})
	}
	if _, err := time.LoadLocation(b.TimeZone); err != nil || b.TimeZone == "" || b.TimeZone == "Local" {
		ds = append(ds, errs.Detail{Field: KeyTimeZone, Code: "zone", Message: "must be a time zone like Europe/Berlin"})
	}
	ok := false
	for _, l := range Locales {
		ok = ok || l.Value == b.Locale
	}
	if !ok {
		ds = append(ds, errs.Detail{Field: KeyLocale, Code: "oneof", Message: "must be one of the listed languages"})
	}
	if len(ds) > 0 {
		return errs.ErrInvalid.WithDetails(ds...)
	}
	return nil
}

type settingsForm struct {
	Tenant    *security.Tenant
	Branding  Branding
	Locales   []Choice
	TimeZones []string
}

var settingsCrumbs = []crumb{{Label: "Dashboard", Href: "/admin"}}

func (s *Shell) actingTenant(c echo.Context) (*security.Tenant, error) {
	ctx := c.Request().Context()
	p, _ := security.PrincipalFrom(ctx)
	return s.sec.VisibleTenant(ctx, p.Tenant())
}

func (s *Shell) settings(c echo.Context) error {
	t, err := s.actingTenant(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "settings", "Settings", settingsCrumbs,
		settingsForm{Tenant: t, Branding: BrandingOf(t), Locales: Locales, TimeZones: TimeZones})
}

func (s *Shell) saveSettings(c echo.Context) error {
	t, err := s.actingTenant(c)
	if err != nil {
		return err
	}
	b := Branding{Name: strings.TrimSpace(c.FormValue(KeyBrandName)), LogoURL: strings.TrimSpace(c.FormValue(KeyLogoURL)),
		Primary: strings.TrimSpace(c.FormValue(KeyPrimary)), Secondary: strings.TrimSpace(c.FormValue(KeySecondary)),
		TimeZone: strings.TrimSpace(c.FormValue(KeyTimeZone)), Locale: c.FormValue(KeyLocale)}
	f := settingsForm{Tenant: t, Branding: b, Locales: Locales, TimeZones: TimeZones}
	if err := b.validate(); err != nil {
		return s.renderForm(c, "settings", "Settings", settingsCrumbs, f, err)
	}
	patch := map[string]any{KeyBrandName: b.Name, KeyLogoURL: b.LogoURL, KeyPrimary: b.Primary, KeySecondary: b.Secondary,
		KeyTimeZone: b.TimeZone, KeyLocale: b.Locale}
	for k, v := range patch {
		if v == "" {
			patch[k] = nil
		}
	}
	if _, err := s.sec.SetTenantSettings(c.Request().Context(), patch); err != nil {
		return s.renderForm(c, "settings", "Settings", settingsCrumbs, f, err)
	}
	return s.redirectFlash(c, "/admin/settings", "ok", "Settings saved for "+t.Name+".")
}
