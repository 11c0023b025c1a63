// Command ldapread runs one pass of the LDAP source alone, as a licensync
// configuration describes it, and prints what it read, how long it took and
// the process's peak resident memory: the source's share of a pass without
// the planning and the target.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/sources/ldap"
)

func main() {
	cfgPath := flag.String("c", "licensync.yaml", "licensync configuration with source.kind ldap")
	since := flag.String("since", "", "file holding the checkpoint to start from (empty: a full pass)")
	save := flag.String("save", "", "file to write the pass's checkpoint to")
	want := flag.Int("want", -1, "fail unless the pass reads exactly this many users")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the pass to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*cfgPath, *since, *save, *want); err != nil {
		pprof.StopCPUProfile()
		log.Fatal(err)
	}
}

func run(cfgPath, sinceFile, save string, want int) error {
	cfg, err := config.Load(cfgPath, config.Options{})
	if err != nil {
		return err
	}
	if cfg.Source.LDAP == nil {
		return errors.New("the configuration has no source.ldap")
	}
	since := ""
	if sinceFile != "" {
		b, err := os.ReadFile(sinceFile)
		if err != nil {
			return err
		}
		since = string(b)
	}
	ctx := context.Background()
	start := time.Now()
	src, err := ldap.Open(ctx, *cfg.Source.LDAP, nil)
	if err != nil {
		return err
	}
	defer src.Close()
	users := 0
	next, full, err := src.Users(ctx, since, func(licensing.DirectoryUser) error {
		users++
		return nil
	})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	line, _ := json.Marshal(map[string]any{
		"users": users, "pages": src.Stats().Pages, "full": full,
		"seconds": fmt.Sprintf("%.2f", elapsed.Seconds()), "users_per_s": int(float64(users) / elapsed.Seconds()),
		"peak_rss_mib": ru.Maxrss >> 10,
	})
	fmt.Println(string(line))
	if save != "" {
		if err := os.WriteFile(save, []byte(next), 0o600); err != nil {
			return err
		}
	}
	if want >= 0 && users != want {
		return fmt.Errorf("the pass read %d users, want %d", users, want)
	}
	return nil
}
