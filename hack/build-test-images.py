#!/usr/bin/env python3
"""Builds Liftoff's test images as OCI image layouts, from Debian's busybox-static, without Docker.

usage: build-test-images.py OUTDIR
       build-test-images.py --critest TOOLSDIR OUTDIR

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
With --critest: the stand-ins for the images critest (cri-tools v1.36.0) pulls, from the static programs
hack/build-critest-tools.sh built into TOOLSDIR; OUTDIR/images.txt lists `<layout> <upstream reference>`
(see critest() below for what each stand-in does).
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


# --- critest stand-ins -------------------------------------------------------------------------------

CRITEST_PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
                  "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
                  "www-data:x:33:33:www-data:/var/www:/bin/false\n"
                  "nobody:x:65534:65534:nobody:/home:/bin/false\n")
CRITEST_GROUP = "root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nnogroup:x:65534:\n"

# nginx stand-in: comm "nginx" (pidof finds it), "nginx: master process" in its command line (as
# nginx rewrites its argv; critest's ContainerPID spec greps /proc/1/cmdline for it), its pid in
# /var/run/nginx.pid, busybox httpd serving /usr/share/nginx/html on $NGINX_PORT, exit on SIGTERM.
NGINX = """#!/bin/sh
# nginx stand-in for critest (liftoff hack/build-test-images.py): busybox httpd behind nginx's face.
if [ "$1" != "nginx: master process" ]; then exec /usr/sbin/nginx "nginx: master process" "$@"; fi
echo $$ >/var/run/nginx.pid
httpd -f -p "${NGINX_PORT:-80}" -h /usr/share/nginx/html &
trap 'kill $!; exit 0' TERM INT QUIT
wait
"""

HTTPD = """#!/bin/sh
# httpd stand-in for critest (liftoff hack/build-test-images.py): says so on stderr, then serves
# /usr/local/apache2/htdocs on port 80 with busybox httpd.
echo "httpd-foreground: busybox httpd serving /usr/local/apache2/htdocs on port 80" >&2
exec httpd -f -v -p 80 -h /usr/local/apache2/htdocs
"""


def critest_busybox_layer(bb, passwd=CRITEST_PASSWD, group=CRITEST_GROUP):
    """A busybox image's tree: every applet a hard link to /bin/busybox (as in Docker's busybox image,
    so that masking /bin/ls masks only ls), /etc/passwd and /etc/group."""
    l = Layer()
    with open(bb, "rb") as f:
        data = f.read()
    applets = subprocess.run([bb, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "home", "root", "var", "var/run", "var/www",
            "dev", "proc", "sys", "run", "tmp"}
    for d in sorted(dirs):
        l.dir(d, 0o1777 if d == "tmp" else 0o700 if d == "root" else 0o755)
    l.file("bin/busybox", data, 0o755)
    for a in sorted(set(applets)):
        if "/" in a and a != "bin/busybox" and a.rsplit("/", 1)[0] in dirs:
            l.hardlink(a, "bin/busybox")
    l.file("etc/passwd", passwd)
    l.file("etc/group", group)
    return l


def critest(tools, out):
    bb = os.path.join(tools, "busybox")
    os.makedirs(out, exist_ok=True)
    names = []  # (layout, upstream reference)

    def image(layout, refs, layers, config):
        lay = Layout(os.path.join(out, layout))
        lay.tag(lay.image(layers, dict({"Env": ENV}, **config)), "latest")
        lay.save()
        names.extend((layout, r) for r in refs)

    def marker(name):
        # busybox and a file naming the image: distinct images get distinct IDs; critest also runs
        # some of them with their default command.
        l = Layer()
        l.file("critest-image", name + "\n")
        return [critest_busybox_layer(bb), l]

    def program(path, src, mode=0o755):
        l = Layer()
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            l.dir("/".join(parts[:i]), 0o755)
        with open(os.path.join(tools, src), "rb") as f:
            l.file(path, f.read(), mode)
        return l

    k8s, staging = "registry.k8s.io/e2e-test-images/", "gcr.io/k8s-staging-cri-tools/"

    # The default container image: top, pgrep, ipcs, brctl, ping, netstat, pidof, … (critest runs them).
    image("busybox", [k8s + "busybox:1.29-2"], [critest_busybox_layer(bb)], {"Cmd": ["sh"]})

    def web(layout, ref, port):
        www = Layer()
        for d in ("usr/share", "usr/share/nginx", "usr/share/nginx/html"):
            www.dir(d)
        www.file("usr/share/nginx/html/index.html", "<html><body>liftoff critest nginx stand-in</body></html>\n")
        www.file("usr/sbin/nginx", NGINX, 0o755)
        image(layout, [ref], [critest_busybox_layer(bb), www],
              {"Cmd": ["nginx", "-g", "daemon off;"], "Env": ENV + ["NGINX_PORT=%d" % port],
               "ExposedPorts": {"%d/tcp" % port: {}}, "StopSignal": "SIGTERM"})

    web("nginx", k8s + "nginx:1.14-2", 80)
    web("hostnet-nginx", staging + "hostnet-nginx-amd64", 12003)

    h = Layer()
    for d in ("usr/local", "usr/local/bin", "usr/local/apache2", "usr/local/apache2/htdocs"):
        h.dir(d)
    h.file("usr/local/apache2/htdocs/index.html", "<html><body>It works!</body></html>\n")
    h.file("usr/local/bin/httpd-foreground", HTTPD, 0o755)
    image("httpd", [k8s + "httpd:2.4.39-4"], [critest_busybox_layer(bb), h],
          {"Cmd": ["httpd-foreground"], "ExposedPorts": {"80/tcp": {}}})

    # nonewprivs: a setuid-root program printing its effective uid.
    image("nonewprivs", [k8s + "nonewprivs:1.3"], [program("usr/local/bin/nnp", "nnp", 0o4755)],
          {"Entrypoint": ["/usr/local/bin/nnp"]})

    # pause, the same image under two registries' names.
    image("pause", ["registry.k8s.io/pause:3.9", "k8s.gcr.io/pause:3.9"], [program("pause", "pause")],
          {"Entrypoint": ["/pause"]})

    for name in ("test-image-latest", "test-image-1", "test-image-2", "test-image-3"):
        image(name, [staging + name + ":latest"], marker(name), {"Cmd": ["sh"]})
    image("test-image-tag-test", [staging + "test-image-tag:test"], marker("test-image-tag:test"), {"Cmd": ["sh"]})
    image("test-image-tag-all", [staging + "test-image-tag:all"], marker("test-image-tag:all"), {"Cmd": ["sh"]})
    image("test-image-tags", [staging + "test-image-tags:%d" % i for i in (1, 2, 3)], marker("test-image-tags"),
          {"Cmd": ["sh"]})

    # Image users: status reports uid for a numeric user, username for a name (with or without a group).
    for name, user in (("test-image-user-uid", "1002"), ("test-image-user-username", "www-data"),
                       ("test-image-user-uid-group", "1003:1003"),
                       ("test-image-user-username-group", "www-data:www-data")):
        image(name, [staging + name + ":latest"], marker(name), {"User": user, "Cmd": ["sh"]})

    # default-user (1000) belongs to group-defined-in-image (50000) in /etc/group.
    image("test-image-predefined-group", [staging + "test-image-predefined-group:latest"],
          [critest_busybox_layer(bb, CRITEST_PASSWD + "default-user:x:1000:1000::/home:/bin/sh\n",
                                 CRITEST_GROUP + "default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n")],
          {"User": "default-user", "Cmd": ["sh"]})

    with open(os.path.join(out, "images.txt"), "w") as f:
        for layout, ref in names:
            f.write("%s %s\n" % (layout, ref))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--critest":
        critest(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit(__doc__)
