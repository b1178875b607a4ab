package modules_test

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestModuleBoundaries fails when a module imports another module's package,
// or the kernel imports a module: the arrows point down, and modules meet
// only in internal/modules/contracts.
func TestModuleBoundaries(t *testing.T) {
	root, modPath := moduleRoot(t)
	pkgs, err := scan(root, modPath)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pkgs, func(p pkgImports) bool { return p.Path == modPath+"/internal/kernel" }) {
		t.Fatalf("the scan of %s found no internal/kernel package; it is looking in the wrong place", root)
	}
	for _, v := range violations(modPath, pkgs) {
		t.Error(v)
	}
}

// pkgImports is one directory's package and everything its files import.
type pkgImports struct {
	Path    string
	Imports []string
}

// scan reads the imports of every .go file under root/internal: tests and
// files behind build tags included, so that neither can hide an import.
// go/build would skip files whose tags do not match this machine, so the
// files are parsed directly. testdata, vendor and dot or underscore
// directories are skipped, as the go command skips them.
func scan(root, modPath string) ([]pkgImports, error) {
	byDir := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := modPath + "/" + filepath.ToSlash(rel)
		if byDir[pkg] == nil {
			byDir[pkg] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: import %s: %w", path, imp.Path.Value, err)
			}
			byDir[pkg][p] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]pkgImports, 0, len(byDir))
	for pkg, imps := range byDir {
		p := pkgImports{Path: pkg}
		for imp := range imps {
			p.Imports = append(p.Imports, imp)
		}
		sort.Strings(p.Imports)
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// violations lists every import that breaks the rules:
//   - internal/modules/<a>/... may import its own packages and
//     internal/modules/contracts/..., nothing else under internal/modules;
//   - internal/modules/contracts/... may import only contracts/...;
//   - internal/kernel/... imports nothing under internal/modules.
func violations(modPath string, pkgs []pkgImports) []string {
	modules := modPath + "/internal/modules"
	kernel := modPath + "/internal/kernel"
	rel := func(p string) string { return strings.TrimPrefix(p, modPath+"/") }
	var out []string
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			if !under(imp, modules) {
				continue
			}
			switch {
			case under(p.Path, kernel):
				out = append(out, fmt.Sprintf("%s imports %s: the kernel must not know any module", rel(p.Path), rel(imp)))
			case under(p.Path, modules):
				owner, target := moduleOf(modules, p.Path), moduleOf(modules, imp)
				if target == "contracts" || (target == owner && owner != "") {
					continue
				}
				out = append(out, fmt.Sprintf("%s imports %s: a module reaches another only through internal/modules/contracts",
					rel(p.Path), rel(imp)))
			}
		}
	}
	return out
}

// under reports whether pkg is base or a package below it.
func under(pkg, base string) bool { return pkg == base || strings.HasPrefix(pkg, base+"/") }

// moduleOf is the module a package under internal/modules belongs to: the
// first path element below it, or "" for internal/modules itself.
func moduleOf(modules, pkg string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(pkg, modules), "/")
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// moduleRoot finds go.mod above the working directory and its module path.
func moduleRoot(t *testing.T) (string, string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(m), `"`)
				}
			}
			t.Fatalf("%s/go.mod has no module line", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// TestViolations proves the rule on synthetic import lists.
func TestViolations(t *testing.T) {
	const m = "example.com/p"
	tests := []struct {
		name string
		pkgs []pkgImports
		want []string // the importer of each expected violation, in order
	}{
		{"module uses contracts and kernel", []pkgImports{{m + "/internal/modules/helpdesk",
			[]string{m + "/internal/modules/contracts", m + "/internal/kernel", "context"}}}, nil},
		{"module uses a contract's fakes", []pkgImports{{m + "/internal/modules/helpdesk",
			[]string{m + "/internal/modules/contracts/contacttest"}}}, nil},
		{"module uses its own sub-package", []pkgImports{{m + "/internal/modules/helpdesk/store",
			[]string{m + "/internal/modules/helpdesk", m + "/internal/modules/helpdesk/model"}}}, nil},
		{"module imports another module", []pkgImports{{m + "/internal/modules/helpdesk",
			[]string{m + "/internal/modules/contact"}}}, []string{"internal/modules/helpdesk"}},
		{"module sub-package imports another module's sub-package", []pkgImports{{m + "/internal/modules/helpdesk/jobs",
			[]string{m + "/internal/modules/contact/store"}}}, []string{"internal/modules/helpdesk/jobs"}},
		{"module imports a module whose name shares a prefix", []pkgImports{{m + "/internal/modules/pay",
			[]string{m + "/internal/modules/payment"}}}, []string{"internal/modules/pay"}},
		{"module imports the modules root", []pkgImports{{m + "/internal/modules/helpdesk",
			[]string{m + "/internal/modules"}}}, []string{"internal/modules/helpdesk"}},
		{"contracts import a module", []pkgImports{{m + "/internal/modules/contracts",
			[]string{m + "/internal/modules/contact"}}}, []string{"internal/modules/contracts"}},
		{"contract fakes import the module they fake", []pkgImports{{m + "/internal/modules/contracts/contacttest",
			[]string{m + "/internal/modules/contracts", m + "/internal/modules/contact"}}}, []string{"internal/modules/contracts/contacttest"}},
		{"kernel imports a module", []pkgImports{{m + "/internal/kernel/queue",
			[]string{m + "/internal/modules/jobs"}}}, []string{"internal/kernel/queue"}},
		{"kernel imports contracts", []pkgImports{{m + "/internal/kernel",
			[]string{m + "/internal/modules/contracts"}}}, []string{"internal/kernel"}},
		{"cmd wires modules", []pkgImports{{m + "/cmd/platform",
			[]string{m + "/internal/modules/contact", m + "/internal/modules/helpdesk"}}}, nil},
		{"kernel-like prefix is not the kernel", []pkgImports{{m + "/internal/kernelx",
			[]string{m + "/internal/modules/contact"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := violations(m, tt.pkgs)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d violations %q, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w+" imports ") {
					t.Errorf("violation %d = %q, want one by %s", i, got[i], w)
				}
			}
		})
	}
}

// TestScanFindsViolations runs the scan and the rule on a small module on
// disk, so that the boundary test is known to fail when it should: in plain
// files, test files and files behind a build tag alike.
func TestScanFindsViolations(t *testing.T) {
	const m = "example.com/fx"
	root := t.TempDir()
	files := map[string]string{
		"go.mod":                                        "module " + m + "\n",
		"internal/kernel/kernel.go":                     "package kernel\n",
		"internal/kernel/queue/queue.go":                "package queue\nimport _ \"" + m + "/internal/modules/contracts\"\n",
		"internal/modules/contracts/contracts.go":       "package contracts\n",
		"internal/modules/contracts/btest/fake.go":      "package btest\nimport _ \"" + m + "/internal/modules/contracts\"\n",
		"internal/modules/a/a.go":                       "package a\nimport (\n\t\"context\"\n\t_ \"" + m + "/internal/modules/b\"\n)\nvar _ context.Context\n",
		"internal/modules/b/b.go":                       "package b\nimport _ \"" + m + "/internal/modules/contracts\"\n",
		"internal/modules/b/store/store.go":             "package store\nimport _ \"" + m + "/internal/modules/b\"\n",
		"internal/modules/c/c.go":                       "package c\n",
		"internal/modules/c/c_test.go":                  "package c_test\nimport _ \"" + m + "/internal/modules/b/store\"\n",
		"internal/modules/d/d.go":                       "//go:build ignore\n\npackage d\nimport _ \"" + m + "/internal/modules/a\"\n",
		"internal/modules/a/testdata/fixture.go":        "package fixture\nimport _ \"" + m + "/internal/modules/b\"\n",
		"internal/modules/a/.hidden/hidden.go":          "package hidden\nimport _ \"" + m + "/internal/modules/b\"\n",
		"cmd/app/main.go":                               "package main\nimport _ \"" + m + "/internal/modules/a\"\n",
		"internal/modules/contracts/README.md":          "not go\n",
		"internal/modules/contracts/btest/fake_test.go": "package btest\n",
	}
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pkgs, err := scan(root, m)
	if err != nil {
		t.Fatal(err)
	}
	got := violations(m, pkgs)
	want := []string{
		"internal/kernel/queue imports internal/modules/contracts",
		"internal/modules/a imports internal/modules/b",
		"internal/modules/c imports internal/modules/b/store",
		"internal/modules/d imports internal/modules/a",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d violations, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]+":") {
			t.Errorf("violation %d = %q, want %q", i, got[i], want[i])
		}
	}
}
