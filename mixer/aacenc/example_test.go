package aacenc_test

import (
	"fmt"

	"github.com/sipcast/sipcast/mixer/aacenc"
)

// One second of mono 48 kHz audio encoded at 64 kb/s: 47 access units and the
// configuration FLV and MP4 carry.
func ExampleEncoder() {
	e, err := aacenc.New(aacenc.Config{SampleRate: 48000, Channels: 1, Bitrate: 64000})
	if err != nil {
		fmt.Println(err)
		return
	}
	frame := make([]float32, aacenc.FrameSamples)
	units := 0
	for range 47 {
		if _, err := e.Encode(frame); err == nil {
			units++
		}
	}
	fmt.Printf("%d access units, AudioSpecificConfig % x\n", units, e.AudioSpecificConfig())
	// Output:
	// 47 access units, AudioSpecificConfig 11 88
}
