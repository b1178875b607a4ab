package helpdesk

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/platform/platform/internal/kernel/admin"
	"github.com/platform/platform/internal/kernel/httpx"
)

// The customers' pages: the list with its search, a customer with their
// details, their tickets and the edit form, and the new-customer form.

func (m *Module) customersPage(c echo.Context) error {
	t, done, err := m.customerList().Run(c)
	if err != nil || done {
		return err
	}
	d := pageData(c, "Customers")
	d["Table"] = t
	return admin.Render(c, http.StatusOK, customersTmpl, "Customers", crumbs(), d)
}

// customerList is the table of the tenant's customers, newest first.
func (m *Module) customerList() *admin.List {
	return &admin.List{
		ID:          "customers",
		Columns:     []admin.Column{{Key: "name", Label: "Name", Sort: "name"}, {Key: "email", Label: "E-mail", Sort: "email"}, {Key: "phone", Label: "Phone"}, {Key: "created", Label: "Created", Sort: "created_at"}},
		Sorts:       map[string]string{"name": "name", "email": "email", "created_at": "created_at"},
		DefaultSort: "-created_at",
		Search:      "Name, e-mail or phone",
		CSVName:     "customers",
		Empty:       "No customers match.",
		Fetch: func(ctx context.Context, q admin.Query) ([]admin.Row, int64, error) {
			rows, total, err := m.store.customerPage(ctx, q.Q, q.OrderBy(), q.Offset, q.Limit)
			if err != nil {
				return nil, 0, err
			}
			out := make([]admin.Row, len(rows))
			for i := range rows {
				r := &rows[i]
				out[i] = admin.Row{Cells: []admin.Cell{{Text: customerLabel(r), Href: adminBase + "/customers/" + r.ID},
					{Text: deref(r.Email)}, {Text: r.Phone}, {Text: admin.Stamp(r.CreatedAt), Wrap: "nowrap"}}}
			}
			return out, total, nil
		},
	}
}

// customerPage is a page of customers matching q (as the API's search
// matches), in order, with the number of all that match.
func (s *store) customerPage(ctx context.Context, q, order string, offset, limit int) ([]customerRow, int64, error) {
	sel := s.conn(ctx).Model(&customerRow{})
	if q != "" {
		p := likeAny(q)
		sel = sel.Where("(LOWER(name) LIKE ? ESCAPE '!' OR LOWER(email) LIKE ? ESCAPE '!' OR phone LIKE ? ESCAPE '!')", p, p, p)
	}
	var total int64
	if err := sel.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []customerRow
	return out, total, sel.Order(order).Order("id DESC").Offset(offset).Limit(limit).Find(&out).Error
}

// customerForm is the customer form as entered.
type customerForm struct {
	ID, Name, Email, Phone, Notes, Tags string
}

func customerFormOf(r *customerRow) *customerForm {
	var tags []string
	_ = json.Unmarshal([]byte(r.Tags), &tags)
	return &customerForm{ID: r.ID, Name: r.Name, Email: deref(r.Email), Phone: r.Phone, Notes: r.Notes,
		Tags: strings.Join(tags, ", ")}
}

// readCustomerForm reads the form; a new customer's empty name is no name,
// so that a name or an address is required.
func readCustomerForm(c echo.Context, create bool) (*customerForm, *customerRequest) {
	f := &customerForm{Name: c.FormValue("name"), Email: strings.TrimSpace(c.FormValue("email")), Phone: c.FormValue("phone"),
		Notes: c.FormValue("notes"), Tags: c.FormValue("tags")}
	tags := splitTags(f.Tags)
	req := &customerRequest{Phone: &f.Phone, Notes: &f.Notes, Tags: &tags}
	if f.Name != "" || !create {
		req.Name = &f.Name
	}
	if f.Email != "" {
		req.Email = &f.Email
	}
	return f, req
}

func (m *Module) newCustomerPage(c echo.Context) error {
	return m.renderCustomer(c, http.StatusOK, nil, &customerForm{}, nil)
}

func (m *Module) createCustomerForm(c echo.Context) error {
	f, req := readCustomerForm(c, true)
	set, err := m.customerColumns(c, req, true)
	var r *customerRow
	if err == nil {
		r, err = m.newCustomer(c.Request().Context(), set)
	}
	if err != nil {
		p, status, err := formProblem(err)
		if err != nil {
			return err
		}
		return m.renderCustomer(c, status, nil, f, p)
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/customers/"+r.ID+"?done=customer_created")
}

func (m *Module) customerPage(c echo.Context) error {
	r, err := m.customerParam(c)
	if err != nil {
		return err
	}
	return m.renderCustomer(c, http.StatusOK, r, customerFormOf(r), nil)
}

// renderCustomer shows a customer (r nil: the new-customer form) with the
// form as entered and why it was refused.
func (m *Module) renderCustomer(c echo.Context, status int, r *customerRow, f *customerForm, p *problem) error {
	ctx := c.Request().Context()
	d := pageData(c, "Customers")
	d["Form"], d["Problem"], d["Customer"] = f, p, r
	title := "New customer"
	if r != nil {
		title, d["Email"] = customerLabel(r), deref(r.Email)
		ts, err := m.store.ticketsOf(ctx, r.ID, httpx.MaxPerPage)
		if err != nil {
			return err
		}
		people, err := m.agents(ctx)
		if err != nil {
			return err
		}
		if d["Rows"], err = m.ticketTable(ctx, ts, people); err != nil {
			return err
		}
	}
	return admin.Render(c, status, customerTmpl, title, crumbs(admin.Crumb{Label: "Customers", Href: adminBase + "/customers"}), d)
}

// saveCustomerForm changes a customer's details; an empty e-mail field
// keeps the address, as the API's PATCH cannot clear it either.
func (m *Module) saveCustomerForm(c echo.Context) error {
	r, err := m.customerParam(c)
	if err != nil {
		return err
	}
	f, req := readCustomerForm(c, false)
	f.ID = r.ID
	set, err := m.customerColumns(c, req, false)
	if err == nil {
		set["updated_at"] = now()
		err = m.store.updateCustomer(c.Request().Context(), r.ID, set)
	}
	if err != nil {
		p, status, err := formProblem(err)
		if err != nil {
			return err
		}
		return m.renderCustomer(c, status, r, f, p)
	}
	return c.Redirect(http.StatusSeeOther, adminBase+"/customers/"+r.ID+"?done=customer_saved")
}
