// LiftoffImage — see shared/STYLE.md for its role.
import LiftoffCore
// Its records and lookups (ImageCatalog, ImageRecord, NameRecord, ImageSummary) live in LiftoffCatalog,
// which a user of both imports itself (hack/check-deps.sh: no edge hidden by a re-export).
