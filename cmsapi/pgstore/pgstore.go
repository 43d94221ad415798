package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sipcast/sipcast/cmsapi"
)

// DB is the shared state on one PostgreSQL database. Safe for concurrent use.
type DB struct {
	db *pgxpool.Pool
}

var (
	_ cmsapi.Journal  = (*DB)(nil)
	_ cmsapi.Registry = (*DB)(nil)
)

// New returns the shared state on db, creating its tables when missing.
func New(ctx context.Context, db *pgxpool.Pool) (*DB, error) {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// Nodes starting together would race on CREATE TABLE IF NOT EXISTS.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7236001)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS sipcast_cms_version (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	version bigint NOT NULL
);
INSERT INTO sipcast_cms_version (one, version) VALUES (true, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS sipcast_cms_objects (
	collection text NOT NULL,
	id text NOT NULL,
	parent text NOT NULL DEFAULT '',
	vals jsonb,
	bulk_set text NOT NULL DEFAULT '',
	bulk_index integer NOT NULL DEFAULT 0,
	created bigint NOT NULL,
	pos integer NOT NULL,
	version bigint NOT NULL,
	PRIMARY KEY (collection, id)
);
CREATE INDEX IF NOT EXISTS sipcast_cms_objects_version ON sipcast_cms_objects (version);
CREATE TABLE IF NOT EXISTS sipcast_cms_nodes (
	node text PRIMARY KEY,
	url text NOT NULL,
	heartbeat timestamptz NOT NULL,
	live json NOT NULL
);
ALTER TABLE sipcast_cms_nodes ALTER COLUMN live SET STORAGE EXTERNAL;`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: creating the tables: %w", err)
	}
	return &DB{db: db}, nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// changes reads the version, then the objects written after since up to it (read in
// that order, a write committed in between is taken in next time, not skipped).
func changes(ctx context.Context, q querier, since int64, lock bool) ([]cmsapi.StoredObject, int64, error) {
	sql := `SELECT version FROM sipcast_cms_version`
	if lock {
		sql += ` FOR UPDATE`
	}
	var v int64
	if err := q.QueryRow(ctx, sql).Scan(&v); err != nil {
		return nil, 0, fmt.Errorf("pgstore: reading the version: %w", err)
	}
	if v == since {
		return nil, v, nil
	}
	rows, err := q.Query(ctx, `SELECT collection, id, parent, vals, bulk_set, bulk_index FROM sipcast_cms_objects
		WHERE version > $1 AND version <= $2 AND ($1 > 0 OR vals IS NOT NULL) ORDER BY created, pos`, since, v)
	if err != nil {
		return nil, 0, fmt.Errorf("pgstore: reading the objects: %w", err)
	}
	defer rows.Close()
	var out []cmsapi.StoredObject
	for rows.Next() {
		var o cmsapi.StoredObject
		var vals []byte
		if err := rows.Scan(&o.Collection, &o.ID, &o.Parent, &vals, &o.BulkSet, &o.BulkIndex); err != nil {
			return nil, 0, fmt.Errorf("pgstore: reading the objects: %w", err)
		}
		if vals != nil {
			if err := json.Unmarshal(vals, &o.Values); err != nil {
				return nil, 0, fmt.Errorf("pgstore: object %s/%s: %w", o.Collection, o.ID, err)
			}
			if o.Values == nil {
				o.Values = map[string]string{}
			}
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("pgstore: reading the objects: %w", err)
	}
	return out, v, nil
}

// Changes implements cmsapi.Journal.
func (d *DB) Changes(ctx context.Context, since int64) ([]cmsapi.StoredObject, int64, error) {
	return changes(ctx, d.db, since, false)
}

// Begin implements cmsapi.Journal: the transaction holds the version row until it ends.
func (d *DB) Begin(ctx context.Context, since int64) (cmsapi.JournalTx, []cmsapi.StoredObject, int64, error) {
	tx, err := d.db.Begin(ctx)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("pgstore: %w", err)
	}
	recs, v, err := changes(ctx, tx, since, true)
	if err != nil {
		_ = tx.Rollback(ctx)
		return nil, nil, 0, err
	}
	return &journalTx{tx: tx, version: v}, recs, v, nil
}

type journalTx struct {
	tx      pgx.Tx
	version int64
}

func (t *journalTx) Commit(ctx context.Context, recs []cmsapi.StoredObject) (int64, error) {
	v := t.version + 1
	b := &pgx.Batch{}
	for i, r := range recs {
		var vals []byte
		if !r.Deleted() {
			var err error
			if vals, err = json.Marshal(r.Values); err != nil {
				_ = t.tx.Rollback(ctx)
				return 0, fmt.Errorf("pgstore: %w", err)
			}
		}
		b.Queue(`INSERT INTO sipcast_cms_objects (collection, id, parent, vals, bulk_set, bulk_index, created, pos, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)
			ON CONFLICT (collection, id) DO UPDATE SET parent = EXCLUDED.parent, vals = EXCLUDED.vals,
				bulk_set = EXCLUDED.bulk_set, bulk_index = EXCLUDED.bulk_index, version = EXCLUDED.version`,
			r.Collection, r.ID, r.Parent, vals, r.BulkSet, r.BulkIndex, v, i)
	}
	b.Queue(`UPDATE sipcast_cms_version SET version = $1`, v)
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		_ = t.tx.Rollback(ctx)
		return 0, fmt.Errorf("pgstore: writing version %d: %w", v, err)
	}
	if err := t.tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("pgstore: committing version %d: %w", v, err)
	}
	return v, nil
}

func (t *journalTx) Rollback(ctx context.Context) error {
	err := t.tx.Rollback(ctx)
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

// live is a node's live objects as sipcast_cms_nodes keeps them.
type live struct {
	Calls        []cmsapi.Call        `json:"calls"`
	CallLegs     []cmsapi.CallLeg     `json:"callLegs"`
	Participants []cmsapi.Participant `json:"participants"`
}

// Publish implements cmsapi.Registry.
func (d *DB) Publish(ctx context.Context, n cmsapi.NodeLive) error {
	b, err := json.Marshal(live{Calls: n.Calls, CallLegs: n.CallLegs, Participants: n.Participants})
	if err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	_, err = d.db.Exec(ctx, `INSERT INTO sipcast_cms_nodes (node, url, heartbeat, live) VALUES ($1, $2, now(), $3)
		ON CONFLICT (node) DO UPDATE SET url = EXCLUDED.url, heartbeat = now(), live = EXCLUDED.live`, n.Node, n.URL, b)
	if err != nil {
		return fmt.Errorf("pgstore: publishing node %s: %w", n.Node, err)
	}
	return nil
}

// Peers implements cmsapi.Registry.
func (d *DB) Peers(ctx context.Context, node string, maxAge time.Duration) ([]cmsapi.NodeLive, error) {
	rows, err := d.db.Query(ctx, `SELECT node, url, live FROM sipcast_cms_nodes
		WHERE node <> $1 AND heartbeat >= now() - make_interval(secs => $2) ORDER BY node`, node, maxAge.Seconds())
	if err != nil {
		return nil, fmt.Errorf("pgstore: reading the nodes: %w", err)
	}
	defer rows.Close()
	var out []cmsapi.NodeLive
	for rows.Next() {
		var n cmsapi.NodeLive
		var b []byte
		if err := rows.Scan(&n.Node, &n.URL, &b); err != nil {
			return nil, fmt.Errorf("pgstore: reading the nodes: %w", err)
		}
		var l live
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("pgstore: node %s: %w", n.Node, err)
		}
		n.Calls, n.CallLegs, n.Participants = l.Calls, l.CallLegs, l.Participants
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: reading the nodes: %w", err)
	}
	return out, nil
}

// Leave implements cmsapi.Registry.
func (d *DB) Leave(ctx context.Context, node string) error {
	if _, err := d.db.Exec(ctx, `DELETE FROM sipcast_cms_nodes WHERE node = $1`, node); err != nil {
		return fmt.Errorf("pgstore: removing node %s: %w", node, err)
	}
	return nil
}
