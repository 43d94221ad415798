package cmsapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"
)

// Journal keeps a Store's configuration objects outside the process, so that the Stores
// of several nodes (each behind its own API) share them. A write is one transaction that
// holds every other writer off, made on the latest state: a space's URI stays unique
// across the cluster, not only per node. A read first takes in what the other nodes
// wrote. Package cmsapi/pgstore keeps them in PostgreSQL; NewMemoryJournal in this
// process (two Stores over one behave as two nodes, for tests).
type Journal interface {
	// Changes returns the objects written after version since (every live object, and
	// no deletions, when since is 0), in creation order, and the version now.
	Changes(ctx context.Context, since int64) ([]StoredObject, int64, error)
	// Begin starts a write: until it commits or rolls back no other writer can begin.
	// It returns what Changes would.
	Begin(ctx context.Context, since int64) (JournalTx, []StoredObject, int64, error)
}

// JournalTx is one write to a Journal.
type JournalTx interface {
	// Commit writes the records as the next version, which it returns, and ends the write.
	Commit(ctx context.Context, records []StoredObject) (int64, error)
	// Rollback ends the write, nothing written.
	Rollback(ctx context.Context) error
}

// StoredObject is one configuration object as a Journal keeps it.
type StoredObject struct {
	// Collection is the object's collection ("coSpaces", "accessMethods",
	// "system/cdrReceivers", ...; "system/profiles" for /system/profiles, ID
	// "profiles"); Parent the space's id for members and access methods.
	Collection, Parent, ID string
	// Values are the object's parameters; nil for an object deleted.
	Values map[string]string
	// BulkSet and BulkIndex tie a space to the bulk parameter set that made it.
	BulkSet   string
	BulkIndex int
}

// Deleted says the record is an object's deletion.
func (r StoredObject) Deleted() bool { return r.Values == nil }

// journalTimeout bounds one exchange with a Journal.
const journalTimeout = 5 * time.Second

// profilesID is the StoredObject ID of /system/profiles.
const profilesID = "profiles"

// NewSharedStore returns a Store kept in a Journal, loaded from it: the configuration
// that the other nodes' Stores over the same Journal see and change. Without the
// journal's answer, reads serve the state last read and writes fail (answered 500).
func NewSharedStore(ctx context.Context, j Journal) (*Store, error) {
	s := NewStore()
	recs, v, err := j.Changes(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("cmsapi: loading the store: %w", err)
	}
	s.journal = j
	s.apply(recs, v)
	return s, nil
}

// lock takes the store's lock for a read, after taking in what other nodes wrote.
func (s *Store) lock() {
	s.mu.Lock()
	if s.journal == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	recs, v, err := s.journal.Changes(ctx, s.version)
	if err == nil && v < s.version {
		err = s.reload(ctx)
		recs = nil
	}
	if err != nil {
		s.syncErrors++ // served from what was last read
		return
	}
	s.apply(recs, v)
}

// reload replaces the store's objects with the journal's (under s.mu): the journal's
// version went below the one last taken in, so it was recreated (a database restored
// or made anew) and the versions read since mean nothing.
func (s *Store) reload(ctx context.Context) error {
	recs, v, err := s.journal.Changes(ctx, 0)
	if err != nil {
		return err
	}
	s.objects, s.profiles, s.version = map[*objectType][]*object{}, map[string]string{}, 0
	s.apply(recs, v)
	return nil
}

// write runs fn under the lock on the latest state. With a journal, what fn changed is
// written as one transaction; when fn fails, or the write does, nothing is written and
// the memory goes back to what it was.
func (s *Store) write(fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal == nil {
		return fn()
	}
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	tx, recs, v, err := s.journal.Begin(ctx, s.version)
	if err != nil {
		return fmt.Errorf("cmsapi: store: %w", err)
	}
	if v < s.version { // recreated: take it in whole (the other writers wait on tx)
		if err := s.reload(ctx); err != nil {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("cmsapi: store: %w", err)
		}
		recs = nil
	}
	s.apply(recs, v)
	before := s.snapshot()
	if err := fn(); err != nil {
		_ = tx.Rollback(ctx)
		s.restore(before)
		return err
	}
	changed := s.diff(before)
	if len(changed) == 0 {
		_ = tx.Rollback(ctx)
		return nil
	}
	v, err = tx.Commit(ctx, changed)
	if err != nil {
		s.restore(before)
		return fmt.Errorf("cmsapi: store: %w", err)
	}
	s.version = v
	return nil
}

// typeByCollection finds an object type by its StoredObject collection.
func typeByCollection(name string) *objectType {
	for _, t := range configTypes() {
		if t.collection == name {
			return t
		}
	}
	return nil
}

// apply takes in records written by others (under s.mu): new objects go last, as they
// were created after those known.
func (s *Store) apply(recs []StoredObject, version int64) {
	for _, r := range recs {
		if r.Collection == profilesType().collection {
			s.profiles = maps.Clone(r.Values)
			if s.profiles == nil {
				s.profiles = map[string]string{}
			}
			continue
		}
		t := typeByCollection(r.Collection)
		if t == nil {
			continue // a collection of a later version
		}
		list := s.objects[t]
		i := indexOf(list, r.ID)
		switch {
		case r.Deleted() && i >= 0:
			s.objects[t] = append(list[:i:i], list[i+1:]...)
		case r.Deleted():
		case i >= 0:
			list[i] = &object{id: list[i].id, parent: r.Parent, values: maps.Clone(r.Values), bulkSet: r.BulkSet, bulkIndex: r.BulkIndex}
		default:
			s.objects[t] = append(list, &object{id: r.ID, parent: r.Parent, values: maps.Clone(r.Values), bulkSet: r.BulkSet, bulkIndex: r.BulkIndex})
		}
	}
	if version > s.version {
		s.version = version
	}
}

func indexOf(list []*object, id string) int {
	for i, o := range list {
		if strings.EqualFold(o.id, id) {
			return i
		}
	}
	return -1
}

// storeState is a copy of a Store's objects, to compare with and go back to.
type storeState struct {
	objects  map[*objectType][]*object
	profiles map[string]string
}

func (s *Store) snapshot() storeState {
	st := storeState{objects: map[*objectType][]*object{}, profiles: maps.Clone(s.profiles)}
	for t, list := range s.objects {
		c := make([]*object, len(list))
		for i, o := range list {
			cp := *o
			cp.values = maps.Clone(o.values)
			c[i] = &cp
		}
		st.objects[t] = c
	}
	return st
}

func (s *Store) restore(st storeState) { s.objects, s.profiles = st.objects, st.profiles }

// diff returns the records of what changed since st.
func (s *Store) diff(st storeState) []StoredObject {
	var out []StoredObject
	for _, t := range configTypes() {
		was := map[string]*object{}
		for _, o := range st.objects[t] {
			was[strings.ToLower(o.id)] = o
		}
		for _, o := range s.objects[t] {
			key := strings.ToLower(o.id)
			old := was[key]
			delete(was, key)
			if old != nil && maps.Equal(old.values, o.values) && old.parent == o.parent && old.bulkSet == o.bulkSet && old.bulkIndex == o.bulkIndex {
				continue
			}
			values := maps.Clone(o.values)
			if values == nil {
				values = map[string]string{}
			}
			out = append(out, StoredObject{Collection: t.collection, Parent: o.parent, ID: o.id, Values: values, BulkSet: o.bulkSet, BulkIndex: o.bulkIndex})
		}
		for _, old := range st.objects[t] { // in order, not the map's
			if was[strings.ToLower(old.id)] != nil {
				out = append(out, StoredObject{Collection: t.collection, Parent: old.parent, ID: old.id})
			}
		}
	}
	if !maps.Equal(st.profiles, s.profiles) {
		v := maps.Clone(s.profiles)
		if v == nil {
			v = map[string]string{}
		}
		out = append(out, StoredObject{Collection: profilesType().collection, ID: profilesID, Values: v})
	}
	return out
}

// SyncErrors counts the reads served from the state last read because the journal did
// not answer.
func (s *Store) SyncErrors() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncErrors
}

// MemoryJournal is a Journal in this process: Stores made over one with NewSharedStore
// behave as the nodes of a cluster do over PostgreSQL.
type MemoryJournal struct {
	writer  sync.Mutex // held from Begin to Commit or Rollback
	mu      sync.Mutex
	version int64
	rows    []journalRow // in creation order
	// fail, when set, makes every call fail with it (a database gone; SetFailure).
	fail error
}

type journalRow struct {
	StoredObject
	version int64
}

// NewMemoryJournal returns an empty journal.
func NewMemoryJournal() *MemoryJournal { return &MemoryJournal{} }

// SetFailure makes every later call fail with err (nil: answer again), as a database
// that went away.
func (j *MemoryJournal) SetFailure(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.fail = err
}

// Reset empties the journal, its version back to 0, as a database recreated under
// running nodes: their Stores notice (the version below theirs) and load it anew.
func (j *MemoryJournal) Reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.rows, j.version = nil, 0
}

// Changes implements Journal.
func (j *MemoryJournal) Changes(_ context.Context, since int64) ([]StoredObject, int64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return nil, 0, j.fail
	}
	var out []StoredObject
	for _, r := range j.rows {
		if r.version > since && (since > 0 || !r.Deleted()) {
			out = append(out, cloneStored(r.StoredObject))
		}
	}
	return out, j.version, nil
}

// Begin implements Journal.
func (j *MemoryJournal) Begin(ctx context.Context, since int64) (JournalTx, []StoredObject, int64, error) {
	j.writer.Lock()
	recs, v, err := j.Changes(ctx, since)
	if err != nil {
		j.writer.Unlock()
		return nil, nil, 0, err
	}
	return &memoryTx{j: j}, recs, v, nil
}

type memoryTx struct {
	j    *MemoryJournal
	done bool
}

var errTxDone = errors.New("cmsapi: the journal transaction has ended")

func (tx *memoryTx) Commit(_ context.Context, recs []StoredObject) (int64, error) {
	if tx.done {
		return 0, errTxDone
	}
	tx.done = true
	j := tx.j
	defer j.writer.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return 0, j.fail
	}
	j.version++
	for _, r := range recs {
		i := -1
		for k := range j.rows {
			if j.rows[k].Collection == r.Collection && strings.EqualFold(j.rows[k].ID, r.ID) {
				i = k
				break
			}
		}
		row := journalRow{StoredObject: cloneStored(r), version: j.version}
		if i >= 0 {
			j.rows[i] = row // keeps its place: the creation order
		} else {
			j.rows = append(j.rows, row)
		}
	}
	return j.version, nil
}

func (tx *memoryTx) Rollback(context.Context) error {
	if tx.done {
		return nil
	}
	tx.done = true
	tx.j.writer.Unlock()
	return nil
}

func cloneStored(r StoredObject) StoredObject {
	r.Values = maps.Clone(r.Values)
	return r
}
