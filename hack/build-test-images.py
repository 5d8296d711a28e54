#!/usr/bin/env python3
"""Builds Liftoff's test images as OCI image layouts, from Debian's busybox-static, without Docker.

usage: build-test-images.py OUTDIR

Writes one OCI layout per image under OUTDIR/<name>/ (oci-layout, index.json, blobs/sha256/...),
each index.json naming its image with org.opencontainers.image.ref.name = the tag:

  busybox   busybox-static + applet symlinks, /etc/passwd and /etc/group (root 0, nobody 65534,
            user 1000 with supplementary group 'staff' 50), Cmd ["sh"]
  web       busybox + /www/index.html ("liftoff-test-web"), Cmd httpd -f -p 80 -h /www, ExposedPorts 80/tcp
  layers    three layers exercising whiteouts, an opaque directory, hardlinks, symlinks, ownership,
            modes, a fifo; the expected final tree is documented in Tests/LiftoffImageTests
  multiarch an OCI index: linux/amd64, linux/arm64/v8, linux/arm/v7 (each with /platform naming it)
  docker    a Docker v2 schema 2 manifest (Docker media types) of the busybox layer
  dockerlist a Docker manifest list: linux/arm64 and linux/amd64
Deterministic: the same inputs give the same digests (fixed mtimes, sorted entries, gzip mtime 0).
"""
import gzip, hashlib, io, json, os, subprocess, sys, tarfile

MTIME = 1700000000
BUSYBOX = "/bin/busybox"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
D_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
D_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
D_CONFIG = "application/vnd.docker.container.image.v1+json"
D_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


class Layer:
    """A tar built in memory; add() in order; entries keep their order."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, name, type_, mode, uid=0, gid=0):
        ti = tarfile.TarInfo(name)
        ti.type = type_
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.uname = ti.gname = ""
        ti.mtime = MTIME
        return ti

    def dir(self, name, mode=0o755, uid=0, gid=0):
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid, gid))

    def file(self, name, data, mode=0o644, uid=0, gid=0):
        if isinstance(data, str):
            data = data.encode()
        ti = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))

    def symlink(self, name, target, uid=0, gid=0):
        ti = self._info(name, tarfile.SYMTYPE, 0o777, uid, gid)
        ti.linkname = target
        self.tar.addfile(ti)

    def hardlink(self, name, target):
        ti = self._info(name, tarfile.LNKTYPE, 0o644)
        ti.linkname = target
        self.tar.addfile(ti)

    def fifo(self, name, mode=0o600):
        self.tar.addfile(self._info(name, tarfile.FIFOTYPE, mode))

    def finish(self):
        self.tar.close()
        raw = self.buf.getvalue()
        gz = io.BytesIO()
        with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=6) as g:
            g.write(raw)
        return raw, gz.getvalue()


class Layout:
    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.index = []

    def blob(self, data, media_type, **extra):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.path, "blobs", "sha256", d), "wb") as f:
            f.write(data)
        desc = {"mediaType": media_type, "digest": "sha256:" + d, "size": len(data)}
        desc.update(extra)
        return desc

    def json_blob(self, obj, media_type, **extra):
        return self.blob(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode(), media_type, **extra)

    def image(self, layers, config, arch="amd64", variant=None, docker=False, platform=False):
        """layers: list of Layer (finished here). Returns the manifest descriptor."""
        diff_ids, descs = [], []
        for l in layers:
            raw, gz = l.finish()
            diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
            descs.append(self.blob(gz, D_LAYER if docker else OCI_LAYER))
        cfg = {"architecture": arch, "os": "linux", "created": "2023-11-14T22:13:20Z",
               "config": config, "rootfs": {"type": "layers", "diff_ids": diff_ids},
               "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "liftoff build-test-images.py"}]}
        if variant:
            cfg["variant"] = variant
        cdesc = self.json_blob(cfg, D_CONFIG if docker else OCI_CONFIG)
        m = {"schemaVersion": 2, "mediaType": D_MANIFEST if docker else OCI_MANIFEST,
             "config": cdesc, "layers": descs}
        extra = {}
        if platform:
            extra["platform"] = {"architecture": arch, "os": "linux"}
            if variant:
                extra["platform"]["variant"] = variant
        return self.json_blob(m, m["mediaType"], **extra)

    def tag(self, desc, tag):
        d = dict(desc)
        d["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.index.append(d)

    def save(self):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.index}, f, indent=1)


def busybox_layer(extra_files=None):
    l = Layer()
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for d in ["bin", "etc", "home", "root", "usr", "usr/bin", "var", "var/tmp", "dev", "proc", "sys", "run"]:
        l.dir(d, 0o700 if d == "root" else 0o755)
    l.dir("tmp", 0o1777)
    l.dir("home/user", 0o750, 1000, 1000)
    l.file("bin/busybox", bb, 0o755)
    for a in sorted(set(applets)):
        if a != "busybox":
            l.symlink("bin/" + a, "busybox")
    l.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                         "user:x:1000:1000:user:/home/user:/bin/sh\n"
                         "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    l.file("etc/group", "root:x:0:\nstaff:x:50:user\nuser:x:1000:\nnogroup:x:65534:\n")
    l.file("etc/hostname", "liftoff-test\n")
    for name, data in (extra_files or {}).items():
        l.file(name, data)
    return l


ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def main(out):
    # busybox
    lay = Layout(os.path.join(out, "busybox"))
    lay.tag(lay.image([busybox_layer()], {"Env": ENV, "Cmd": ["sh"]}), "latest")
    lay.save()

    # web
    lay = Layout(os.path.join(out, "web"))
    www = Layer()
    www.dir("www", 0o755)
    www.file("www/index.html", "liftoff-test-web\n")
    lay.tag(lay.image([busybox_layer(), www],
                      {"Env": ENV, "Cmd": ["httpd", "-f", "-p", "80", "-h", "/www"],
                       "ExposedPorts": {"80/tcp": {}}, "WorkingDir": "/www"}), "latest")
    lay.save()

    # layers: whiteouts, opaque dir, hardlinks, symlinks, ownership, modes
    lay = Layout(os.path.join(out, "layers"))
    l1 = Layer()
    l1.dir("a", 0o755)
    l1.file("a/keep", "keep\n")
    l1.file("a/gone", "gone\n")
    l1.dir("a/gonedir", 0o755)
    l1.file("a/gonedir/inner", "inner\n")
    l1.dir("opq", 0o755)
    l1.file("opq/old1", "old1\n")
    l1.file("opq/old2", "old2\n")
    l1.file("replaced", "v1\n")
    l1.dir("b", 0o755)
    l1.file("b/setuid", "#!/bin/sh\n", 0o4755)
    l2 = Layer()
    l2.dir("a", 0o755)
    l2.file("a/.wh.gone", b"")
    l2.file("a/.wh.gonedir", b"")
    l2.dir("opq", 0o700, 1000, 1000)
    l2.file("opq/.wh..wh..opq", b"")
    l2.file("opq/new", "new\n", 0o600, 1000, 1000)
    l2.file("replaced", "v2\n", 0o640, 0, 50)
    l2.dir("c", 0o750, 1000, 50)
    l2.file("c/original", "linked\n", 0o644)
    l2.hardlink("c/hardlink", "c/original")
    l2.symlink("c/rel", "original")
    l2.symlink("c/abs", "/a/keep")
    l2.symlink("c/dangling", "../nowhere")
    l2.fifo("c/fifo", 0o620)
    l3 = Layer()
    l3.dir("b", 0o755)
    l3.file("b/.wh.setuid", b"")
    l3.file("b/added", "added\n", 0o444, 65534, 65534)
    lay.tag(lay.image([l1, l2, l3], {"Env": ENV, "Cmd": ["/bin/sh"], "User": "1000:50",
                                     "WorkingDir": "/c", "Labels": {"liftoff.test": "layers"}}), "latest")
    lay.save()

    # multiarch: an OCI index
    lay = Layout(os.path.join(out, "multiarch"))
    descs = []
    for arch, variant in (("arm64", "v8"), ("amd64", None), ("arm", "v7")):
        pl = Layer()
        pl.file("platform", "linux/%s%s\n" % (arch, "/" + variant if variant else ""))
        descs.append(lay.image([pl], {"Cmd": ["cat", "/platform"]}, arch=arch, variant=variant, platform=True))
    idx = lay.json_blob({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}, OCI_INDEX)
    lay.tag(idx, "latest")
    lay.save()

    # docker: v2 schema 2
    lay = Layout(os.path.join(out, "docker"))
    lay.tag(lay.image([busybox_layer()], {"Env": ENV, "Cmd": ["sh"]}, docker=True), "latest")
    lay.save()

    # dockerlist: Docker manifest list
    lay = Layout(os.path.join(out, "dockerlist"))
    descs = []
    for arch in ("arm64", "amd64"):
        pl = Layer()
        pl.file("platform", "linux/%s\n" % arch)
        descs.append(lay.image([pl], {"Cmd": ["cat", "/platform"]}, arch=arch, docker=True, platform=True))
    idx = lay.json_blob({"schemaVersion": 2, "mediaType": D_LIST, "manifests": descs}, D_LIST)
    lay.tag(idx, "latest")
    lay.save()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
