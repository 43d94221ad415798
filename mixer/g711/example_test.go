package g711_test

import (
	"fmt"

	"github.com/sipcast/sipcast/mixer/g711"
)

// 20 ms of PCMU are 160 codes; here three samples and back.
func ExampleCodec() {
	pcm := []int16{0, 1000, -1000}
	codes := g711.ULaw.Encode(nil, pcm)
	fmt.Printf("% x\n", codes)
	fmt.Println(g711.ULaw.Decode(nil, codes))
	// Output:
	// ff ce 4e
	// [0 988 -988]
}
