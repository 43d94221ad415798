//go:build linux && (amd64 || arm64)

package media

import (
	"encoding/binary"
	"net"
	"syscall"
	"unsafe"
)

const pollSupported = true

// batchSize is how many datagrams one recvmmsg call reads at most.
const batchSize = 16

// recvBufSize is the largest datagram kept (longer ones are dropped as truncated).
const recvBufSize = 2048

type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// batch is recvmmsg's memory: headers, addresses, control messages and buffers, all in
// one allocation made once per poller.
type batch struct {
	hdrs  [batchSize]mmsghdr
	iovs  [batchSize]syscall.Iovec
	names [batchSize][syscall.SizeofSockaddrInet6]byte
	ctrl  [batchSize][64]byte
	bufs  [batchSize][recvBufSize]byte
}

func newBatch() *batch {
	b := new(batch)
	for i := range b.hdrs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(recvBufSize)
		h := &b.hdrs[i].hdr
		h.Iov = &b.iovs[i]
		h.Iovlen = 1
		h.Name = &b.names[i][0]
		h.Control = &b.ctrl[i][0]
	}
	return b
}

// read reads up to batchSize datagrams without blocking; 0 when none is waiting.
func (b *batch) read(fd int) (int, error) {
	for i := range b.hdrs {
		h := &b.hdrs[i].hdr
		h.Namelen = uint32(len(b.names[i]))
		h.SetControllen(len(b.ctrl[i]))
		h.Flags = 0
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), batchSize, syscall.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0:
		return int(n), nil
	case syscall.EAGAIN, syscall.EINTR:
		return 0, nil
	default:
		return 0, errno
	}
}

// message returns datagram i of the last read: its bytes, the sender's raw address, the
// kernel's receive time (Unix nanoseconds, 0 when unknown) and whether it was cut short.
func (b *batch) message(i int) (data, name []byte, stamp int64, truncated bool) {
	h := &b.hdrs[i]
	data = b.bufs[i][:min(int(h.n), recvBufSize)]
	name = b.names[i][:min(int(h.hdr.Namelen), len(b.names[i]))]
	truncated = h.hdr.Flags&syscall.MSG_TRUNC != 0
	ctrl := b.ctrl[i][:min(int(h.hdr.Controllen), len(b.ctrl[i]))]
	for len(ctrl) >= syscall.SizeofCmsghdr {
		c := (*syscall.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		l := int(c.Len)
		if l < syscall.SizeofCmsghdr || l > len(ctrl) {
			break
		}
		if c.Level == syscall.SOL_SOCKET && c.Type == syscall.SCM_TIMESTAMPNS && l >= syscall.SizeofCmsghdr+16 {
			d := ctrl[syscall.SizeofCmsghdr:]
			stamp = int64(binary.NativeEndian.Uint64(d))*1e9 + int64(binary.NativeEndian.Uint64(d[8:]))
		}
		step := (l + 7) &^ 7
		if step > len(ctrl) {
			break
		}
		ctrl = ctrl[step:]
	}
	return data, name, stamp, truncated
}

// detachable duplicates a socket's descriptor (close-on-exec) and turns on kernel
// receive timestamps; the caller then closes the net.UDPConn, which takes the socket out
// of Go's netpoller while the duplicate keeps it open.
func detachable(c *net.UDPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var serr error
	err = rc.Control(func(f uintptr) {
		syscall.ForkLock.RLock()
		fd, serr = syscall.Dup(int(f))
		if serr == nil {
			syscall.CloseOnExec(fd)
		}
		syscall.ForkLock.RUnlock()
	})
	if err == nil {
		err = serr
	}
	if err == nil {
		err = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}
	if err != nil {
		closeFD(fd)
		return -1, err
	}
	return fd, nil
}

func closeFD(fd int) {
	if fd >= 0 {
		_ = syscall.Close(fd)
	}
}

// sendTo sends one datagram on a detached socket; sa is scratch space for the address.
// It does not allocate.
func sendTo(fd int, b []byte, to *net.UDPAddr, sa *[syscall.SizeofSockaddrInet6]byte) error {
	*sa = [syscall.SizeofSockaddrInet6]byte{}
	var n int
	if ip4 := to.IP.To4(); ip4 != nil {
		binary.NativeEndian.PutUint16(sa[0:], syscall.AF_INET)
		binary.BigEndian.PutUint16(sa[2:], uint16(to.Port))
		copy(sa[4:8], ip4)
		n = syscall.SizeofSockaddrInet4
	} else {
		binary.NativeEndian.PutUint16(sa[0:], syscall.AF_INET6)
		binary.BigEndian.PutUint16(sa[2:], uint16(to.Port))
		copy(sa[8:24], to.IP.To16())
		n = syscall.SizeofSockaddrInet6
	}
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(b)), syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&sa[0])), uintptr(n))
	if errno != 0 {
		return errno
	}
	return nil
}

// parseSockaddr decodes a kernel socket address (sockaddr_in or sockaddr_in6).
func parseSockaddr(b []byte) *net.UDPAddr {
	if len(b) < 8 {
		return &net.UDPAddr{}
	}
	family := binary.NativeEndian.Uint16(b)
	port := int(binary.BigEndian.Uint16(b[2:]))
	switch {
	case family == syscall.AF_INET:
		return &net.UDPAddr{IP: net.IPv4(b[4], b[5], b[6], b[7]), Port: port}
	case family == syscall.AF_INET6 && len(b) >= 24:
		ip := make(net.IP, 16)
		copy(ip, b[8:24])
		return &net.UDPAddr{IP: ip, Port: port}
	}
	return &net.UDPAddr{}
}
