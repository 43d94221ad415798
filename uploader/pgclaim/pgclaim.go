// Package pgclaim shares one recording share among several uploaders through
// PostgreSQL (uploader.Config.Claims): a claims table, claims taken with FOR UPDATE SKIP
// LOCKED, a lease each holder renews, and an epoch that fences every write of a holder
// that lost its claim.
//
// Each recording (its directory under the share and its stem) has one row: who holds
// it, until when (the lease), its epoch (raised by every claim), the journal's last
// state and the Rev video id, and whether it is done. A claim is taken when the row is
// free, its lease has run out, or it is this holder's own; the claimer then holds epoch
// e, and every Renew and Record is an UPDATE ... WHERE holder and epoch = e: once
// another uploader has taken the recording over (a higher epoch), they change nothing
// and return uploader.ErrStale. The journal beside the recording stays the record of
// what was sent (its upload key is what the search by tag looks for before any resend),
// so exactly once still rests on it; the epoch keeps a stale holder from going on.
//
// Leases are timed by the claimers' clocks (Config.Now): keep the uploaders' hosts in
// NTP; a lease of 30 s dwarfs their skew, and correctness rests on the epoch, not on the
// clocks.
package pgclaim

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sipcast/sipcast/uploader"
)

// Config configures a Claimer.
type Config struct {
	// Holder names this uploader (unique among them: host and process, say).
	Holder string
	// Lease is how long a claim holds without renewal (default 30 s); Renew how often
	// the uploader renews it (default a third of it).
	Lease, Renew time.Duration
	// Table is the claims table (default sipcast_upload_claims), created if missing.
	Table string
	// Now replaces time.Now (tests step it by hand).
	Now func() time.Time
}

// Claimer takes claims for one uploader. Safe for concurrent use.
type Claimer struct {
	db  *pgxpool.Pool
	cfg Config
}

var tableRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// New returns a Claimer on db, creating the table if it is missing.
func New(ctx context.Context, db *pgxpool.Pool, cfg Config) (*Claimer, error) {
	if cfg.Holder == "" {
		return nil, errors.New("pgclaim: a holder name is required")
	}
	if cfg.Lease == 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Lease < time.Second {
		return nil, errors.New("pgclaim: a lease of at least 1 s")
	}
	if cfg.Renew <= 0 {
		cfg.Renew = cfg.Lease / 3
	}
	if cfg.Table == "" {
		cfg.Table = "sipcast_upload_claims"
	}
	if !tableRe.MatchString(cfg.Table) {
		return nil, fmt.Errorf("pgclaim: table name %q: lower-case letters, digits and _", cfg.Table)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	_, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+cfg.Table+` (
		name text PRIMARY KEY,
		holder text,
		epoch bigint NOT NULL DEFAULT 0,
		lease_until timestamptz,
		state text NOT NULL DEFAULT '',
		video_id text NOT NULL DEFAULT '',
		done boolean NOT NULL DEFAULT false,
		updated timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return nil, fmt.Errorf("pgclaim: creating %s: %w", cfg.Table, err)
	}
	return &Claimer{db: db, cfg: cfg}, nil
}

// RenewEvery is Config.Renew.
func (c *Claimer) RenewEvery() time.Duration { return c.cfg.Renew }

// Claim takes the recording when it is free, its lease has run out, or it is already
// this holder's; ok is false when another holds it or it is done. A row locked by
// another claimer at this moment is skipped, not waited for.
func (c *Claimer) Claim(ctx context.Context, name string) (uploader.Claim, bool, error) {
	t := c.cfg.Table
	if _, err := c.db.Exec(ctx, `INSERT INTO `+t+` (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return nil, false, fmt.Errorf("pgclaim: %w", err)
	}
	tx, err := c.db.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("pgclaim: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	now := c.cfg.Now()
	var epoch int64
	err = tx.QueryRow(ctx, `SELECT epoch FROM `+t+` WHERE name = $1 AND NOT done
		AND (holder IS NULL OR holder = $2 OR lease_until < $3) FOR UPDATE SKIP LOCKED`, name, c.cfg.Holder, now).Scan(&epoch)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("pgclaim: %w", err)
	}
	if err := tx.QueryRow(ctx, `UPDATE `+t+` SET holder = $2, epoch = epoch + 1, lease_until = $3, updated = $4
		WHERE name = $1 RETURNING epoch`, name, c.cfg.Holder, now.Add(c.cfg.Lease), now).Scan(&epoch); err != nil {
		return nil, false, fmt.Errorf("pgclaim: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, fmt.Errorf("pgclaim: %w", err)
	}
	return &claim{c: c, name: name, epoch: epoch}, true, nil
}

// claim is a held recording at an epoch.
type claim struct {
	c     *Claimer
	name  string
	epoch int64
}

// Epoch is the claim's epoch (tests).
func (k *claim) Epoch() int64 { return k.epoch }

// fenced runs an UPDATE of the claim's row guarded by holder and epoch.
func (k *claim) fenced(ctx context.Context, set string, args ...any) error {
	q := `UPDATE ` + k.c.cfg.Table + ` SET ` + set + ` WHERE name = $1 AND holder = $2 AND epoch = $3`
	tag, err := k.c.db.Exec(ctx, q, append([]any{k.name, k.c.cfg.Holder, k.epoch}, args...)...)
	if err != nil {
		return fmt.Errorf("pgclaim: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return uploader.ErrStale
	}
	return nil
}

func (k *claim) Renew(ctx context.Context) error {
	now := k.c.cfg.Now()
	return k.fenced(ctx, `lease_until = $4, updated = $5`, now.Add(k.c.cfg.Lease), now)
}

func (k *claim) Record(ctx context.Context, state, videoID string) error {
	now := k.c.cfg.Now()
	return k.fenced(ctx, `state = $4, video_id = $5, lease_until = $6, updated = $7`, state, videoID, now.Add(k.c.cfg.Lease), now)
}

func (k *claim) Release(ctx context.Context, done bool) error {
	return k.fenced(ctx, `holder = NULL, lease_until = NULL, done = $4, updated = $5`, done, k.c.cfg.Now())
}
