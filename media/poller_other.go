//go:build !(linux && (amd64 || arm64))

package media

import "net"

const pollSupported = false

const batchSize = 1

type batch struct{}

func newBatch() *batch { return &batch{} }

func (b *batch) read(int) (int, error) { return 0, ErrPollUnsupported }

func (b *batch) message(int) (data, name []byte, stamp int64, truncated bool) {
	return nil, nil, 0, false
}

func detachable(*net.UDPConn) (int, error) { return -1, ErrPollUnsupported }

func closeFD(int) {}

func sendTo(int, []byte, *net.UDPAddr, *[28]byte) error { return ErrPollUnsupported }

func parseSockaddr([]byte) *net.UDPAddr { return &net.UDPAddr{} }
