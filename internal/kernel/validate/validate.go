// Package validate checks structs with go-playground/validator and turns its
// findings into an errs.Invalid error that lists each field by its JSON name.
package validate

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/platform/platform/internal/kernel/errs"
)

var v = func() *validator.Validate {
	val := validator.New(validator.WithRequiredStructEnabled())
	val.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		if name == "" {
			return f.Name
		}
		return name
	})
	_ = val.RegisterValidation("slug", func(fl validator.FieldLevel) bool {
		s := fl.Field().String()
		if s == "" || len(s) > 100 {
			return false
		}
		for i, r := range s {
			ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || (r == '-' && i > 0 && i < len(s)-1)
			if !ok {
				return false
			}
		}
		return true
	})
	return val
}()

// Struct validates s and returns nil or an errs.Invalid error with one
// detail per failing field.
func Struct(s any) error {
	err := v.Struct(s)
	if err == nil {
		return nil
	}
	var ve validator.ValidationErrors
	if !errors.As(err, &ve) {
		return errs.ErrInvalid.Wrap(err)
	}
	details := make([]errs.Detail, 0, len(ve))
	for _, fe := range ve {
		details = append(details, errs.Detail{Field: fieldPath(fe), Code: fe.Tag(), Message: message(fe)})
	}
	return errs.ErrInvalid.WithDetails(details...)
}

// fieldPath drops the struct name from the namespace: "CreateUser.email" → "email".
func fieldPath(fe validator.FieldError) string {
	ns := fe.Namespace()
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return fe.Field()
}

func message(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "email":
		return "must be an e-mail address"
	case "min":
		if fe.Kind() == reflect.String {
			return fmt.Sprintf("must be at least %s characters", fe.Param())
		}
		return "must be at least " + fe.Param()
	case "max":
		if fe.Kind() == reflect.String {
			return fmt.Sprintf("must be at most %s characters", fe.Param())
		}
		return "must be at most " + fe.Param()
	case "oneof":
		return "must be one of: " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "slug":
		return "must be lower-case letters, digits and inner hyphens, at most 100 characters"
	case "uuid", "uuid4", "uuid7":
		return "must be an id"
	case "dive":
		return "has an invalid item"
	}
	return "is invalid (" + fe.Tag() + ")"
}
