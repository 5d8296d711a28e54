"""A CRI client for hack/ scripts: runtime.v1 over a Unix socket with Debian's python3-grpcio.

The message classes are generated from proto/runtime/v1/api.proto with protoc (protobuf-compiler, the
same 3.21 as python3-protobuf) into a temporary directory on every run; nothing generated is kept.
Calls go through grpc's generic unary/stream callables, so no grpc protoc plugin is needed:

    pb = load()
    c = Client(pb, "/run/liftoff/cri.sock")
    c.rt("ListPodSandbox", pb.ListPodSandboxRequest())
    c.img("PullImage", pb.PullImageRequest(image=pb.ImageSpec(image="...")))
"""
import importlib, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "proto")


def load():
    out = tempfile.mkdtemp(prefix="liftoff-cri-client-")
    subprocess.run(["protoc", f"-I{PROTO}", f"--python_out={out}", os.path.join(PROTO, "runtime", "v1", "api.proto")],
                   check=True)
    sys.path.insert(0, out)
    return importlib.import_module("runtime.v1.api_pb2")


class Client:
    """One channel (one HTTP/2 connection), as kubelet holds one."""

    def __init__(self, pb, socket, timeout=60):
        import grpc
        self.grpc, self.pb, self.timeout = grpc, pb, timeout
        self.channel = grpc.insecure_channel("unix://" + socket)
        self.calls = {}

    def _call(self, service, method, request, timeout):
        key = (service, method)
        call = self.calls.get(key)
        if call is None:
            m = self.pb.DESCRIPTOR.services_by_name[service].methods_by_name[method]
            out = getattr(self.pb, m.output_type.name)
            path = f"/runtime.v1.{service}/{method}"
            kind = self.channel.unary_stream if m.server_streaming else self.channel.unary_unary
            call = kind(path, request_serializer=lambda r: r.SerializeToString(), response_deserializer=out.FromString)
            self.calls[key] = call
        return call(request, timeout=timeout or self.timeout)

    def rt(self, method, request, timeout=None):
        return self._call("RuntimeService", method, request, timeout)

    def img(self, method, request, timeout=None):
        return self._call("ImageService", method, request, timeout)

    def close(self):
        self.channel.close()
