package sip

import (
	"bytes"
	"net"
)

// unfoldingPacketConn joins folded header lines (a CRLF followed by a space or tab, RFC
// 3261 §7.3.1, obsolete but still sent) in each datagram's header section before sipgo
// parses it, which it does not do itself. The body is left alone. It works in place and
// allocates nothing.
type unfoldingPacketConn struct {
	net.PacketConn
}

func (c unfoldingPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		n = unfold(p[:n])
	}
	return n, addr, err
}

// unfold rewrites msg's header section with folds replaced by a single space, moving the
// rest up, and returns the new length.
func unfold(msg []byte) int {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(msg)
	}
	if !bytes.Contains(msg[:end], []byte("\r\n ")) && !bytes.Contains(msg[:end], []byte("\r\n\t")) {
		return len(msg)
	}
	w := 0
	for r := 0; r < len(msg); {
		if r < end && r+2 < len(msg) && msg[r] == '\r' && msg[r+1] == '\n' && (msg[r+2] == ' ' || msg[r+2] == '\t') {
			// Drop the CRLF and the whitespace that follows; keep one space, unless the
			// line so far already ends in whitespace.
			r += 2
			for r < end && (msg[r] == ' ' || msg[r] == '\t') {
				r++
			}
			if w > 0 && msg[w-1] != ' ' && msg[w-1] != '\t' {
				msg[w] = ' '
				w++
			}
			continue
		}
		msg[w] = msg[r]
		w++
		r++
	}
	return w
}
