// Port-forward sessions (portforward.k8s.io), on SPDY over TCP or SPDY inside a WebSocket
// (SPDY/3.1+portforward.k8s.io). Per forwarded connection the client opens two streams with the same
// `requestID` header and the `port` header: streamType=error, then streamType=data. When both are open
// the backend connects to the port; data flows both ways on the data stream (each side half-closes
// with FIN); a failure is written as text on the error stream; then both streams end. Many pairs, for
// several ports, run at once in one session. A client without requestID (before Kubernetes 1.6) gets
// kubelet's fallback: the pair is error stream N and data stream N+2.
import LiftoffCore
import Logging

struct PortForwardSession: Sendable {
  let request: StreamRequest.PortForwardRequest
  let backend: any StreamingBackend
  let log: Logger

  func run(_ spdy: SPDYConnection) async {
    await withTaskGroup(of: Void.self) { group in
      var pending: [String: (data: SPDYStream?, error: SPDYStream?)] = [:]
      for await stream in spdy.incoming {
        guard let type = stream.streamType, type == "data" || type == "error" else {
          log.debug("port-forward: unexpected stream type", metadata: ["type": "\(stream.streamType ?? "")"])
          await stream.reset()
          continue
        }
        let requestID = stream.headers["requestid"] ?? String(type == "error" ? stream.id : stream.id &- 2)
        var pair = pending[requestID] ?? (nil, nil)
        if type == "data" { pair.data = stream } else { pair.error = stream }
        if let data = pair.data, let error = pair.error {
          pending[requestID] = nil
          group.addTask { await self.forward(data: data, error: error) }
        } else {
          pending[requestID] = pair
        }
      }
      for (_, pair) in pending {
        await pair.data?.reset()
        await pair.error?.reset()
      }
    }
  }

  private func forward(data: SPDYStream, error errorStream: SPDYStream) async {
    let portText = data.headers["port"] ?? ""
    guard let port = UInt16(portText), port > 0 else {
      try? await errorStream.write(Array("invalid port \"\(portText)\": must be an integer in 1-65535".utf8))
      await errorStream.closeWrite()
      await data.closeWrite()
      return
    }
    let stream = PortForwardStream(
      inbound: RemoteCommandSession.inbound(of: data),
      outbound: OutputSink { try await data.write($0) },
      closeOutbound: { await data.closeWrite() })
    do {
      try await backend.portForward(podSandboxID: request.podSandboxID, port: port, stream: stream)
    } catch {
      // kubelet's wording, which kubectl prints as it is.
      let message = "error forwarding port \(port) to pod \(request.podSandboxID), uid : \(error)"
      log.info("port-forward failed", metadata: ["port": "\(port)", "error": "\(error)"])
      try? await errorStream.write(Array(message.utf8))
    }
    await data.closeWrite()
    await errorStream.closeWrite()
  }
}
