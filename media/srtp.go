package media

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/pion/srtp/v3"
)

// ErrSRTP is returned for SDES parameters sipcast cannot use.
var ErrSRTP = errors.New("media: SRTP")

// srtpProfile maps an SDES crypto-suite name (RFC 4568 §6.2, RFC 7714 §12) to pion's.
func srtpProfile(suite string) (srtp.ProtectionProfile, error) {
	switch strings.ToUpper(suite) {
	case "AES_CM_128_HMAC_SHA1_80":
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	case "AES_CM_128_HMAC_SHA1_32":
		return srtp.ProtectionProfileAes128CmHmacSha1_32, nil
	case "AEAD_AES_128_GCM":
		return srtp.ProtectionProfileAeadAes128Gcm, nil
	}
	return 0, fmt.Errorf("%w: crypto suite %q not supported (AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM are)", ErrSRTP, suite)
}

// srtpContexts builds the decryption contexts for RTP and RTCP from an SDES a=crypto
// key ("inline:" optional, lifetime and MKI after '|' ignored).
func srtpContexts(suite, keyParams string) (rtpCtx, rtcpCtx *srtp.Context, err error) {
	profile, err := srtpProfile(suite)
	if err != nil {
		return nil, nil, err
	}
	key := strings.TrimPrefix(keyParams, "inline:")
	key, _, _ = strings.Cut(key, "|")
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(key); err != nil {
			return nil, nil, fmt.Errorf("%w: key is not base64", ErrSRTP)
		}
	}
	keyLen, _ := profile.KeyLen()
	saltLen, _ := profile.SaltLen()
	if len(raw) != keyLen+saltLen {
		return nil, nil, fmt.Errorf("%w: %s needs %d bytes of key and salt, got %d", ErrSRTP, suite, keyLen+saltLen, len(raw))
	}
	mk := func() (*srtp.Context, error) {
		return srtp.CreateContext(raw[:keyLen], raw[keyLen:], profile, srtp.SRTPReplayProtection(256), srtp.SRTCPReplayProtection(256))
	}
	if rtpCtx, err = mk(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrSRTP, err)
	}
	if rtcpCtx, err = mk(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrSRTP, err)
	}
	return rtpCtx, rtcpCtx, nil
}
