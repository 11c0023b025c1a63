// Command gen writes a synthetic directory and calling organisation of N
// users for benchmarks (see package synth for the mix).
package main

import (
	"flag"
	"log"

	"github.com/licensync/licensync/bench/synth"
)

func main() {
	n := flag.Int("n", 100000, "number of directory users")
	out := flag.String("out", "bench/out/demo", "folder to write into")
	flag.Parse()
	if err := synth.Write(*n, *out); err != nil {
		log.Fatal(err)
	}
}
