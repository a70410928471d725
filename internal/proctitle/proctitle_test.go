package proctitle

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// childEnv makes the test binary a child that sets the title given in it,
// prints "set" and waits for stdin to close.
const childEnv = "PROCTITLE_TEST_CHILD"

func TestMain(m *testing.M) {
	if title := os.Getenv(childEnv); title != "" {
		t := Take()
		// Renamed twice, as a pool worker is: the second name goes
		// through the file the first one opened.
		t.Set(title, "forkmq-first")
		t.Set(title, "forkmq-test")
		os.Stdout.WriteString("set\n")
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSet: a child process sets its title; /proc shows it as the whole
// command line (what `ps -o args` prints) and the command name as comm,
// however long the original arguments were.
func TestSet(t *testing.T) {
	tests := []struct {
		name, title string
		args        []string
		want        string
	}{
		{"shorter than the arguments", "forkmq: router client-7 127.0.0.1:50442",
			[]string{"-test.run=none", strings.Repeat("x", 200)}, "forkmq: router client-7 127.0.0.1:50442"},
		{"longer than the arguments: cut", strings.Repeat("t", 4000),
			[]string{"-test.run=none"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe, tt.args...)
			cmd.Env = append(os.Environ(), childEnv+"="+tt.title)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer stdin.Close()
			if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "set\n" {
				t.Fatalf("child said %q, %v", line, err)
			}
			b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cmdline")
			if err != nil {
				t.Fatal(err)
			}
			got := strings.TrimRight(string(b), "\x00")
			want := tt.want
			if want == "" { // cut to the space the arguments took, less the NUL and the marker
				argv := strings.Join(append([]string{exe}, tt.args...), "\x00")
				want = tt.title[:len(argv)+1-2]
			}
			if got != want {
				t.Errorf("cmdline %q (%d bytes), want %q (%d bytes)", got, len(got), want, len(want))
			}
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm"); string(comm) != "forkmq-test\n" {
				t.Errorf("comm %q, want forkmq-test", comm)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		parts []string
		want  string
	}{
		{[]string{"forkmq:", "idle"}, "forkmq: idle"},
		{[]string{"forkmq:", "router", "", "127.0.0.1:1"}, "forkmq: router 127.0.0.1:1"},
		{[]string{"forkmq:", "router", "a\x01b\u0085c", "x"}, "forkmq: router a?b?c x"},
	}
	for _, tt := range tests {
		if got := Format(tt.parts...); got != tt.want {
			t.Errorf("Format(%q) = %q, want %q", tt.parts, got, tt.want)
		}
	}
}
