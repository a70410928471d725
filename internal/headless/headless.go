package headless

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium finds Debian's chromium, installing it the way CI does
// (scripts/install-deps.sh) when it is missing; it skips the test only if
// that fails.
func Chromium(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "..", "scripts", "install-deps.sh")
	out, err := exec.Command(script).CombinedOutput()
	if p, lookErr := exec.LookPath("chromium"); lookErr == nil {
		return p
	}
	t.Skipf("chromium is not installed, and %s could not install it (%v):\n%s", script, err, out)
	return ""
}

// Browser starts headless Chromium (exe) for the test, with a window of
// 1360×900, and returns a chromedp context on a tab of it; cancel ends
// the browser.
func Browser(ctx context.Context, t testing.TB, exe string) (browser context.Context, cancel func()) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1360, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	return browser, func() { cancelBrowser(); cancelAlloc() }
}

// Screenshot saves the whole page as a PNG at path.
func Screenshot(t testing.TB, browser context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
