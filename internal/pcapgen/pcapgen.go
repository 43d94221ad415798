// Package pcapgen writes packet captures (libpcap format, Ethernet, IPv4, UDP) of RTP
// streams the tests make, for peers that replay captures: sipp's play_pcap_audio and
// play_pcap_video, which send each packet at its capture time to the port the call
// negotiated (plus the packet's offset from the capture's lowest port: RTCP beside RTP).
package pcapgen

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"time"

	"github.com/pion/rtcp"

	"github.com/sipcast/sipcast/media/rtpsend"
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

// Packet is one RTP packet of a stream's loop: when it goes (from the loop's start),
// its RTP time (from the stream's first), and the marshalled packet, whose sequence
// number, timestamp and SSRC WriteLooped rewrites.
type Packet struct {
	At   time.Duration
	TS   uint32
	Data []byte
}

// Loop is one loop of a stream: its packets in sending order, the loop's length, the
// clock rate, and when the stream's first packet goes (its RTP time 0 is presented
// then).
type Loop struct {
	Packets   []Packet
	Length    time.Duration
	ClockRate int
	First     time.Duration
}

// WriteLooped writes a capture of l looped for d to path: one stream (SSRC ssrc,
// sequence numbers and timestamps running on across loops) from port 20000 to 30000,
// with a Sender Report a second from port 20001 to 30001 (NTP from 2026-01-01, the RTP
// time presented at each report's time).
func WriteLooped(path string, l Loop, ssrc uint32, d time.Duration) error {
	if len(l.Packets) == 0 || l.Length <= 0 {
		return errors.New("pcapgen: an empty loop")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := NewWriter(f)
	rate := int64(l.ClockRate)
	ntp0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seq, nextSR := uint16(1000), l.First
	buf := make([]byte, 2048)
	for loop := 0; ; loop++ {
		base := time.Duration(loop) * l.Length
		if base > d {
			break
		}
		for _, p := range l.Packets {
			at := base + p.At
			if at > d {
				break
			}
			for nextSR <= at {
				sr := rtcp.SenderReport{SSRC: ssrc, NTPTime: rtpsend.NTP(ntp0.Add(nextSR)), RTPTime: uint32(int64(nextSR-l.First) * rate / int64(time.Second))}
				if b, err := sr.Marshal(); err == nil {
					w.UDP(nextSR, 20001, 30001, b)
				}
				nextSR += time.Second
			}
			b := buf[:len(p.Data)]
			copy(b, p.Data)
			binary.BigEndian.PutUint16(b[2:], seq)
			binary.BigEndian.PutUint32(b[4:], p.TS+uint32(int64(base)*rate/int64(time.Second)))
			binary.BigEndian.PutUint32(b[8:], ssrc)
			seq++
			w.UDP(at, 20000, 30000, b)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
