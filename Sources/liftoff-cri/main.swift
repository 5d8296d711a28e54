import LiftoffCRI
print("liftoff-cri: not built yet")
