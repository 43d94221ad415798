package peer

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Nginx is an nginx process with the RTMP module, serving application "live" (with
// recording of every publish to its own FLV file in RecordDir) on 127.0.0.1:Port, and,
// when TLS was asked for, an nginx stream server terminating TLS on TLSPort in front of it.
type Nginx struct {
	t         testing.TB
	path      string
	dir       string
	Port      int
	TLSPort   int
	RecordDir string
	proc      *Process
}

// NginxOptions configures StartNginx.
type NginxOptions struct {
	// CertFile and KeyFile enable the TLS front end.
	CertFile, KeyFile string
}

const modulesDir = "/usr/lib/nginx/modules"

// StartNginx writes a configuration into a temporary directory and starts nginx on free
// ports. It is stopped when the test ends.
func StartNginx(t testing.TB, opts NginxOptions) *Nginx {
	t.Helper()
	path := Require(t, "nginx", "nginx")
	if _, err := os.Stat(filepath.Join(modulesDir, "ngx_rtmp_module.so")); err != nil {
		msg := "nginx RTMP module not found: install libnginx-mod-rtmp"
		if Strict() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	n := &Nginx{t: t, path: path, dir: t.TempDir(), Port: FreePort(t)}
	n.RecordDir = filepath.Join(n.dir, "rec")
	if err := os.MkdirAll(n.RecordDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`load_module %[1]s/ngx_rtmp_module.so;
%[2]s
daemon off;
master_process off;
worker_processes 1;
error_log %[3]s/error.log info;
pid %[3]s/nginx.pid;
events { worker_connections 256; }
rtmp {
    server {
        listen 127.0.0.1:%[4]d;
        chunk_size 4096;
        application live {
            live on;
            record all;
            record_path %[5]s;
            record_unique on;
        }
    }
}
`, modulesDir, "%s", n.dir, n.Port, n.RecordDir)
	streamMod := ""
	if opts.CertFile != "" {
		if _, err := os.Stat(filepath.Join(modulesDir, "ngx_stream_module.so")); err != nil {
			msg := "nginx stream module not found: install libnginx-mod-stream"
			if Strict() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		n.TLSPort = FreePort(t)
		streamMod = "load_module " + modulesDir + "/ngx_stream_module.so;"
		conf += fmt.Sprintf(`stream {
    server {
        listen 127.0.0.1:%d ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        proxy_pass 127.0.0.1:%d;
    }
}
`, n.TLSPort, opts.CertFile, opts.KeyFile, n.Port)
	}
	conf = fmt.Sprintf(conf, streamMod)
	if err := os.WriteFile(filepath.Join(n.dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Start()
	return n
}

// Start starts nginx (again) and waits until it accepts connections.
func (n *Nginx) Start() {
	n.t.Helper()
	n.proc = Start(n.t, n.path, "-p", n.dir, "-e", filepath.Join(n.dir, "error.log"), "-c", filepath.Join(n.dir, "nginx.conf"))
	if err := WaitListening(fmt.Sprintf("127.0.0.1:%d", n.Port), 10*time.Second); err != nil {
		n.t.Fatalf("nginx did not start: %v\n%s\n%s", err, n.proc.Output(), n.ErrorLog())
	}
}

// Stop stops nginx (fast shutdown, closing every connection) and waits for it to exit.
func (n *Nginx) Stop() {
	n.proc.Signal(syscall.SIGTERM)
}

// ErrorLog returns nginx's error log.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	return string(b)
}

// Recordings returns the FLV files nginx recorded, oldest first.
func (n *Nginx) Recordings() []string {
	files, _ := filepath.Glob(filepath.Join(n.RecordDir, "*.flv"))
	return files
}

// URL returns rtmp://127.0.0.1:Port/live/stream.
func (n *Nginx) URL(stream string) string {
	return fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", n.Port, stream)
}
