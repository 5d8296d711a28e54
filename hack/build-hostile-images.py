#!/usr/bin/env python3
"""Builds the hostile images of Liftoff's escape suite (Tests/*/EscapeTests.swift) as OCI layouts,
from Debian's busybox-static with build-test-images.py's machinery, without Docker.

usage: build-hostile-images.py OUTDIR

  hostile-workdir   busybox with WorkingDir /proc/self/fd/3: a working directory through a descriptor
                    that stage1 might leak (runc CVE-2024-21626)
  hostile-symlinks  busybox whose /cni is an absolute symlink to a host directory, HOSTILE_TARGET
                    (default /tmp/liftoff-hostile-target; what /etc/cni/net.d would be to an attacker):
                    a volume mounted through it must stay inside the rootfs; and whose /etc is a symlink
                    to HOSTILE_TARGET too: a user lookup must not read the host's HOSTILE_TARGET/passwd
"""
import importlib.util, os, sys

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("testimages", os.path.join(here, "build-test-images.py"))
ti = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ti)


def main(out):
    target = os.environ.get("HOSTILE_TARGET", "/tmp/liftoff-hostile-target")

    lay = ti.Layout(os.path.join(out, "hostile-workdir"))
    lay.tag(lay.image([ti.busybox_layer()], {"Env": ti.ENV, "Cmd": ["sh"], "WorkingDir": "/proc/self/fd/3"}), "latest")
    lay.save()

    top = ti.Layer()
    top.symlink("cni", target)
    top.symlink("etc", target)
    lay = ti.Layout(os.path.join(out, "hostile-symlinks"))
    lay.tag(lay.image([ti.busybox_layer(), top], {"Env": ti.ENV, "Cmd": ["sh"]}), "latest")
    lay.save()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
