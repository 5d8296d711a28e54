#if canImport(Glibc)
import Glibc
#endif
import LiftoffCore
print("liftoff-stage1: not built yet")
exit(1)
