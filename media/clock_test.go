package media

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestClockArrivalAnchorAndWrap(t *testing.T) {
	c := NewClock(epoch)
	c.AddTrack(1, 8000)
	// First packet 2 s into the session, RTP time just below the wrap.
	require.Equal(t, 2*time.Second, c.Map(1, 0xffffff00, epoch.Add(2*time.Second)))
	// 0x100 + 0x100 ticks later, past the wrap: 512 / 8000 s.
	require.Equal(t, 2*time.Second+64*time.Millisecond, c.Map(1, 0x100, epoch.Add(3*time.Second)))
}

// Two tracks whose first packets arrive 1.5 s apart but whose sender reports say their
// media starts at the same instant come out aligned.
func TestClockLipSyncFromSenderReports(t *testing.T) {
	c := NewClock(epoch)
	c.AddTrack(1, 90000) // video
	c.AddTrack(2, 48000) // audio
	ntp0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.SenderReport(1, ntp0, 1000, epoch.Add(100*time.Millisecond))
	c.SenderReport(2, ntp0, 5000, epoch.Add(1600*time.Millisecond)) // late: audio started late
	v := c.Map(1, 1000+90000, epoch.Add(1100*time.Millisecond))     // 1 s of media
	a := c.Map(2, 5000+48000, epoch.Add(2600*time.Millisecond))
	require.InDelta(t, 0, (v - a).Seconds(), 0.001)
}

// A 24-hour call whose sender's media clocks run 100 ppm fast (its NTP clock is right):
// with a Sender Report every 5 s, audio and video stay within 20 ms of each other and of
// the true time.
func TestClock24HoursDrift(t *testing.T) {
	c := NewClock(epoch)
	c.AddTrack(1, 90000)
	c.AddTrack(2, 48000)
	const ppm = 100e-6
	rtpAt := func(rate float64, base uint32, d time.Duration) uint32 {
		return base + uint32(uint64(d.Seconds()*rate*(1+ppm)))
	}
	ntp0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var v, a time.Duration
	for d := time.Duration(0); d <= 24*time.Hour; d += 5 * time.Second {
		arrival := epoch.Add(d)
		c.SenderReport(1, ntp0.Add(d), rtpAt(90000, 7, d), arrival)
		c.SenderReport(2, ntp0.Add(d), rtpAt(48000, 99, d), arrival)
		mid := d + 2500*time.Millisecond
		v = c.Map(1, rtpAt(90000, 7, mid), epoch.Add(mid))
		a = c.Map(2, rtpAt(48000, 99, mid), epoch.Add(mid))
	}
	require.InDelta(t, 0, (v - a).Seconds(), 0.020, "A/V offset after 24 h")
	want := 24*time.Hour + 2500*time.Millisecond
	require.InDelta(t, want.Seconds(), v.Seconds(), 0.020, "video against true time")

	// With one report and nominal rates the same call is 8.6 s off by now: measuring the
	// rate between reports is what keeps it.
	once := NewClock(epoch)
	once.AddTrack(1, 90000)
	once.SenderReport(1, ntp0, rtpAt(90000, 7, 0), epoch)
	for d := time.Duration(0); d <= want; d += time.Hour { // keep the 32-bit extension fed
		once.Map(1, rtpAt(90000, 7, d), epoch.Add(d))
	}
	off := once.Map(1, rtpAt(90000, 7, want), epoch.Add(want)) - want
	require.Greater(t, off.Seconds(), 8.0)
}

// A report whose RTP time contradicts the packets by more than MaxSenderReportSkew (as
// ffmpeg's does for a stream that starts late) is ignored; the track keeps arrival time.
func TestClockRejectsInconsistentReport(t *testing.T) {
	c := NewClock(epoch)
	c.AddTrack(2, 48000)
	ntp0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The report comes first and says RTP 0 is "now" (1.5 s into the session)...
	c.SenderReport(2, ntp0, 0, epoch.Add(1500*time.Millisecond))
	// ...but the first packet, arriving then, carries RTP 1.5 s later than that.
	got := c.Map(2, 72000, epoch.Add(1500*time.Millisecond))
	require.Equal(t, 1500*time.Millisecond, got)
	require.Equal(t, 1, c.Rejected(2))
	require.Equal(t, 2500*time.Millisecond, c.Map(2, 72000+48000, epoch.Add(2600*time.Millisecond)))
}
