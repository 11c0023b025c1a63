// Command phonefloor is the yardstick of bench/plan.sh: it reads a directory
// file the way the file source does and only validates every work phone with
// nyaruka/phonenumbers, on all cores. A plan cannot do less than reading the
// directory and knowing which numbers are valid, so its time is the floor
// the plan is measured against.
//
//	go run ./bench/phonefloor directory.csv
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/sources/file"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: phonefloor directory.csv")
	}
	start := time.Now()
	workers := runtime.GOMAXPROCS(0)
	// Chunks of numbers go to the workers as they are read, as the pass
	// screens them.
	chunks := make(chan []string, workers)
	var valid, read atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range chunks {
				for _, v := range c {
					if n, err := phonenumbers.Parse(v, ""); err == nil && phonenumbers.IsValidNumber(n) {
						valid.Add(1)
					}
				}
			}
		})
	}
	const chunk = 2048
	buf := make([]string, 0, chunk)
	_, _, err := file.New(os.Args[1], nil).Users(context.Background(), "", func(u licensing.DirectoryUser) error {
		read.Add(1)
		buf = append(buf, u.WorkPhone)
		if len(buf) == chunk {
			chunks <- buf
			buf = make([]string, 0, chunk)
		}
		return nil
	})
	chunks <- buf
	close(chunks)
	wg.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("phonefloor: %d numbers, %d valid; %.2fs on %d cores\n", read.Load(), valid.Load(), time.Since(start).Seconds(), workers)
}
