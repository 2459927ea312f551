package resource_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks Dockerfile.resource without Docker (there is no
// Docker daemon where the tests run, so the image itself is not built): its
// Go is new enough for go.mod, its build command, run here, gives a static
// binary, and the final image has CA certificates and the binary as
// /opt/resource/check, in and out.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../Dockerfile.resource")
	if err != nil {
		t.Fatal(err)
	}
	df := strings.ReplaceAll(string(b), "\\\n", " ")

	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	from := regexp.MustCompile(`(?m)^FROM golang:(\d+\.\d+)\S* AS build$`).FindStringSubmatch(df)
	if goVer == nil || from == nil || from[1] != goVer[1] {
		t.Errorf("the build stage's Go (%v) is not go.mod's (%v)", from, goVer)
	}

	build := regexp.MustCompile(`(?m)^RUN .*?CGO_ENABLED=0 go build (.*)$`).FindStringSubmatch(df)
	if build == nil {
		t.Fatal("no CGO_ENABLED=0 go build in the Dockerfile")
	}
	args := shellWords(build[1])
	out := filepath.Join(t.TempDir(), "locker-resource")
	var pkg, inImage string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-o" && i+1 < len(args):
			inImage = args[i+1]
			args[i+1] = out
			i++
		case strings.HasPrefix(args[i], "./"):
			pkg = args[i]
		}
	}
	if pkg != "./cmd/locker-resource" || inImage == "" {
		t.Fatalf("the build builds %q to %q", pkg, inImage)
	}
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if outb, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", args, err, outb)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked (it has an interpreter)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v", libs)
	}

	final := df[strings.LastIndex(df, "\nFROM "):]
	if !strings.Contains(final, "ca-certificates") {
		t.Error("the final image has no CA certificates")
	}
	if !strings.Contains(final, "COPY --from=build "+inImage+" /opt/resource/locker-resource") {
		t.Errorf("the final image does not copy %s to /opt/resource", inImage)
	}
	for _, name := range []string{"check", "in", "out"} {
		if !strings.Contains(final, "ln -s locker-resource /opt/resource/"+name) {
			t.Errorf("no /opt/resource/%s", name)
		}
	}
}

// shellWords splits a command line as the shell does, for the simple
// quoting a Dockerfile's RUN uses.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}
