package g722_test

import (
	"fmt"

	"github.com/sipcast/sipcast/mixer/g722"
)

// 20 ms of a G.722 call: 320 samples at 16 kHz make 160 bytes, and back.
func ExampleEncoder() {
	pcm := make([]int16, 320)
	enc, dec := g722.NewEncoder(), g722.NewDecoder()
	codes := enc.Encode(nil, pcm)
	out := dec.Decode(nil, codes)
	fmt.Println(len(codes), "bytes,", len(out), "samples")
	// Output:
	// 160 bytes, 320 samples
}
