package admin

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
)

// Password reset by e-mail: the form always answers the same, whether the
// address exists or not; the link carries a signed token that works once
// and for an hour.

func (s *Shell) resetRequestForm(c echo.Context) error {
	return s.render(c, http.StatusOK, "reset_request", "Reset your password", nil,
		map[string]any{"CSRF": s.formToken(c), "Sent": false})
}

func (s *Shell) resetRequest(c echo.Context) error {
	ctx := c.Request().Context()
	if !s.checkLoginToken(c) {
		v := s.baseView(c, "Reset your password", nil)
		v.Data, v.ErrorText = map[string]any{"CSRF": s.formToken(c)}, "The form has expired; try again."
		return s.write(c, http.StatusForbidden, "reset_request", v)
	}
	email := strings.TrimSpace(c.FormValue("email"))
	if email != "" && len(email) <= 254 {
		tok, err := s.sec.PasswordResetToken(ctx, email)
		if err != nil {
			if e, ok := errs.As(err); ok && e.Kind == errs.RateLimited {
				v := s.baseView(c, "Reset your password", nil)
				v.Data, v.ErrorText = map[string]any{"CSRF": s.formToken(c)}, "Too many requests; try again later."
				return s.write(c, http.StatusTooManyRequests, "reset_request", v)
			}
			return err
		}
		if tok != "" {
			// Never from the Host header, which the requester controls.
			link := s.baseURL + "/admin/password-reset/" + tok
			if err := s.mailer.SendPasswordReset(ctx, email, link); err != nil {
				s.log.ErrorContext(ctx, "password reset mail failed", "error", err)
			}
		}
	}
	return s.render(c, http.StatusOK, "reset_request", "Reset your password", nil, map[string]any{"Sent": true})
}

func (s *Shell) resetForm(c echo.Context) error {
	err := s.sec.CheckResetToken(c.Request().Context(), c.Param("token"))
	data := map[string]any{"Token": c.Param("token"), "CSRF": s.formToken(c), "Invalid": err != nil}
	return s.render(c, http.StatusOK, "reset", "Choose a new password", nil, data)
}

func (s *Shell) reset(c echo.Context) error {
	tok := c.Param("token")
	data := map[string]any{"Token": tok, "CSRF": s.formToken(c)}
	var err error
	switch {
	case !s.checkLoginToken(c):
		err = errs.New(errs.Forbidden, "auth.csrf_failed", "The form has expired; try again.")
	case c.FormValue("new_password") != c.FormValue("confirm_password"):
		err = errPasswordsDiffer
	case len(c.FormValue("new_password")) > 200:
		err = errs.ErrInvalid.WithDetails(errs.Detail{Field: "new_password", Code: "max", Message: "must be at most 200 characters"})
	default:
		err = s.sec.ResetPassword(c.Request().Context(), tok, c.FormValue("new_password"))
	}
	if err != nil {
		return s.renderForm(c, "reset", "Choose a new password", nil, data, err)
	}
	return s.redirectFlash(c, "/admin/login", "ok", "Your password is set. Sign in with it.")
}
