package peer

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Kamailio is a Kamailio process (Debian's kamailio) serving as registrar and proxy
// for domain 127.0.0.1 on UDP 127.0.0.1:Port: REGISTER needs digest authentication (a
// wrong password gets 403, and a user registers only its own address), INVITE proxy
// authentication; registered users are called at their contacts, with Record-Route so
// that in-dialog requests pass through it (users given a route are called there). It is
// stopped when the test ends.
type Kamailio struct {
	Port int
	proc *Process
}

// StartKamailio starts Kamailio with users (name to password) and routes: users it
// calls at a fixed address (name to SIP URI) rather than at a registered contact.
func StartKamailio(t testing.TB, users, routes map[string]string) *Kamailio {
	t.Helper()
	path := Require(t, "kamailio", "kamailio")
	k := &Kamailio{Port: FreeUDPPorts(t, 1)}
	dir := t.TempDir()
	var pw strings.Builder
	for _, u := range sortedKeys(users) {
		fmt.Fprintf(&pw, "\tif ($au == %q) { $var(pw) = %q; }\n", u, users[u])
	}
	var rt strings.Builder
	for _, u := range sortedKeys(routes) {
		fmt.Fprintf(&rt, "\tif ($rU == %q) { $ru = %q; t_relay(); exit; }\n", u, routes[u])
	}
	cfg := fmt.Sprintf(kamailioConfig, k.Port, pw.String(), rt.String())
	file := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	k.proc = Start(t, path, "-f", file, "-DD", "-E", "-m", "64", "-M", "8", "-w", dir, "-Y", dir)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(k.proc.Output(), "INFO: <core>") && !strings.Contains(k.proc.Output(), "Listening on") {
		if time.Now().After(deadline) {
			t.Fatalf("kamailio did not start: %s", k.proc.Output())
		}
		select {
		case <-k.proc.Done():
			t.Fatalf("kamailio exited: %s", k.proc.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Cleanup(func() { k.proc.Kill() })
	return k
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Output is what Kamailio logged.
func (k *Kamailio) Output() string { return k.proc.Output() }

const kamailioConfig = `#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:%d

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"

modparam("usrloc", "db_mode", 0)

request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	xlog("L_INFO", "kamailio: $rm $ru from $fu route=$hdr(Route) src=$si:$sp\n");
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
	$var(pw) = "no such user: any password is wrong";
%s	if (is_method("REGISTER")) {
		if (!is_present_hf("Authorization")) { www_challenge("$td", "0"); exit; }
		$var(rc) = pv_www_authenticate("$td", "$var(pw)", "0");
		if ($var(rc) == -5 || $var(rc) == -4 || $var(rc) == -6) { www_challenge("$td", "0"); exit; }
		if ($var(rc) < 0 || $au != $tU) { sl_send_reply("403", "Forbidden"); exit; }
		consume_credentials();
		save("location");
		exit;
	}
	if (is_method("INVITE")) {
		if (!is_present_hf("Proxy-Authorization")) { proxy_challenge("$fd", "0"); exit; }
		$var(rc) = pv_proxy_authenticate("$fd", "$var(pw)", "0");
		if ($var(rc) == -5 || $var(rc) == -4 || $var(rc) == -6) { proxy_challenge("$fd", "0"); exit; }
		if ($var(rc) < 0) { sl_send_reply("403", "Forbidden"); exit; }
		consume_credentials();
		record_route();
	}
%s	if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
	t_relay();
}
`
