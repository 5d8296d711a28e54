#!/usr/bin/env python3
"""Pushes an OCI image layout to a registry with the distribution API (Python 3 stdlib only).

usage: push-image.py [--user U:P] [--cacert FILE] [--insecure] LAYOUT_DIR REGISTRY/REPO[:TAG]

Pushes the manifest tagged TAG in LAYOUT_DIR/index.json (annotation org.opencontainers.image.ref.name;
the only one when the index has one entry) and everything it references: blobs via
POST /v2/<repo>/blobs/uploads/ then PUT <location>?digest=…, child manifests of an index by digest,
then the top manifest by tag. https:// is used when --cacert or --insecure is given, else http://.
"""
import base64, json, os, ssl, sys, urllib.error, urllib.parse, urllib.request


def main(argv):
    user = cacert = None
    insecure = False
    args = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--user":
            user = argv[i + 1]; i += 2; continue
        if a == "--cacert":
            cacert = argv[i + 1]; i += 2; continue
        if a == "--insecure":
            insecure = True; i += 1; continue
        args.append(a); i += 1
    if len(args) != 2:
        sys.exit(__doc__)
    layout, ref = args
    host, _, rest = ref.partition("/")
    repo, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
    tls = cacert is not None or insecure
    base = ("https://" if tls else "http://") + host
    ctx = None
    if tls:
        ctx = ssl.create_default_context(cafile=cacert)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    headers = {}
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()

    def req(method, url, data=None, extra=None):
        h = dict(headers)
        h.update(extra or {})
        r = urllib.request.Request(url if url.startswith("http") else base + url, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(r, context=ctx) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def blob_path(d):
        return os.path.join(layout, "blobs", *d.split(":", 1))

    def push_blob(d):
        st, _, _ = req("HEAD", "/v2/%s/blobs/%s" % (repo, d))
        if st == 200:
            return
        st, h, body = req("POST", "/v2/%s/blobs/uploads/" % repo)
        if st != 202:
            sys.exit("push-image: upload start for %s: HTTP %d %s" % (d, st, body[:200]))
        loc = h["Location"]
        if not loc.startswith("http"):
            loc = base + loc
        sep = "&" if "?" in loc else "?"
        with open(blob_path(d), "rb") as f:
            data = f.read()
        st, _, body = req("PUT", loc + sep + "digest=" + urllib.parse.quote(d), data,
                          {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        if st != 201:
            sys.exit("push-image: upload %s: HTTP %d %s" % (d, st, body[:200]))

    def push_manifest(desc, reference):
        with open(blob_path(desc["digest"]), "rb") as f:
            data = f.read()
        m = json.loads(data)
        for child in m.get("manifests", []):
            push_manifest(child, child["digest"])
        if "config" in m:
            push_blob(m["config"]["digest"])
        for l in m.get("layers", []):
            push_blob(l["digest"])
        st, _, body = req("PUT", "/v2/%s/manifests/%s" % (repo, reference), data, {"Content-Type": desc["mediaType"]})
        if st != 201:
            sys.exit("push-image: manifest %s: HTTP %d %s" % (reference, st, body[:300]))

    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    entries = index["manifests"]
    chosen = [e for e in entries if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    if not chosen and len(entries) == 1:
        chosen = entries
    if not chosen:
        sys.exit("push-image: no manifest tagged %s in %s" % (tag, layout))
    push_manifest(chosen[0], tag)
    print("%s@%s" % (ref, chosen[0]["digest"]))


if __name__ == "__main__":
    main(sys.argv[1:])
