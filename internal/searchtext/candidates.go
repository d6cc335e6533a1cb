package searchtext

// A store that takes candidates from an index and checks each by these
// rules drops the near misses (candidates that do not match: a stale
// index, a phrase at positions the engine clamps). When near misses leave a
// page of hits short, it asks the index again for more candidates, from the
// start, MaxCandidates at the most: a page holds Limit hits whenever that
// many messages match, unless more than MaxCandidates candidates ranked
// ahead of them were near misses.
const (
	// MaxCandidates bounds the candidates one search takes from an index.
	MaxCandidates = 10000
	// CandidateGrowth is the factor by which a search asks for more.
	CandidateGrowth = 8
)

// MoreCandidates returns how many candidates to ask for after a run that
// asked for n left the page short.
func MoreCandidates(n int) int { return min(n*CandidateGrowth, MaxCandidates) }

// Row names a stored message by its session and position, so that a search
// that runs its query again checks each row once.
type Row struct {
	Session string
	Seq     int64
}
