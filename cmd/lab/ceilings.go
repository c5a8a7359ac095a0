package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/brokerlab/brokerlab/loadgen"
)

func runCeilings(ctx context.Context, logger *slog.Logger, args []string) error {
	fs := newFlags("ceilings")
	dur := fs.Duration("duration", 2*time.Second, "length of each of the four measurements")
	block := fs.Int("block", 1<<20, "bytes per write and per send")
	maxFile := fs.Int64("max-file", 256<<20, "largest write-test file in DIR (the write test wraps around)")
	sendfileFile := fs.Int64("sendfile-file", 0, "the sendfile test's cached file in DIR (default twice the CPU's largest cache, 64 MiB to 2 GiB: larger than the cache, so the reader copies from memory as from a large log)")
	out := fs.String("out", "", "write the ceilings as JSON here (lab load -ceilings reads it)")
	markdown := fs.Bool("markdown", false, "print a Markdown table")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: lab ceilings [-duration 2s] [-block BYTES] [-max-file BYTES] [-sendfile-file BYTES] [-out FILE] DIR")
	}
	logger.Info("measuring ceilings", "dir", pos[0], "each", *dur)
	c, err := loadgen.MeasureCeilings(ctx, pos[0], loadgen.CeilingOptions{Duration: *dur, BlockBytes: *block, MaxFileBytes: *maxFile, SendfileFileBytes: *sendfileFile})
	if err != nil {
		return err
	}
	if err := loadgen.RenderCeilings(os.Stdout, c, *markdown); err != nil {
		return err
	}
	if *out != "" {
		data, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding ceilings: %w", err)
		}
		if err := os.WriteFile(*out, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("writing ceilings: %w", err)
		}
	}
	return nil
}
