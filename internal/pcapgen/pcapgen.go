// Package pcapgen writes packet captures (libpcap format, Ethernet, IPv4, UDP) of RTP
// streams the tests make, for peers that replay captures: sipp's play_pcap_audio and
// play_pcap_video, which send each packet at its capture time to the port the call
// negotiated (plus the packet's offset from the capture's lowest port: RTCP beside RTP).
package pcapgen

import (
	"bufio"
	"encoding/binary"
	"io"
	"time"
)

// Writer writes one capture.
type Writer struct {
	w   *bufio.Writer
	err error
}

// NewWriter writes the capture's header to w.
func NewWriter(w io.Writer) *Writer {
	p := &Writer{w: bufio.NewWriterSize(w, 1<<20)}
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // LINKTYPE_ETHERNET
	_, p.err = p.w.Write(hdr[:])
	return p
}

// UDP writes one packet captured at, from 127.0.0.1:sport to 127.0.0.1:dport.
func (p *Writer) UDP(at time.Duration, sport, dport uint16, payload []byte) {
	if p.err != nil {
		return
	}
	n := 14 + 20 + 8 + len(payload)
	var rec [16]byte
	binary.LittleEndian.PutUint32(rec[0:], uint32(at/time.Second))
	binary.LittleEndian.PutUint32(rec[4:], uint32(at%time.Second/time.Microsecond))
	binary.LittleEndian.PutUint32(rec[8:], uint32(n))
	binary.LittleEndian.PutUint32(rec[12:], uint32(n))
	_, _ = p.w.Write(rec[:])
	var h [42]byte
	h[12], h[13] = 0x08, 0x00 // IPv4
	ip := h[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 17 // version 4, 20 bytes; TTL; UDP
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	copy(ip[12:], []byte{127, 0, 0, 1})
	copy(ip[16:], []byte{127, 0, 0, 1})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := h[34:42]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	_, _ = p.w.Write(h[:])
	_, p.err = p.w.Write(payload)
}

// Flush writes what is buffered and returns the first error.
func (p *Writer) Flush() error {
	if p.err != nil {
		return p.err
	}
	return p.w.Flush()
}
