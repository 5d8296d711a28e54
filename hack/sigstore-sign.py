#!/usr/bin/env python3
"""Signs images in a registry with sigstore (cosign) key-based signatures, for Liftoff's trust tests.

usage:
  sigstore-sign.py keygen --type ecdsa-p256|ed25519 --passphrase-file F OUT
      writes OUT.key, a private key in cosign's encrypted format (PEM "ENCRYPTED COSIGN PRIVATE KEY":
      JSON {kdf: scrypt N=32768 r=8 p=1 + salt, cipher: nacl/secretbox + nonce, ciphertext} around the
      PKCS#8 key — what `cosign generate-key-pair` writes and `skopeo copy --sign-by-sigstore-private-key`
      reads), and OUT.pub (PEM SubjectPublicKeyInfo, as cosign.pub)
  sigstore-sign.py sign --key OUT.key --passphrase-file F [--identity REF] [--digest D] [--corrupt] HOST/REPO:TAG
      signs the manifest HOST/REPO:TAG resolves to and adds the signature to the cosign attachment
      HOST/REPO:sha256-<hex>.sig, exactly as containers/image 5.23 writes it (signature/sigstore/sign.go,
      docker/docker_image_dest.go putSignaturesToSigstoreAttachments): payload
      {"critical": {"identity": {"docker-reference": REF}, "image": {"docker-manifest-digest": D},
      "type": "cosign container image signature"}, "optional": {"creator": …, "timestamp": …}},
      a layer of type application/vnd.dev.cosign.simplesigning.v1+json with the base64 signature in the
      annotation dev.cosignproject.cosign/signature (ECDSA P-256 over SHA-256, ASN.1 DER; Ed25519 over
      the payload), and an OCI config listing the layers as diff_ids.
      REF defaults to HOST/REPO:TAG, D to its digest; --identity and --digest sign something else (for
      tamper tests), --corrupt changes the payload after signing.
Registries on 127.0.0.1 / localhost are reached over plain HTTP.

Debian 12's skopeo 1.9.3 cannot do this: Debian's containers/image 5.23.1 is built with sigstore signing
and verifying disabled ("Debian-local change: sigstore disabled"). Needs python3-cryptography and
python3-nacl (hack/install-deps.sh).
"""
import argparse, base64, hashlib, json, os, sys, time, urllib.error, urllib.request

import nacl.secret
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
PAYLOAD_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
ACCEPT = ", ".join([OCI_MANIFEST, "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"])
SCRYPT = {"N": 32768, "r": 8, "p": 1}


def scrypt_key(passphrase, salt):
    return hashlib.scrypt(passphrase, salt=salt, n=SCRYPT["N"], r=SCRYPT["r"], p=SCRYPT["p"],
                          maxmem=128 << 20, dklen=32)


def keygen(kind, passphrase, out):
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa-p256" else ed25519.Ed25519PrivateKey.generate()
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(nacl.secret.SecretBox.NONCE_SIZE)
    sealed = nacl.secret.SecretBox(scrypt_key(passphrase, salt)).encrypt(der, nonce).ciphertext
    doc = {"kdf": {"name": "scrypt", "params": SCRYPT, "salt": base64.b64encode(salt).decode()},
           "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
           "ciphertext": base64.b64encode(sealed).decode()}
    body = base64.b64encode(json.dumps(doc).encode()).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    with open(out + ".key", "w") as f:
        f.write("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (PEM_TYPE, "\n".join(lines), PEM_TYPE))
    os.chmod(out + ".key", 0o600)
    with open(out + ".pub", "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def load_key(path, passphrase):
    text = open(path).read()
    begin, end = "-----BEGIN %s-----" % PEM_TYPE, "-----END %s-----" % PEM_TYPE
    if begin not in text:
        sys.exit("sigstore-sign: %s is not a cosign encrypted private key" % path)
    doc = json.loads(base64.b64decode("".join(text.split(begin)[1].split(end)[0].split())))
    if doc["kdf"]["name"] != "scrypt" or doc["cipher"]["name"] != "nacl/secretbox":
        sys.exit("sigstore-sign: %s: unsupported kdf or cipher" % path)
    p = doc["kdf"]["params"]
    k = hashlib.scrypt(passphrase, salt=base64.b64decode(doc["kdf"]["salt"]), n=p["N"], r=p["r"], p=p["p"],
                       maxmem=128 << 20, dklen=32)
    der = nacl.secret.SecretBox(k).decrypt(base64.b64decode(doc["ciphertext"]), base64.b64decode(doc["cipher"]["nonce"]))
    return serialization.load_der_private_key(der, password=None)


class Registry:
    def __init__(self, host, repo):
        scheme = "http" if host.startswith(("127.", "localhost")) else "https"
        self.base, self.repo = "%s://%s/v2/%s" % (scheme, host, repo), repo

    def req(self, method, path, data=None, headers=None):
        url = path if path.startswith("http") else self.base + path
        r = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(r) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def manifest(self, reference):
        st, h, body = self.req("GET", "/manifests/" + reference, headers={"Accept": ACCEPT})
        if st == 404:
            return None
        if st != 200:
            sys.exit("sigstore-sign: manifest %s: HTTP %d %s" % (reference, st, body[:200]))
        return body

    def blob(self, digest):
        st, _, body = self.req("GET", "/blobs/" + digest)
        if st != 200:
            sys.exit("sigstore-sign: blob %s: HTTP %d" % (digest, st))
        return body

    def put_blob(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        st, h, body = self.req("POST", "/blobs/uploads/")
        if st != 202:
            sys.exit("sigstore-sign: upload start: HTTP %d %s" % (st, body[:200]))
        loc = h["Location"]
        if not loc.startswith("http"):
            loc = self.base.split("/v2/")[0] + loc
        st, _, body = self.req("PUT", loc + ("&" if "?" in loc else "?") + "digest=" + digest, data,
                               {"Content-Type": "application/octet-stream"})
        if st != 201:
            sys.exit("sigstore-sign: upload %s: HTTP %d %s" % (digest, st, body[:200]))
        return {"digest": digest, "size": len(data)}

    def put_manifest(self, reference, data):
        st, _, body = self.req("PUT", "/manifests/" + reference, data, {"Content-Type": OCI_MANIFEST})
        if st != 201:
            sys.exit("sigstore-sign: manifest %s: HTTP %d %s" % (reference, st, body[:300]))


def sign(args):
    passphrase = open(args.passphrase_file, "rb").read()
    key = load_key(args.key, passphrase)
    host, _, rest = args.reference.partition("/")
    repo, _, tag = rest.rpartition(":")
    reg = Registry(host, repo)
    body = reg.manifest(tag)
    if body is None:
        sys.exit("sigstore-sign: %s not found" % args.reference)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    payload = json.dumps({
        "critical": {"identity": {"docker-reference": args.identity or args.reference},
                     "image": {"docker-manifest-digest": args.digest or digest},
                     "type": "cosign container image signature"},
        "optional": {"creator": "liftoff hack/sigstore-sign.py", "timestamp": int(time.time())},
    }, separators=(",", ":")).encode()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    else:
        signature = key.sign(payload)
    if args.corrupt:
        payload = payload.replace(b'"critical"', b'"critical" ', 1)
    attachment = digest.replace(":", "-", 1) + ".sig"
    existing = reg.manifest(attachment)
    if existing:
        manifest = json.loads(existing)
        config = json.loads(reg.blob(manifest["config"]["digest"]))
    else:
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}
        config = {"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}
    layer = reg.put_blob(payload)
    manifest["layers"].append({"mediaType": PAYLOAD_TYPE, "digest": layer["digest"], "size": layer["size"],
                               "annotations": {ANNOTATION: base64.b64encode(signature).decode()}})
    config["rootfs"]["diff_ids"].append(layer["digest"])
    c = reg.put_blob(json.dumps(config).encode())
    manifest["config"] = {"mediaType": OCI_CONFIG, "digest": c["digest"], "size": c["size"]}
    reg.put_manifest(attachment, json.dumps(manifest).encode())
    print("%s/%s:%s" % (host, repo, attachment))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    k = sub.add_parser("keygen")
    k.add_argument("--type", choices=["ecdsa-p256", "ed25519"], required=True)
    k.add_argument("--passphrase-file", required=True)
    k.add_argument("out")
    s = sub.add_parser("sign")
    s.add_argument("--key", required=True)
    s.add_argument("--passphrase-file", required=True)
    s.add_argument("--identity")
    s.add_argument("--digest")
    s.add_argument("--corrupt", action="store_true")
    s.add_argument("reference")
    a = p.parse_args()
    if a.command == "keygen":
        keygen(a.type, open(a.passphrase_file, "rb").read(), a.out)
    else:
        sign(a)


if __name__ == "__main__":
    main()
