// How `liftoff run|prepare|app add` find an image by name: a rootfs directory path is used as it is
// (RootfsDirectoryResolver), anything else is looked up in the image store under `--dir` — by name,
// by ID or by unique ID prefix, as `liftoff image list` shows them. `run` and `prepare` fetch an image
// that is not in the store, as rkt did (`--pull-policy new`, the default; `update` fetches every time,
// `never` does not): liftoff links no registry code, so it runs `liftoff-image fetch NAME` beside it,
// with the global flags, the fetch's errors and progress bar on this stderr, and resolves the ID it
// prints. Elsewhere (`app add`, which the CRI service runs after pulling through ImageService) an image
// not in the store is an error that says to fetch it first. A store image must also pass the trust
// policy in `--trust-dir` as it stands now (LiftoffCatalog TrustRecord.swift): what its pull verified,
// held against the rule for the name it is run by (a fetch here is held to the same policy).
import Foundation
import LiftoffCore
import LiftoffCatalog
import ArgumentParser
import LiftoffOS
import LiftoffPod

struct StoreImageResolver: ImageResolving {
  let dir: String
  let trustDir: String
  /// How run and prepare fetch (nil: never).
  var fetch: ImageFetch?

  func resolve(_ name: String) throws(LiftoffError) -> ResolvedImage {
    let stripped = name.hasPrefix("docker://") ? String(name.dropFirst("docker://".count)) : name
    if let fetch, fetch.policy == .update {
      return try lookUp(try fetch.run(name, dir: dir, trustDir: trustDir), as: stripped)
    }
    do {
      return try lookUp(stripped, as: stripped)
    } catch let e where e.code == .notFound {
      guard let fetch, fetch.policy == .new else { throw e }
      return try lookUp(try fetch.run(name, dir: dir, trustDir: trustDir), as: stripped)
    }
  }

  /// The store image `nameOrID` names, if the trust policy accepts it as `name` (the name it is run by).
  func lookUp(_ nameOrID: String, as name: String) throws(LiftoffError) -> ResolvedImage {
    do {
      let catalog = ImageCatalog(root: dir + "/images")
      let image = try catalog.resolve(nameOrID)
      try catalog.enforceTrust(trustDir: trustDir, imageID: image.id, spec: name)
      return image
    } catch let e as LiftoffError {
      if e.code == .notFound {
        throw .notFound("image \(name) is not in the image store at \(dir)/images: run `liftoff fetch \(name)` first")
      }
      throw e
    } catch {
      throw .init(.internal, "image \(name): \(error)")
    }
  }
}

extension Globals {
  /// Rootfs directories first, then the image store (fetching into it as `fetch` says).
  var imageResolver: any ImageResolving { RootfsDirectoryResolver(fallback: StoreImageResolver(dir: dir, trustDir: trustDir, fetch: fetch)) }
}

/// rkt's `--pull-policy`: when run and prepare fetch an image.
enum PullPolicy: String, ExpressibleByArgument, Sendable {
  /// Fetch only what is not in the store (rkt's default).
  case new
  /// Fetch every time (a tag may have moved).
  case update
  /// Never fetch: an image not in the store is an error.
  case never
}

/// How `liftoff-image fetch` is run for run and prepare: the policy and the global flags it needs.
struct ImageFetch: Sendable {
  var policy: PullPolicy
  var registryConfigDir: String
  var insecureOptions: String?

  /// Runs `liftoff-image --dir DIR … fetch --no-progress? NAME` and returns the image ID it printed.
  func run(_ name: String, dir: String, trustDir: String) throws(LiftoffError) -> String {
    let tool = try ImageTool.path()
    var argv = [tool, "--dir", dir, "--registry-config-dir", registryConfigDir, "--trust-dir", trustDir]
    if let insecureOptions { argv += ["--insecure-options", insecureOptions] }
    argv += ["fetch", name]
    let (status, output) = try ChildOutput.run(argv)
    let id = output.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
    guard status == 0, id.hasPrefix("sha256:") else {
      throw .init(.notFound, "image \(name) is not in the image store at \(dir)/images and fetching it failed (liftoff-image exited with status \(status))")
    }
    return id
  }
}

/// Runs a program with stdout into a pipe (stdin and stderr are this process's): exit status and output.
enum ChildOutput {
  static func run(_ argv: [String]) throws(LiftoffError) -> (Int32, String) {
    var child = Subprocess(executable: argv[0], argv: argv, env: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" })
    child.stdin = .inherit
    child.stdout = .capture(limit: 1 << 20)
    child.stderr = .inherit
    let result: Subprocess.Result
    do { result = try child.run() } catch where error.call == "posix_spawn" {
      throw .init(.failedPrecondition, "cannot run \(argv[0]): \(errnoDescription(error.errno))")
    } catch {
      throw .init(.internal, "pipe for liftoff-image's output", cause: error)
    }
    return (result.status, String(decoding: result.stdout, as: UTF8.self))
  }
}
