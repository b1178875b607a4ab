package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
	"github.com/platform/platform/internal/kernel/validate"
)

// Errors of request decoding.
var (
	ErrEmptyBody     = errs.New(errs.BadRequest, "empty_body", "The request body is empty; send a JSON object.")
	ErrInvalidJSON   = errs.New(errs.BadRequest, "invalid_json", "The request body is not valid JSON.")
	ErrInvalidUTF8   = errs.New(errs.BadRequest, "invalid_utf8", "The request body is not valid UTF-8.")
	ErrWrongType     = errs.New(errs.BadRequest, "invalid_type", "A field has the wrong type.")
	ErrUnknownField  = errs.New(errs.BadRequest, "unknown_field", "The body has a field this endpoint does not accept.")
	ErrMediaType     = errs.New(errs.BadRequest, "unsupported_media_type", "Send the body as application/json.")
	ErrTrailingBytes = errs.New(errs.BadRequest, "invalid_json", "The request body has data after the JSON object.")
)

// Bind decodes a JSON body strictly into dst and validates it. It refuses
// another media type, invalid UTF-8, unknown fields (so that a body can never
// set a field such as tenant_id that the endpoint does not take), wrong types
// and trailing data. A body over the limit is a 413.
func Bind(c echo.Context, dst any) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return ErrMediaType
		}
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
			return errs.ErrTooLarge
		}
		return errs.ErrBadRequest.Wrap(err)
	}
	if err := Decode(body, dst); err != nil {
		return err
	}
	return validate.Struct(dst)
}

// Decode is Bind's strict JSON decoding, without validation.
func Decode(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return ErrEmptyBody
	}
	if !utf8.Valid(body) {
		return ErrInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ErrTrailingBytes
	}
	return nil
}

func decodeError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &se):
		return ErrInvalidJSON.WithDetails(errs.Detail{Code: "syntax", Message: fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ErrInvalidJSON.WithDetails(errs.Detail{Code: "syntax", Message: "unexpected end of JSON"})
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return ErrWrongType.WithMessage("The body must be a JSON %s.", jsonKind(te.Type.Kind().String()))
		}
		return ErrWrongType.WithDetails(errs.Detail{Field: field, Code: "type", Message: "must be a " + jsonKind(te.Type.Kind().String())})
	case errors.As(err, &pe) || strings.HasPrefix(err.Error(), "Time.UnmarshalJSON"):
		// time.Time decodes itself and its errors carry no field name.
		return ErrWrongType.WithDetails(errs.Detail{Code: "type", Message: "a time must be an RFC 3339 string such as 2026-01-02T15:04:05Z"})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return ErrUnknownField.WithDetails(errs.Detail{Field: name, Code: "unknown_field", Message: "is not accepted here"})
	}
	return ErrInvalidJSON.Wrap(err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "number"
	}
	return goKind
}
