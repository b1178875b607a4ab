// Package errs declares the platform's typed errors. Each error has a kind,
// which the kernel's HTTP error handler alone turns into a status code, and a
// stable public code such as "auth.invalid_credentials" that clients can
// match on. Internal detail stays in the wrapped cause and reaches the log,
// never the response.
package errs

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind classifies an error.
type Kind int

// Kinds of error.
const (
	Internal Kind = iota
	BadRequest
	Invalid
	NotFound
	Conflict
	PreconditionFailed
	Forbidden
	Unauthenticated
	RateLimited
	TooLarge
	Unavailable
	MethodNotAllowed
)

// Status is the HTTP status of a kind.
func (k Kind) Status() int {
	switch k {
	case BadRequest:
		return http.StatusBadRequest
	case Invalid:
		return http.StatusUnprocessableEntity
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case PreconditionFailed:
		return http.StatusPreconditionFailed
	case Forbidden:
		return http.StatusForbidden
	case Unauthenticated:
		return http.StatusUnauthorized
	case RateLimited:
		return http.StatusTooManyRequests
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case Unavailable:
		return http.StatusServiceUnavailable
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	return http.StatusInternalServerError
}

// Detail is one item of an error's details, usually one invalid field.
type Detail struct {
	Field   string `json:"field,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is a typed platform error.
type Error struct {
	Kind       Kind
	Code       string
	Message    string
	Details    []Detail
	RetryAfter time.Duration
	cause      error
}

// New declares an error. Declare each once, as a package variable.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.cause }

// Is matches errors by code, so a copy made by With or Wrap still matches
// its declaration.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func (e *Error) clone() *Error { c := *e; return &c }

// Wrap keeps cause for the log.
func (e *Error) Wrap(cause error) *Error { c := e.clone(); c.cause = cause; return c }

// WithDetails adds details.
func (e *Error) WithDetails(d ...Detail) *Error {
	c := e.clone()
	c.Details = append(append([]Detail(nil), e.Details...), d...)
	return c
}

// WithMessage replaces the public message.
func (e *Error) WithMessage(format string, args ...any) *Error {
	c := e.clone()
	c.Message = fmt.Sprintf(format, args...)
	return c
}

// WithRetryAfter sets the Retry-After hint of a RateLimited error.
func (e *Error) WithRetryAfter(d time.Duration) *Error { c := e.clone(); c.RetryAfter = d; return c }

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// KindOf is the kind of err, Internal when it is not typed.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return Internal
}

// Common errors shared by the kernel and modules.
var (
	ErrBadRequest      = New(BadRequest, "bad_request", "The request could not be read.")
	ErrInvalid         = New(Invalid, "validation_failed", "The request has invalid fields.")
	ErrNotFound        = New(NotFound, "not_found", "The resource does not exist.")
	ErrRouteNotFound   = New(NotFound, "route_not_found", "No route matches this path.")
	ErrMethod          = New(MethodNotAllowed, "method_not_allowed", "This method is not allowed on this path.")
	ErrConflict        = New(Conflict, "conflict", "The resource was changed or already exists.")
	ErrPrecondition    = New(PreconditionFailed, "precondition_failed", "The resource was changed since you read it.")
	ErrForbidden       = New(Forbidden, "forbidden", "You do not have permission to do this.")
	ErrUnauthenticated = New(Unauthenticated, "unauthenticated", "Authentication is required.")
	ErrRateLimited     = New(RateLimited, "rate_limited", "Too many requests; try again later.")
	ErrTooLarge        = New(TooLarge, "body_too_large", "The request body is too large.")
	ErrUnavailable     = New(Unavailable, "unavailable", "The service is unavailable; try again later.")
	ErrInternal        = New(Internal, "internal_error", "Something went wrong on our side. Quote the request id when you report it.")
)
