package helpdesk

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/errs"
)

// Errors of attachments.
var (
	ErrAttachmentNotFound = errs.New(errs.NotFound, "helpdesk.attachment_not_found", "The attachment does not exist.")
	ErrAttachmentTooLarge = errs.New(errs.TooLarge, "helpdesk.attachment_too_large", "A file is larger than allowed.")
	ErrTooManyFiles       = errs.New(errs.Invalid, "helpdesk.too_many_files", "A message has more files than allowed.")
)

type attachmentRow struct {
	ID          string    `gorm:"column:id;primaryKey"`
	TenantID    string    `gorm:"column:tenant_id"`
	TicketID    string    `gorm:"column:ticket_id"`
	MessageID   string    `gorm:"column:message_id"`
	Filename    string    `gorm:"column:filename"`
	ContentType string    `gorm:"column:content_type"`
	Size        int64     `gorm:"column:size"`
	SHA256      string    `gorm:"column:sha256"`
	Path        string    `gorm:"column:path"` // relative to attachmentDir
	CreatedAt   time.Time `gorm:"column:created_at"`
}

func (attachmentRow) TableName() string { return "helpdesk_attachments" }

// attachmentView is an attachment's metadata; URL downloads it.
type attachmentView struct {
	ID          string    `json:"id"`
	MessageID   string    `json:"message_id"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	URL         string    `json:"url"`
	CreatedAt   time.Time `json:"created_at"`
}

func viewAttachment(a *attachmentRow) attachmentView {
	return attachmentView{ID: a.ID, MessageID: a.MessageID, Filename: a.Filename, ContentType: a.ContentType,
		Size: a.Size, SHA256: a.SHA256, URL: "/api/v1/" + Name + "/tickets/" + a.TicketID + "/attachments/" + a.ID,
		CreatedAt: a.CreatedAt.UTC()}
}

func (s *store) addAttachment(ctx context.Context, a *attachmentRow) error {
	return s.db.Conn(ctx).Create(a).Error
}

// attachmentsOf lists a ticket's attachments, oldest first.
func (s *store) attachmentsOf(ctx context.Context, ticketID string) ([]attachmentRow, error) {
	var out []attachmentRow
	return out, s.conn(ctx).Where("ticket_id = ?", ticketID).Order("created_at, id").Find(&out).Error
}

// attachmentsOfMessage lists the attachments of a ticket's message,
// oldest first.
func (s *store) attachmentsOfMessage(ctx context.Context, ticketID, messageID string) ([]attachmentRow, error) {
	var out []attachmentRow
	return out, s.conn(ctx).Where("ticket_id = ? AND message_id = ?", ticketID, messageID).Order("created_at, id").Find(&out).Error
}

func (s *store) attachment(ctx context.Context, ticketID, id string) (*attachmentRow, error) {
	var a attachmentRow
	if err := s.conn(ctx).Where("ticket_id = ? AND id = ?", ticketID, id).Take(&a).Error; err != nil {
		return nil, notFound(err, ErrAttachmentNotFound)
	}
	return &a, nil
}

// Attachments are the attachments of a ticket's messages by message id,
// for the backoffice's thread: notes' attachments only when internal.
func (m *Module) Attachments(ctx context.Context, ticketID string, internal bool) (map[string][]attachmentView, error) {
	rows, err := m.store.attachmentsOf(ctx, ticketID)
	if err != nil {
		return nil, err
	}
	var hidden map[string]bool
	if !internal {
		msgs, err := m.store.messages(ctx, ticketID, false)
		if err != nil {
			return nil, err
		}
		hidden = map[string]bool{}
		for _, a := range rows {
			hidden[a.MessageID] = true
		}
		for _, msg := range msgs {
			delete(hidden, msg.ID)
		}
	}
	out := map[string][]attachmentView{}
	for i := range rows {
		if !hidden[rows[i].MessageID] {
			out[rows[i].MessageID] = append(out[rows[i].MessageID], viewAttachment(&rows[i]))
		}
	}
	return out, nil
}

// withAttachments fills the attachments of the listed messages.
func (m *Module) withAttachments(ctx context.Context, ticketID string, msgs []messageView) ([]messageView, error) {
	rows, err := m.store.attachmentsOf(ctx, ticketID)
	if err != nil {
		return nil, err
	}
	by := map[string][]attachmentView{}
	for i := range rows {
		by[rows[i].MessageID] = append(by[rows[i].MessageID], viewAttachment(&rows[i]))
	}
	for i := range msgs {
		if a := by[msgs[i].ID]; a != nil {
			msgs[i].Attachments = a
		}
	}
	return msgs, nil
}

// attachmentDir is where attachments are kept: <data_dir>/helpdesk/attachments.
func (m *Module) attachmentDir() string {
	return filepath.Join(m.k.Config.DataDir, Name, "attachments")
}

// upload is a received file: in a temporary file until a message takes it
// (place moves it to its final path in the message's transaction).
type upload struct {
	Name        string // safe file name
	ContentType string // sniffed
	Size        int64
	SHA256      string
	tmp, final  string
}

// receive copies r into a temporary file, sniffing its type and hashing
// it. A file larger than modules.helpdesk.attachment_max_bytes is
// ErrAttachmentTooLarge and leaves nothing behind.
func (m *Module) receive(name string, r io.Reader) (*upload, error) {
	dir := filepath.Join(m.attachmentDir(), "tmp")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return nil, err
	}
	u := &upload{Name: safeFilename(name), tmp: f.Name()}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, m.cfg.AttachmentMaxBytes+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > m.cfg.AttachmentMaxBytes {
		err = ErrAttachmentTooLarge.WithMessage("%s is larger than %d bytes.", u.Name, m.cfg.AttachmentMaxBytes)
	}
	if err == nil {
		var mt *mimetype.MIME
		if mt, err = mimetype.DetectFile(u.tmp); err == nil {
			u.ContentType, u.Size, u.SHA256 = mt.String(), n, hex.EncodeToString(h.Sum(nil))
		}
	}
	if err != nil {
		u.discard()
		return nil, readError(err)
	}
	return u, nil
}

// readError turns the body limit's error into the platform's 413.
func readError(err error) error {
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
		return errs.ErrTooLarge
	}
	return err
}

// discard removes the upload's file, wherever it is.
func (u *upload) discard() {
	_ = os.Remove(u.tmp)
	if u.final != "" {
		_ = os.Remove(u.final)
	}
}

func discardAll(us []*upload) {
	for _, u := range us {
		u.discard()
	}
}

// attach moves the uploads to their final paths and records them on msg,
// in ctx's transaction. The files stay if the transaction rolls back: the
// caller discards them when the write fails.
func (m *Module) attach(ctx context.Context, t *ticketRow, msg *messageRow, files []*upload) ([]attachmentRow, error) {
	out := make([]attachmentRow, 0, len(files))
	for _, u := range files {
		a := attachmentRow{ID: newID(), TenantID: t.TenantID, TicketID: t.ID, MessageID: msg.ID, Filename: u.Name,
			ContentType: u.ContentType, Size: u.Size, SHA256: u.SHA256, CreatedAt: msg.CreatedAt}
		a.Path = filepath.Join(t.TenantID, t.ID, a.ID)
		final := filepath.Join(m.attachmentDir(), a.Path)
		if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
			return nil, err
		}
		if err := os.Rename(u.tmp, final); err != nil {
			return nil, err
		}
		u.final = final
		if err := syncDir(filepath.Dir(final)); err != nil {
			return nil, err
		}
		if err := m.store.addAttachment(ctx, &a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// afterReply runs in a reply's transaction: it attaches the files and
// sends a staff's public reply to the requester.
func (m *Module) afterReply(ctx context.Context, t *ticketRow, msg *messageRow, files []*upload) ([]attachmentRow, error) {
	atts, err := m.attach(ctx, t, msg, files)
	if err != nil {
		return nil, err
	}
	if msg.AuthorKind == AuthorAgent && !msg.Internal {
		if err := m.enqueueReply(ctx, t, msg); err != nil { // outbound.go
			return nil, err
		}
	}
	return atts, nil
}

// safeFilename is the base name of name without control characters,
// quotes or path separators, at most 200 bytes; "attachment" when nothing
// is left.
func safeFilename(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = filepath.Base("/" + name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == '/' || r == utf8.RuneError || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" {
		return "attachment"
	}
	return name
}

func isMultipart(c echo.Context) bool {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	return mt == echo.MIMEMultipartForm
}

// postMessageWithFiles is POST /tickets/:id/messages as multipart/form-data:
// the fields body and internal, and files in files[] (or files).
func (m *Module) postMessageWithFiles(c echo.Context) error {
	in, err := m.readMessageUpload(c)
	if err != nil {
		return err
	}
	msg, atts, err := m.replyWith(c.Request().Context(), c.Param("id"), in.Body, in.Internal, in.Files)
	if err != nil {
		discardAll(in.Files)
		return err
	}
	v := viewMessage(msg)
	v.Attachments = views(atts, viewAttachment)
	return c.JSON(http.StatusCreated, v)
}

// messageUpload is a multipart message as read: its text, whether it is
// an internal note, and its files, received into temporary files.
type messageUpload struct {
	Body     string
	Internal bool
	Files    []*upload
}

// readMessageUpload reads and checks a multipart message: the fields body
// and internal, and files in files[] (or files), at most
// attachment_max_files of at most attachment_max_bytes each. skip names
// fields that others read (the backoffice's _csrf). On an error the files
// are gone, and what was read of the text is returned with it.
func (m *Module) readMessageUpload(c echo.Context, skip ...string) (in *messageUpload, err error) {
	in = &messageUpload{}
	defer func() {
		if err != nil {
			discardAll(in.Files)
			in.Files = nil
		}
	}()
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return in, errs.ErrBadRequest.WithMessage("The multipart body could not be read.")
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if readError(err) == errs.ErrTooLarge {
				return in, errs.ErrTooLarge
			}
			return in, errs.ErrBadRequest.WithMessage("The multipart body could not be read.")
		}
		if slices.Contains(skip, p.FormName()) {
			p.Close()
			continue
		}
		if err := m.readPart(p, in); err != nil {
			return in, err
		}
	}
	if len(in.Files) > m.cfg.AttachmentMaxFiles {
		return in, m.tooManyFiles()
	}
	if len(in.Body) > 65536 || (strings.TrimSpace(in.Body) == "" && len(in.Files) == 0) {
		return in, ErrInvalidInput.WithDetails(invalid("body", "required", "must be 1 to 65536 characters, or empty with files"))
	}
	return in, nil
}

func (m *Module) tooManyFiles() error {
	return ErrTooManyFiles.WithDetails(invalid("files", "max", "at most "+strconv.Itoa(m.cfg.AttachmentMaxFiles)+" files"))
}

// readPart reads one part of a message upload into in.
func (m *Module) readPart(p *multipart.Part, in *messageUpload) error {
	defer p.Close()
	switch p.FormName() {
	case "files[]", "files":
		r := bufio.NewReader(p)
		if _, err := r.Peek(1); p.FileName() == "" && errors.Is(err, io.EOF) {
			return nil // a form's file input left empty
		}
		if len(in.Files) >= m.cfg.AttachmentMaxFiles {
			return m.tooManyFiles()
		}
		u, err := m.receive(p.FileName(), r)
		if err != nil {
			return err
		}
		in.Files = append(in.Files, u)
	case "body", "internal":
		b, err := io.ReadAll(io.LimitReader(p, 65537))
		if err != nil {
			return readError(err)
		}
		if p.FormName() == "body" {
			in.Body = string(b)
			return nil
		}
		v, err := strconv.ParseBool(strings.TrimSpace(string(b)))
		if err != nil {
			return ErrInvalidInput.WithDetails(invalid("internal", "bool", "must be true or false"))
		}
		in.Internal = v
	default:
		return errs.ErrBadRequest.WithMessage("Unknown field %q: send body, internal and files[].", p.FormName())
	}
	return nil
}

// getAttachment downloads an attachment, to whoever may see its message.
// It is always a download (Content-Disposition: attachment), never
// sniffed, and sandboxed should a browser render it anyway; active types
// (HTML, SVG, XML, scripts) go out as application/octet-stream.
func (m *Module) getAttachment(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := m.visibleTicket(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if uuid.Validate(c.Param("aid")) != nil {
		return ErrAttachmentNotFound
	}
	a, err := m.store.attachment(ctx, t.ID, c.Param("aid"))
	if err != nil {
		return err
	}
	if !staff(ctx) {
		msgs, err := m.store.messages(ctx, t.ID, false)
		if err != nil {
			return err
		}
		visible := false
		for _, msg := range msgs {
			visible = visible || msg.ID == a.MessageID
		}
		if !visible {
			return ErrAttachmentNotFound
		}
	}
	return m.serveAttachment(c, a)
}

// serveAttachment streams a's file as a download: an error wrapping
// fs.ErrNotExist when the file is gone.
func (m *Module) serveAttachment(c echo.Context, a *attachmentRow) error {
	f, err := os.Open(filepath.Join(m.attachmentDir(), a.Path))
	if err != nil {
		return err
	}
	defer f.Close()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, downloadType(a.ContentType))
	h.Set(echo.HeaderContentDisposition, contentDisposition(a.Filename))
	h.Set(echo.HeaderContentLength, strconv.FormatInt(a.Size, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	h.Set("ETag", `"`+a.SHA256+`"`)
	c.Response().WriteHeader(http.StatusOK)
	_, err = io.Copy(c.Response(), f)
	return err
}

// downloadType is the Content-Type an attachment is served with.
func downloadType(ct string) string {
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case mt == "", strings.Contains(mt, "html"), strings.Contains(mt, "xml"), strings.Contains(mt, "svg"),
		strings.Contains(mt, "javascript"), strings.Contains(mt, "ecmascript"), mt == "text/css":
		return "application/octet-stream"
	}
	return ct
}

// contentDisposition is an attachment disposition with an ASCII filename
// and, for any other name, its UTF-8 form (RFC 6266).
func contentDisposition(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == ';' || r == '%' {
			return '_'
		}
		return r
	}, name)
	v := `attachment; filename="` + ascii + `"`
	if ascii != name {
		var b strings.Builder
		for _, c := range []byte(name) {
			if c < 0x80 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)) || strings.IndexByte("-._~", c) >= 0) {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		v += "; filename*=UTF-8''" + b.String()
	}
	return v
}
