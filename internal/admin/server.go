package admin

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"html/template"
	"net"
	"net/http"
	"strings"
	"time"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"diagram":      layout,
	"rate":         rate,
	"bytes":        bytesIEC,
	"since":        since,
	"processCount": processCount,
	"rows":         rows,
	"engineNouns":  engineNouns,
	"title":        func(s string) string { return strings.ToUpper(s[:1]) + s[1:] },
	"add": func(a int, more ...int) int {
		for _, m := range more {
			a += m
		}
		return a
	},
	"sub": func(a int, more ...int) int {
		for _, m := range more {
			a -= m
		}
		return a
	},
}).Parse(pageHTML))

// since is the time from start to now, for people ("-" when unknown).
func since(start, now time.Time) string {
	if start.IsZero() || now.Before(start) {
		return "-"
	}
	return uptime(now.Sub(start))
}

// Server is the admin listener's HTTP surface:
//
//	/              the live view: a page drawn anew about once a second
//	/view          the page's drawing alone, which the page fetches
//	/metrics       Prometheus metrics (see the package documentation)
//	/status        the status command's text table
//	/snapshot.json the view as JSON, for tools
type Server struct {
	vw  *viewer
	mux *http.ServeMux
}

// cacheFor is how long one snapshot serves every viewer and scraper.
const cacheFor = 500 * time.Millisecond

// NewServer serves the broker src describes.
func NewServer(src Source) *Server {
	s := &Server{vw: &viewer{src: src, interval: cacheFor, now: time.Now}, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /{$}", s.render("page"))
	s.mux.HandleFunc("GET /view", s.render("view"))
	s.mux.HandleFunc("GET /status", s.withView(s.status))
	s.mux.HandleFunc("GET /snapshot.json", s.withView(s.json))
	s.mux.Handle("GET /metrics", metricsHandler(s.vw))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Serve answers on ln until ctx ends, then shuts down, giving requests in
// progress a moment to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(shut)
	if serveErr := <-done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// View returns the current view (a cached one if it is fresh enough).
func (s *Server) View(ctx context.Context) (*View, error) { return s.vw.view(ctx) }

// withView answers with the current view, or 503 when the broker cannot
// give one.
func (s *Server) withView(answer func(w http.ResponseWriter, v *View)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := s.vw.view(r.Context())
		if err != nil {
			http.Error(w, "snapshot: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		answer(w, v)
	}
}

func (s *Server) render(name string) http.HandlerFunc {
	return s.withView(func(w http.ResponseWriter, v *View) {
		var buf bytes.Buffer
		if err := page.ExecuteTemplate(&buf, name, v); err != nil {
			http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(buf.Bytes())
	})
}

func (s *Server) status(w http.ResponseWriter, v *View) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	WriteTable(w, v)
}

func (s *Server) json(w http.ResponseWriter, v *View) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
