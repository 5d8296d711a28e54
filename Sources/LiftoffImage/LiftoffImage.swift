// LiftoffImage — see shared/STYLE.md for its role.
import LiftoffCore
// Its records and lookups (ImageCatalog, ImageRecord, NameRecord, ImageSummary) come with it.
@_exported import LiftoffCatalog
