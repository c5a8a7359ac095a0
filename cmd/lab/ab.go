package main

import (
	"context"
	"log/slog"
)

func init() {
	register("ab", command{
		summary: "A/B test XFS vs EXT4 (plans/ab-fs.yaml, or -plan): tables and guide under -out",
		run: func(ctx context.Context, logger *slog.Logger, args []string) error {
			_, err := runPlanArgs(ctx, logger, "lab ab", "plans/ab-fs.yaml", args)
			return err
		},
	})
}
