package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/smspin/idp/config"
)

// setMemoryLimit gives the garbage collector a soft limit sized to the
// password hashes: each argon2id hash allocates its memory cost afresh
// (19 MiB by default) and drops it, and without a limit the collector
// lets that garbage pile up to twice the live heap before it runs. The
// limit is what the hashes in flight can hold, with room for the rest;
// GOMEMLIMIT, when set, decides instead.
func setMemoryLimit(cfg config.Config, logger *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	const base = 40 << 20 // the server without hashes in flight, with room
	perHash := int64(cfg.Password.Memory) << 10
	limit := base + int64(cfg.Password.HashConcurrency)*perHash*5/4
	debug.SetMemoryLimit(limit)
	logger.Debug("memory limit for the garbage collector", "bytes", limit)
}
