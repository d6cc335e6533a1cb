package session

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/convo-dev/convo/internal/searchtext"
	"github.com/convo-dev/convo/message"
)

// MemoryStore is a Store that keeps sessions in memory. It is the reference
// implementation of the contract: it implements Store and every capability
// (Opener, Describer, Lister, Searcher, OwnerEraser, Pruner, Importer,
// Quarantiner, Forker, Watcher, FeedTrimmer), and its sessions implement
// Versioned, Rewriter and Ranger. It passes sessiontest.Run.
//
// It is safe for concurrent use. It has no size limit, so it never returns
// ErrTooLarge. Nothing survives the process; use it in tests, examples and
// short-lived programs.
type MemoryStore struct {
	mu       sync.RWMutex
	sessions map[string]*memSession
	nextInc  uint64 // incarnation counter: tells a re-created session from a deleted one
	feed     memFeed
}

// Compile-time checks that MemoryStore implements the contract.
var (
	_ Store       = (*MemoryStore)(nil)
	_ Opener      = (*MemoryStore)(nil)
	_ Describer   = (*MemoryStore)(nil)
	_ Lister      = (*MemoryStore)(nil)
	_ Searcher    = (*MemoryStore)(nil)
	_ OwnerEraser = (*MemoryStore)(nil)
	_ Pruner      = (*MemoryStore)(nil)
	_ Importer    = (*MemoryStore)(nil)
	_ Forker      = (*MemoryStore)(nil)
	_ Versioned   = (*memHandle)(nil)
	_ Rewriter    = (*memHandle)(nil)
	_ Ranger      = (*memHandle)(nil)
)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{sessions: make(map[string]*memSession)}
}

// memSession is the stored state of one session. Guarded by MemoryStore.mu.
type memSession struct {
	inc       uint64
	owner     string
	title     string
	metadata  map[string]string
	createdAt int64
	updatedAt int64
	version   int64
	nextSeq   int64
	msgs      []memMessage
	ids       map[string]struct{}
	// quarantine holds the rows Quarantine moved aside, by seq.
	quarantine []QuarantinedRow
	// parentID and forkMsgID link a fork to its parent (see Forker).
	parentID, forkMsgID string
}

type memMessage struct {
	seq int64
	msg message.Message
}

// touch advances updatedAt, strictly, even on a coarse clock.
func (s *memSession) touch() {
	now := time.Now().UnixNano()
	if now <= s.updatedAt {
		now = s.updatedAt + 1
	}
	s.updatedAt = now
}

func (s *memSession) info(id string) Info {
	return Info{
		ID:            id,
		Owner:         s.owner,
		Title:         s.title,
		Metadata:      cloneMetadata(s.metadata),
		CreatedAt:     s.createdAt,
		UpdatedAt:     s.updatedAt,
		MessageCount:  int64(len(s.msgs)),
		Version:       s.version,
		ParentID:      s.parentID,
		ForkMessageID: s.forkMsgID,
	}
}

func cloneMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// Exists reports whether the session id exists. It fails with ErrInvalidID
// for an invalid id.
func (m *MemoryStore) Exists(ctx context.Context, id string) (bool, error) {
	if err := check(ctx, id); err != nil {
		return false, fmt.Errorf("memory: exists %q: %w", id, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.sessions[id]
	return ok, nil
}

// Create makes a new, empty session, or fails with ErrExists.
func (m *MemoryStore) Create(ctx context.Context, id string) (Session, error) {
	return m.CreateWith(ctx, id, CreateOptions{})
}

// CreateWith is Create with an owner, a title and metadata. It fails with
// ErrExists if the id is taken.
func (m *MemoryStore) CreateWith(ctx context.Context, id string, opts CreateOptions) (Session, error) {
	if err := check(ctx, id); err != nil {
		return nil, fmt.Errorf("memory: create %q: %w", id, err)
	}
	if opts.ParentID != "" {
		if err := ValidateID(opts.ParentID); err != nil {
			return nil, fmt.Errorf("memory: create %q: parent: %w", id, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[id]; ok {
		return nil, fmt.Errorf("memory: create %q: %w", id, ErrExists)
	}
	return m.createLocked(id, opts), nil
}

func (m *MemoryStore) createLocked(id string, opts CreateOptions) *memHandle {
	m.nextInc++
	now := time.Now().UnixNano()
	created := now
	if opts.CreatedAt != 0 {
		created = opts.CreatedAt
	}
	s := &memSession{
		inc:       m.nextInc,
		owner:     opts.Owner,
		title:     opts.Title,
		metadata:  cloneMetadata(opts.Metadata),
		createdAt: created,
		updatedAt: max(now, created),
		ids:       make(map[string]struct{}),
	}
	if opts.ParentID != "" {
		s.parentID, s.forkMsgID = opts.ParentID, opts.ForkMessageID
	}
	m.sessions[id] = s
	m.record(id, s, ChangeCreate, 0, -1, nil)
	return &memHandle{store: m, id: id, inc: s.inc}
}

// Load opens the session id, or fails with ErrNotFound.
func (m *MemoryStore) Load(ctx context.Context, id string) (Session, error) {
	if err := check(ctx, id); err != nil {
		return nil, fmt.Errorf("memory: load %q: %w", id, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.sessions[id]
	if !ok {
		return nil, fmt.Errorf("memory: load %q: %w", id, ErrNotFound)
	}
	return &memHandle{store: m, id: id, inc: s.inc}, nil
}

// Open loads the session id, creating it first if it does not exist, in one
// atomic step.
func (m *MemoryStore) Open(ctx context.Context, id string) (Session, error) {
	if err := check(ctx, id); err != nil {
		return nil, fmt.Errorf("memory: open %q: %w", id, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.sessions[id]; ok {
		return &memHandle{store: m, id: id, inc: s.inc}, nil
	}
	return m.createLocked(id, CreateOptions{}), nil
}

// Delete removes the session and its messages. Deleting a missing session
// is not an error.
func (m *MemoryStore) Delete(ctx context.Context, id string) error {
	if err := check(ctx, id); err != nil {
		return fmt.Errorf("memory: delete %q: %w", id, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.sessions[id]; ok {
		delete(m.sessions, id)
		m.record(id, s, ChangeDelete, 0, -1, nil)
	}
	return nil
}

// Info describes the session id, or fails with ErrNotFound.
func (m *MemoryStore) Info(ctx context.Context, id string) (Info, error) {
	if err := check(ctx, id); err != nil {
		return Info{}, fmt.Errorf("memory: info %q: %w", id, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.sessions[id]
	if !ok {
		return Info{}, fmt.Errorf("memory: info %q: %w", id, ErrNotFound)
	}
	return s.info(id), nil
}

// UpdateInfo changes the title or metadata of the session id, or fails with
// ErrNotFound. It advances UpdatedAt but not the version, and records a
// ChangeInfo in the feed (even if the values are the ones already there).
func (m *MemoryStore) UpdateInfo(ctx context.Context, id string, u InfoUpdate) error {
	if err := check(ctx, id); err != nil {
		return fmt.Errorf("memory: update info %q: %w", id, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return fmt.Errorf("memory: update info %q: %w", id, ErrNotFound)
	}
	if u.Title != nil {
		s.title = *u.Title
	}
	if u.Metadata != nil {
		s.metadata = cloneMetadata(u.Metadata)
	}
	s.touch()
	m.record(id, s, ChangeInfo, 0, -1, nil)
	return nil
}

// SetUpdatedAt sets the UpdatedAt of the session id to updatedAt, exactly,
// without changing its messages, version or info, and records no change in
// the feed. It fails with ErrNotFound
// if the session does not exist and refuses a zero or negative updatedAt.
func (m *MemoryStore) SetUpdatedAt(ctx context.Context, id string, updatedAt int64) error {
	if err := check(ctx, id); err != nil {
		return fmt.Errorf("memory: set updated time %q: %w", id, err)
	}
	if updatedAt <= 0 {
		return fmt.Errorf("memory: set updated time %q: %d is not a positive Unix time in nanoseconds", id, updatedAt)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return fmt.Errorf("memory: set updated time %q: %w", id, ErrNotFound)
	}
	s.updatedAt = updatedAt
	return nil
}

// List lists sessions newest-updated first (then by id descending), with
// keyset pagination. A Cursor that List did not make gives an error.
func (m *MemoryStore) List(ctx context.Context, q ListQuery) (ListPage, error) {
	if err := ctx.Err(); err != nil {
		return ListPage{}, fmt.Errorf("memory: list: %w", err)
	}
	var (
		cur    bool
		curAt  int64
		curID  string
		limit  = q.Limit
		result ListPage
	)
	if q.Cursor != "" {
		var err error
		curAt, curID, err = DecodeCursor(q.Cursor)
		if err != nil {
			return ListPage{}, fmt.Errorf("memory: list: %w", err)
		}
		cur = true
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)

	m.mu.RLock()
	rows := make([]Info, 0, len(m.sessions))
	for id, s := range m.sessions {
		switch {
		case q.Owner != "" && s.owner != q.Owner,
			!strings.HasPrefix(id, q.IDPrefix),
			q.UpdatedAfter != 0 && s.updatedAt <= q.UpdatedAfter,
			q.UpdatedBefore != 0 && s.updatedAt >= q.UpdatedBefore,
			cur && !(s.updatedAt < curAt || s.updatedAt == curAt && id < curID):
			continue
		}
		rows = append(rows, s.info(id))
	}
	m.mu.RUnlock()

	slices.SortFunc(rows, func(a, b Info) int {
		if a.UpdatedAt != b.UpdatedAt {
			if a.UpdatedAt > b.UpdatedAt {
				return -1
			}
			return 1
		}
		return -strings.Compare(a.ID, b.ID)
	})
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		result.Next = EncodeCursor(last.UpdatedAt, last.ID)
	}
	result.Sessions = rows
	return result, nil
}

// Search finds messages whose text, reasoning text or tool-result content
// matches q.Text, in the syntax and with the matching rules that every store
// shares (see Searcher). Hits are ordered by how often the query matches,
// then by session id and position.
func (m *MemoryStore) Search(ctx context.Context, q SearchQuery) ([]SearchHit, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: search: %w", err)
	}
	if q.SessionID != "" {
		if err := ValidateID(q.SessionID); err != nil {
			return nil, fmt.Errorf("memory: search: %w", err)
		}
	}
	query := searchtext.Parse(q.Text)
	if query.Empty() {
		return []SearchHit{}, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)

	type scored struct {
		hit   SearchHit
		score int
	}
	var hits []scored
	m.mu.RLock()
	for id, s := range m.sessions {
		if q.SessionID != "" && id != q.SessionID || q.Owner != "" && s.owner != q.Owner {
			continue
		}
		for _, mm := range s.msgs {
			text := searchtext.Text(mm.msg.Parts)
			toks := searchtext.Tokens(text)
			spans, ok := query.Matches(toks)
			if !ok {
				continue
			}
			hits = append(hits, scored{score: query.Count(toks), hit: SearchHit{
				SessionID: id,
				MessageID: mm.msg.ID,
				Seq:       mm.seq,
				Role:      mm.msg.Role,
				CreatedAt: mm.msg.CreatedAt,
				Snippet:   searchtext.Snippet(text, spans, HighlightStart, HighlightEnd),
			}})
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(hits, func(a, b scored) int {
		if a.score != b.score {
			return b.score - a.score
		}
		if c := strings.Compare(a.hit.SessionID, b.hit.SessionID); c != 0 {
			return c
		}
		return int(a.hit.Seq - b.hit.Seq)
	})
	out := make([]SearchHit, 0, min(len(hits), limit))
	for _, h := range hits[:min(len(hits), limit)] {
		out = append(out, h.hit)
	}
	return out, nil
}

// DeleteOwner deletes every session of owner, with its messages, in one
// step, and reports what it deleted. An empty owner is refused: it would
// erase every session that has no owner.
func (m *MemoryStore) DeleteOwner(ctx context.Context, owner string) (DeleteReport, error) {
	if err := ctx.Err(); err != nil {
		return DeleteReport{}, fmt.Errorf("memory: delete owner %q: %w", owner, err)
	}
	if owner == "" {
		return DeleteReport{}, fmt.Errorf("memory: delete owner: empty owner")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deleteLocked(func(s *memSession) bool { return s.owner == owner }, false), nil
}

// Prune deletes the sessions last updated before q.UpdatedBefore (of
// q.Owner, if set) in one step, and reports them. With q.DryRun it only
// reports. A zero UpdatedBefore is refused.
func (m *MemoryStore) Prune(ctx context.Context, q PruneQuery) (DeleteReport, error) {
	if err := ctx.Err(); err != nil {
		return DeleteReport{}, fmt.Errorf("memory: prune: %w", err)
	}
	if q.UpdatedBefore == 0 {
		return DeleteReport{}, fmt.Errorf("memory: prune: UpdatedBefore is not set")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deleteLocked(func(s *memSession) bool {
		return s.updatedAt < q.UpdatedBefore && (q.Owner == "" || s.owner == q.Owner)
	}, q.DryRun), nil
}

func (m *MemoryStore) deleteLocked(match func(*memSession) bool, dryRun bool) DeleteReport {
	var r DeleteReport
	for id, s := range m.sessions {
		if match(s) {
			r.SessionIDs = append(r.SessionIDs, id)
			r.Messages += int64(len(s.msgs))
		}
	}
	slices.Sort(r.SessionIDs)
	if !dryRun {
		for _, id := range r.SessionIDs {
			s := m.sessions[id]
			delete(m.sessions, id)
			m.record(id, s, ChangeDelete, 0, -1, nil)
		}
	}
	return r
}

// Fork creates the session id as a fork of parentID at the message
// atMessageID (see Forker). The fork shares the parent's stored message
// values instead of copying them: a stored message is never changed in
// place (every write stores a deep copy, every read returns one), so
// neither session can see what is done to the other afterwards. Its cost is
// one slice of message headers and one set of IDs, in proportion to the
// messages inherited, whatever their size.
func (m *MemoryStore) Fork(ctx context.Context, parentID, atMessageID, id string, opts CreateOptions) (Session, error) {
	if err := check(ctx, id); err != nil {
		return nil, fmt.Errorf("memory: fork %q into %q: %w", parentID, id, err)
	}
	if err := ValidateID(parentID); err != nil {
		return nil, fmt.Errorf("memory: fork %q into %q: %w", parentID, id, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.sessions[parentID]
	if !ok {
		return nil, fmt.Errorf("memory: fork %q into %q: %w", parentID, id, ErrNotFound)
	}
	n := 0
	if atMessageID != "" {
		i := slices.IndexFunc(p.msgs, func(mm memMessage) bool { return mm.msg.ID == atMessageID })
		if i < 0 {
			return nil, fmt.Errorf("memory: fork %q into %q at message %q: %w", parentID, id, atMessageID, ErrMessageNotFound)
		}
		n = i + 1
	}
	if _, ok := m.sessions[id]; ok {
		return nil, fmt.Errorf("memory: fork %q into %q: %w", parentID, id, ErrExists)
	}
	if opts.Owner == "" {
		opts.Owner = p.owner
	}
	if opts.Title == "" {
		opts.Title = p.title
	}
	if opts.Metadata == nil {
		opts.Metadata = p.metadata
	}
	opts.ParentID, opts.ForkMessageID = parentID, atMessageID
	h := m.createLocked(id, opts)
	s := m.sessions[id]
	s.msgs = slices.Clone(p.msgs[:n])
	for _, mm := range s.msgs {
		s.ids[mm.msg.ID] = struct{}{}
	}
	if n > 0 {
		s.nextSeq = s.msgs[n-1].seq
		// The create change createLocked recorded carries the history.
		c := &m.feed.log[len(m.feed.log)-1]
		c.from, c.to = s.msgs[0].seq, s.nextSeq
	}
	s.parentID, s.forkMsgID = parentID, atMessageID
	return h, nil
}

// memHandle is a Session of a MemoryStore. It stays bound to the incarnation
// of the session it was made for: once that session is deleted, even if the
// id is created again, every call fails with ErrNotFound.
type memHandle struct {
	store *MemoryStore
	id    string
	inc   uint64
}

// ID returns the session's id.
func (h *memHandle) ID() string { return h.id }

// lookup returns the stored session, or ErrNotFound. Call with store.mu held.
func (h *memHandle) lookup() (*memSession, error) {
	s, ok := h.store.sessions[h.id]
	if !ok || s.inc != h.inc {
		return nil, ErrNotFound
	}
	return s, nil
}

// GetMessages returns messages oldest first: all for a nil or negative
// limit, none for 0, the last n for n.
func (h *memHandle) GetMessages(ctx context.Context, limit *int) ([]message.Message, error) {
	msgs, _, err := h.snapshot(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("memory: get messages of %q: %w", h.id, err)
	}
	return msgs, nil
}

// Snapshot returns what GetMessages returns and the session's version, read
// atomically.
func (h *memHandle) Snapshot(ctx context.Context, limit *int) ([]message.Message, int64, error) {
	msgs, v, err := h.snapshot(ctx, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("memory: snapshot of %q: %w", h.id, err)
	}
	return msgs, v, nil
}

func (h *memHandle) snapshot(ctx context.Context, limit *int) ([]message.Message, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	h.store.mu.RLock()
	defer h.store.mu.RUnlock()
	s, err := h.lookup()
	if err != nil {
		return nil, 0, err
	}
	stored := s.msgs
	if limit != nil && *limit >= 0 && *limit < len(stored) {
		stored = stored[len(stored)-*limit:]
	}
	out := make([]message.Message, len(stored))
	for i, mm := range stored {
		out[i] = cloneMessage(mm.msg)
	}
	return out, s.version, nil
}

// Range returns the stretch of the history q selects, oldest first, with
// each message's Seq (see Ranger).
func (h *memHandle) Range(ctx context.Context, q RangeQuery) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: range of %q: %w", h.id, err)
	}
	h.store.mu.RLock()
	defer h.store.mu.RUnlock()
	s, err := h.lookup()
	if err != nil {
		return nil, fmt.Errorf("memory: range of %q: %w", h.id, err)
	}
	after, before, limit := q.RangeBounds()
	// s.msgs is ordered by seq.
	lo := sort.Search(len(s.msgs), func(i int) bool { return s.msgs[i].seq > after })
	hi := sort.Search(len(s.msgs), func(i int) bool { return s.msgs[i].seq >= before })
	stretch := s.msgs[lo:max(lo, hi)]
	if len(stretch) > limit {
		if q.Newest {
			stretch = stretch[len(stretch)-limit:]
		} else {
			stretch = stretch[:limit]
		}
	}
	out := make([]Entry, len(stretch))
	for i, mm := range stretch {
		out[i] = Entry{Seq: mm.seq, Message: cloneMessage(mm.msg)}
	}
	return out, nil
}

// AddMessages appends msgs atomically, in order. It gives a message with an
// empty ID a new one and one with a zero CreatedAt the current time, writing
// both into msgs, and skips messages whose ID the session already holds.
// An invalid message fails the whole call with ErrInvalidMessage.
func (h *memHandle) AddMessages(ctx context.Context, msgs []message.Message) error {
	if _, err := h.add(ctx, msgs, false, 0); err != nil {
		return fmt.Errorf("memory: append to %q: %w", h.id, err)
	}
	return nil
}

// AddMessagesAt is AddMessages done only if the session is at version
// expected; otherwise it stores nothing and fails with ErrConflict. A call
// whose messages are all stored already succeeds whatever the version. It
// returns the session's version after the call.
func (h *memHandle) AddMessagesAt(ctx context.Context, expected int64, msgs []message.Message) (int64, error) {
	v, err := h.add(ctx, msgs, true, expected)
	if err != nil {
		return 0, fmt.Errorf("memory: append to %q at version %d: %w", h.id, expected, err)
	}
	return v, nil
}

// add appends msgs; with versioned, only if the session is at expected.
func (h *memHandle) add(ctx context.Context, msgs []message.Message, versioned bool, expected int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for i := range msgs {
		if err := msgs[i].Validate(); err != nil {
			return 0, fmt.Errorf("%w: message %d: %w", ErrInvalidMessage, i, err)
		}
	}
	now := time.Now().UnixNano()
	for i := range msgs {
		if msgs[i].ID == "" {
			msgs[i].ID = message.NewID()
		}
		if msgs[i].CreatedAt == 0 {
			msgs[i].CreatedAt = now
		}
	}
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	s, err := h.lookup()
	if err != nil {
		return 0, err
	}
	seen := make(map[string]struct{}, len(msgs))
	var fresh []message.Message
	for _, msg := range msgs {
		if _, ok := s.ids[msg.ID]; ok {
			continue
		}
		if _, ok := seen[msg.ID]; ok {
			continue
		}
		seen[msg.ID] = struct{}{}
		fresh = append(fresh, msg)
	}
	if len(fresh) == 0 {
		return s.version, nil
	}
	if versioned && expected != s.version {
		return 0, fmt.Errorf("%w: session is at version %d", ErrConflict, s.version)
	}
	from := s.nextSeq + 1
	for _, msg := range fresh {
		s.nextSeq++
		s.msgs = append(s.msgs, memMessage{seq: s.nextSeq, msg: cloneMessage(msg)})
		s.ids[msg.ID] = struct{}{}
	}
	s.version++
	s.touch()
	h.store.record(h.id, s, ChangeAppend, from, s.nextSeq, nil)
	return s.version, nil
}

// PopMessage removes and returns the newest message, or nil, nil when the
// session is empty.
func (h *memHandle) PopMessage(ctx context.Context) (*message.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: pop from %q: %w", h.id, err)
	}
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	s, err := h.lookup()
	if err != nil {
		return nil, fmt.Errorf("memory: pop from %q: %w", h.id, err)
	}
	if len(s.msgs) == 0 {
		return nil, nil
	}
	last := s.msgs[len(s.msgs)-1]
	s.msgs[len(s.msgs)-1] = memMessage{}
	s.msgs = s.msgs[:len(s.msgs)-1]
	delete(s.ids, last.msg.ID)
	s.version++
	s.touch()
	h.store.record(h.id, s, ChangeRemove, 0, -1, []string{last.msg.ID})
	// A fork may share the stored message (see Fork): the caller gets a
	// copy of its own.
	out := cloneMessage(last.msg)
	return &out, nil
}

// Clear removes every message and keeps the session.
func (h *memHandle) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: clear %q: %w", h.id, err)
	}
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	s, err := h.lookup()
	if err != nil {
		return fmt.Errorf("memory: clear %q: %w", h.id, err)
	}
	s.msgs = nil
	s.ids = make(map[string]struct{})
	s.version++
	s.touch()
	h.store.record(h.id, s, ChangeClear, 0, -1, nil)
	return nil
}

// ReplaceMessages replaces the session's messages with msgs, atomically, if
// the session is still at version expected, else fails with ErrConflict.
func (h *memHandle) ReplaceMessages(ctx context.Context, expected int64, msgs []message.Message) (int64, error) {
	v, err := h.replace(ctx, expected, msgs)
	if err != nil {
		return 0, fmt.Errorf("memory: replace messages of %q: %w", h.id, err)
	}
	return v, nil
}

func (h *memHandle) replace(ctx context.Context, expected int64, msgs []message.Message) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := time.Now().UnixNano()
	ids := make(map[string]struct{}, len(msgs))
	for i := range msgs {
		if err := msgs[i].Validate(); err != nil {
			return 0, fmt.Errorf("%w: message %d: %w", ErrInvalidMessage, i, err)
		}
		if msgs[i].ID == "" {
			msgs[i].ID = message.NewID()
		}
		if msgs[i].CreatedAt == 0 {
			msgs[i].CreatedAt = now
		}
		if _, dup := ids[msgs[i].ID]; dup {
			return 0, fmt.Errorf("%w: message id %q appears twice", ErrInvalidMessage, msgs[i].ID)
		}
		ids[msgs[i].ID] = struct{}{}
	}
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	s, err := h.lookup()
	if err != nil {
		return 0, err
	}
	if expected != s.version {
		return 0, fmt.Errorf("%w: session is at version %d", ErrConflict, s.version)
	}
	s.msgs = make([]memMessage, 0, len(msgs))
	from := s.nextSeq + 1
	for _, msg := range msgs {
		s.nextSeq++
		s.msgs = append(s.msgs, memMessage{seq: s.nextSeq, msg: cloneMessage(msg)})
	}
	s.ids = ids
	s.version++
	s.touch()
	h.store.record(h.id, s, ChangeReplace, from, s.nextSeq, nil)
	return s.version, nil
}

// check returns ctx's error or ValidateID's.
func check(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ValidateID(id)
}

func cloneMessage(m message.Message) message.Message {
	if m.Parts != nil {
		parts := make([]message.Part, len(m.Parts))
		for i, p := range m.Parts {
			parts[i] = clonePart(p)
		}
		m.Parts = parts
	}
	if m.Usage != nil {
		u := *m.Usage
		m.Usage = &u
	}
	return m
}

func clonePart(p message.Part) message.Part {
	switch v := p.(type) {
	case message.Binary:
		v.Data = bytes.Clone(v.Data)
		return v
	case message.ToolCall:
		v.Input = bytes.Clone(v.Input)
		return v
	case message.ToolResult:
		v.Metadata = bytes.Clone(v.Metadata)
		return v
	case message.Unknown:
		v.Raw = bytes.Clone(v.Raw)
		return v
	}
	return p
}

var _ Quarantiner = (*MemoryStore)(nil)

// Quarantine moves the message msgID of session id aside (see
// Quarantiner). A memory store holds no undecodable row; the moved message
// is kept in its JSON encoding, as a SQL store keeps its row.
func (m *MemoryStore) Quarantine(ctx context.Context, id, msgID, reason string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: quarantine %q: %w", id, err)
	}
	if err := ValidateID(id); err != nil {
		return fmt.Errorf("memory: quarantine %q: %w", id, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return fmt.Errorf("memory: quarantine %q: %w", id, ErrNotFound)
	}
	i := slices.IndexFunc(s.msgs, func(mm memMessage) bool { return mm.msg.ID == msgID })
	if i < 0 {
		return fmt.Errorf("memory: quarantine %q: %w: no message %q", id, ErrNotFound, msgID)
	}
	seq := s.msgs[i].seq
	msg := s.msgs[i].msg
	parts, err := message.MarshalParts(msg.Parts)
	if err != nil {
		return fmt.Errorf("memory: quarantine %q: %w", id, err)
	}
	usage, err := message.MarshalUsage(msg.Usage)
	if err != nil {
		return fmt.Errorf("memory: quarantine %q: %w", id, err)
	}
	if len(usage) == 0 {
		usage = nil
	}
	s.quarantine = append(s.quarantine, QuarantinedRow{
		SessionID: id, Seq: seq, MessageID: msg.ID, Role: string(msg.Role), Model: msg.Model,
		Parts: parts, Usage: usage, CreatedAt: msg.CreatedAt, QuarantinedAt: time.Now().UnixNano(), Reason: reason,
	})
	slices.SortFunc(s.quarantine, func(a, b QuarantinedRow) int { return cmp.Compare(a.Seq, b.Seq) })
	s.msgs = slices.Delete(s.msgs, i, i+1)
	delete(s.ids, msg.ID)
	s.version++
	s.touch()
	m.record(id, s, ChangeRemove, 0, -1, []string{msg.ID})
	return nil
}

// Quarantined lists the rows moved aside from session id, by seq.
func (m *MemoryStore) Quarantined(ctx context.Context, id string) ([]QuarantinedRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: quarantined of %q: %w", id, err)
	}
	if err := ValidateID(id); err != nil {
		return nil, fmt.Errorf("memory: quarantined of %q: %w", id, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.sessions[id]
	if !ok {
		return nil, fmt.Errorf("memory: quarantined of %q: %w", id, ErrNotFound)
	}
	out := make([]QuarantinedRow, len(s.quarantine))
	for i, r := range s.quarantine {
		r.Parts, r.Usage = slices.Clone(r.Parts), slices.Clone(r.Usage)
		out[i] = r
	}
	return out, nil
}
