// LiftoffNet — see shared/STYLE.md for its role.
import LiftoffCore
