package resample_test

import (
	"fmt"

	"github.com/sipcast/sipcast/mixer/resample"
)

// A G.711 call's 8 kHz audio to the 48 kHz an AAC stream wants: 20 ms in, 20 ms out.
func ExampleResampler() {
	r, err := resample.New(resample.Config{In: 8000, Out: 48000, Channels: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	in := make([]float32, 160) // 20 ms at 8 kHz
	var out []float32
	for range 50 { // one second
		out = r.Process(out, in)
	}
	out = r.Flush(out)
	fmt.Println(len(out), "samples, look-ahead", r.Latency(), "input samples")
	// Output:
	// 48000 samples, look-ahead 61 input samples
}
