// Package pgstore keeps the CMS API's shared state in PostgreSQL, for several API nodes
// in front of one cluster: the configuration objects (spaces, profiles, access methods,
// dial plan rules, CDR receivers: a cmsapi.Journal, given to cmsapi.NewSharedStore) and
// each node's live calls and legs with its heartbeat (a cmsapi.Registry, given to
// cmsapi.NewCluster).
//
// Tables (created when missing, under an advisory lock so that nodes starting together
// do not race):
//   - sipcast_cms_version: one row, the journal's version; a write holds it FOR UPDATE
//     for its transaction, so writes from all nodes are serialised and each is made on
//     the latest state (a space's URI is unique across the cluster).
//   - sipcast_cms_objects: one row per object (collection, id), its values as JSON (null
//     once deleted: a deletion is a row that other nodes read as such), the version that
//     last wrote it and the one that created it, with its place in that write (the
//     lists' order).
//   - sipcast_cms_nodes: one row per API node: its API URL, its heartbeat (the
//     database's clock, so the nodes' clocks do not matter) and its live objects as JSON.
//
// A node reads the versions after the one it last took in before each read of the
// store, one small query when nothing changed. Deleted objects stay as rows without
// values (a few hundred bytes each); nothing prunes them yet.
package pgstore
