package cmsapi

import (
	"strconv"
	"strings"
)

// maxBulkRange caps how many spaces one parameter set may describe
// (failedIndexRangeTooGreat beyond it).
const maxBulkRange = 10000

// ExpandTemplate expands a coSpace bulk mapping for one index as CMS does: $index$ is
// the index, \$ a literal $ and \\ a literal backslash. A non-empty template without
// $index$ gets the index appended (TMS sends coSpaceNameMapping=TMS_Scheduled_Meeting_
// and the spaces are named TMS_Scheduled_Meeting_1 ... _5); an empty one stays empty.
func ExpandTemplate(tmpl string, index int) string {
	if tmpl == "" {
		return ""
	}
	var b strings.Builder
	n := strconv.Itoa(index)
	found := false
	for i := 0; i < len(tmpl); i++ {
		switch {
		case tmpl[i] == '\\' && i+1 < len(tmpl) && (tmpl[i+1] == '$' || tmpl[i+1] == '\\'):
			b.WriteByte(tmpl[i+1])
			i++
		case strings.HasPrefix(tmpl[i:], "$index$"):
			b.WriteString(n)
			found = true
			i += len("$index$") - 1
		default:
			b.WriteByte(tmpl[i])
		}
	}
	if !found {
		b.WriteString(n)
	}
	return b.String()
}

// runBulkSync applies a parameter set: it creates (or updates) one space per index, and
// with removeAll first deletes the spaces the set created before. The sync's status
// ends complete or failed...; TMS polls it.
func (s *Server) runBulkSync(syncID string, removeAll bool) {
	st := s.store
	var status string
	err := st.write(func() error {
		syncs := typeOf("cospaceBulkSyncs", nil)
		sync := st.find(syncs, "", syncID)
		if sync == nil {
			return nil
		}
		status = st.bulkSyncLocked(sync.values["cospaceBulkParameterSet"], removeAll)
		sync.values["status"] = status
		return nil
	})
	if err != nil {
		s.log.Error("cmsapi: coSpace bulk sync not written", "id", syncID, "err", err)
		return
	}
	s.log.Info("cmsapi: coSpace bulk sync", "id", syncID, "status", status)
}

func (st *Store) bulkSyncLocked(setID string, removeAll bool) string {
	sets := typeOf("cospaceBulkParameterSets", nil)
	spaces := typeOf("coSpaces", nil)
	set := st.find(sets, "", setID)
	if set == nil {
		return "failedNoSuchParameterSet"
	}
	start, err1 := strconv.Atoi(set.values["startIndex"])
	end, err2 := strconv.Atoi(set.values["endIndex"])
	switch {
	case err1 != nil || err2 != nil || start < 0 || end < start:
		return "failedIndexRangeInvalid"
	case end-start+1 > maxBulkRange:
		return "failedIndexRangeTooGreat"
	}
	mine := map[int]*object{}
	var others []*object
	for _, o := range st.objects[spaces] {
		if o.bulkSet == set.id {
			mine[o.bulkIndex] = o
		} else {
			others = append(others, o)
		}
	}
	// Check every space before changing any.
	uris, callIDs := map[string]bool{}, map[string]bool{}
	for _, o := range others {
		for _, k := range []string{"uri", "secondaryUri"} {
			if v := o.values[k]; v != "" {
				uris[v] = true
			}
		}
		if v := o.values["callId"]; v != "" {
			callIDs[v] = true
		}
	}
	type planned struct{ name, uri, callID string }
	plan := make([]planned, 0, end-start+1)
	for i := start; i <= end; i++ {
		p := planned{
			name:   ExpandTemplate(set.values["coSpaceNameMapping"], i),
			uri:    strings.ToLower(ExpandTemplate(set.values["coSpaceUriMapping"], i)),
			callID: ExpandTemplate(set.values["coSpaceCallIdMapping"], i),
		}
		if p.uri != "" && uris[p.uri] {
			return "failedCoSpaceUriConflict"
		}
		if p.callID != "" && callIDs[p.callID] {
			return "failedCallIdConflict"
		}
		for _, c := range p.callID {
			if c < '0' || c > '9' {
				return "failed"
			}
		}
		uris[p.uri], callIDs[p.callID] = p.uri != "", p.callID != ""
		plan = append(plan, p)
	}
	if removeAll {
		for _, o := range mine {
			st.removeLocked(spaces, o)
		}
		mine = map[int]*object{}
	}
	for i, p := range plan {
		index := start + i
		o := mine[index]
		if o == nil {
			o = &object{id: NewID(), values: map[string]string{"secret": NewID()}, bulkSet: set.id, bulkIndex: index}
			st.objects[spaces] = append(st.objects[spaces], o)
		}
		for k, v := range map[string]string{"name": p.name, "uri": p.uri, "callId": p.callID} {
			if v != "" {
				o.values[k] = v
			}
		}
		for _, k := range []string{"tenant", "callProfile", "callLegProfile", "callBrandingProfile", "nonMemberAccess"} {
			if v := set.values[k]; v != "" {
				o.values[k] = v
			}
		}
	}
	// Spaces of this set now outside its range go.
	for index, o := range mine {
		if index < start || index > end {
			st.removeLocked(spaces, o)
		}
	}
	return "complete"
}

func (st *Store) removeLocked(t *objectType, o *object) {
	list := st.objects[t]
	for i, x := range list {
		if x == o {
			st.objects[t] = append(list[:i:i], list[i+1:]...)
			st.deleteChildren(t, o.id)
			return
		}
	}
}
