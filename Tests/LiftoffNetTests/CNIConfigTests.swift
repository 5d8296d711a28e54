// Pure logic of configuration loading and of what a plugin is handed.
import Foundation
import LiftoffCore
import Testing

@testable import LiftoffNet

@Suite struct CNIConfigTests {
  @Test func lexicallyFirstFileWinsAcrossExtensions() throws {
    let dir = try TestSupport.tempDir("conf")
    defer { TestSupport.remove(dir) }
    try TestSupport.write(#"{"cniVersion":"1.0.0","name":"b-net","plugins":[{"type":"bridge"}]}"#, to: dir + "/20-b.conflist")
    try TestSupport.write(#"{"cniVersion":"1.0.0","name":"a-net","type":"ptp","ipam":{"type":"host-local"}}"#, to: dir + "/10-a.conf")
    try TestSupport.write("garbage", to: dir + "/05-ignored.txt")
    try TestSupport.write("garbage", to: dir + "/.00-hidden.conflist")
    let list = try #require(try CNIConfigLoader.load(dir: dir))
    #expect(list.name == "a-net")
    #expect(list.plugins.count == 1)
    #expect(list.plugins[0].type == "ptp")
    #expect(list.plugins[0].ipamType == "host-local")
    #expect(list.source == dir + "/10-a.conf")
  }

  @Test func missingOrEmptyDirectoryHasNoConfig() throws {
    #expect(try CNIConfigLoader.load(dir: "/nonexistent/liftoff-\(TestSupport.suffix())") == nil)
    let dir = try TestSupport.tempDir("empty")
    defer { TestSupport.remove(dir) }
    #expect(try CNIConfigLoader.load(dir: dir) == nil)
  }

  @Test(arguments: [
    (#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#, "\"plugins\" is empty"),
    (#"{"cniVersion":"9.9.9","name":"n","plugins":[{"type":"x"}]}"#, "cniVersion \"9.9.9\" is not supported"),
    (#"{"name":"n","plugins":[{"type":"x"}]}"#, "missing string field \"cniVersion\""),
    (#"{"cniVersion":"1.0.0","name":"-bad","plugins":[{"type":"x"}]}"#, "network name \"-bad\""),
    (#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../../bin/sh"}]}"#, "plugins[0]: plugin type \"../../bin/sh\" must be a file name"),
    (#"{"cniVersion":"1.0.0","name":"n","plugins":[{"bridge":"x"}]}"#, "plugins[0]: missing string field \"type\""),
    (#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"x","capabilities":{"portMappings":"yes"}}]}"#, "capabilities.portMappings must be true or false"),
    (#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"x"}],"disableCheck":7}"#, "\"disableCheck\" must be true or false"),
    (#"{"cniVersion":"1.0.0", "name": "#, "invalid json"),
  ])
  func invalidConfigsNameTheFileAndTheProblem(json: String, expected: String) throws {
    let dir = try TestSupport.tempDir("bad")
    defer { TestSupport.remove(dir) }
    let file = dir + "/99-bad.conflist"
    try TestSupport.write(json, to: file)
    let error = try #require(throws: LiftoffError.self) { try CNIConfigLoader.load(dir: dir) }
    #expect(error.code == .invalidArgument)
    #expect(error.message.contains(file), "\(error.message)")
    #expect(error.message.contains(expected), "\(error.message)")
  }

  @Test func pluginConfigGetsNameVersionDeclaredCapabilitiesAndPrevResult() throws {
    let list = try CNINetworkConfigList(
      json: [
        "cniVersion": "1.0.0", "name": "net1",
        "plugins": [
          ["type": "bridge", "mtu": 1500, "name": "overridden"],
          ["type": "portmap", "capabilities": ["portMappings": true, "bandwidth": false]],
        ],
      ], source: "test")
    let request = PodNetworkRequest(
      containerID: "abc", netnsPath: "/run/netns/x", podNamespace: "ns", podName: "pod", podUID: "uid",
      portMappings: [.init(hostPort: 8080, containerPort: 80, hostIP: "127.0.0.1")],
      bandwidth: .init(ingressRate: 1, ingressBurst: 2, egressRate: 3, egressBurst: 4))
    let first = CNIManager.pluginConfig(
      list.plugins[0], list: list, capabilityArgs: request.capabilityArgs, prevResult: nil)
    #expect(first["name"] == "net1")
    #expect(first["cniVersion"] == "1.0.0")
    #expect(first["mtu"] == .int(1500))
    #expect(first["runtimeConfig"] == nil)
    #expect(first["prevResult"] == nil)
    let prev: JSON = ["cniVersion": "1.0.0", "ips": [["address": "10.0.0.2/24"]]]
    let second = CNIManager.pluginConfig(
      list.plugins[1], list: list, capabilityArgs: request.capabilityArgs, prevResult: prev)
    #expect(second["prevResult"] == prev)
    #expect(
      second["runtimeConfig"]
        == ["portMappings": [["hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"]]])
    // Integral numbers stay integral on the wire.
    #expect(first.serialized().contains("\"mtu\":1500"))
  }

  @Test func cniArgsCarryTheKubernetesPodIdentity() throws {
    let r = PodNetworkRequest(
      containerID: "c0ffee", netnsPath: "/run/netns/x", podNamespace: "default", podName: "web", podUID: "u-1")
    #expect(
      r.cniArgs
        == "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=u-1"
    )
    try r.validate()
    var bad = r
    bad.podName = "a;b=c"
    #expect(throws: LiftoffError.self) { try bad.validate() }
    bad = r
    bad.containerID = "../etc"
    #expect(throws: LiftoffError.self) { try bad.validate() }
    bad = r
    bad.portMappings = [.init(hostPort: 0, containerPort: 80)]
    #expect(throws: LiftoffError.self) { try bad.validate() }
  }

  @Test func resultListsPodAddressesIPv4First() throws {
    let r = try CNIResult(
      json: [
        "cniVersion": "1.0.0",
        "interfaces": [["name": "br0"], ["name": "eth0", "sandbox": "/run/netns/p"]],
        "ips": [
          ["address": "fd00::5/64", "interface": 1], ["address": "10.0.0.5/24", "interface": 1],
          ["address": "10.9.9.9/24", "interface": 0],
        ],
      ], source: "test")
    let pn = PodNetworkStatus(networkName: "n", interfaceName: "eth0", result: r)
    #expect(pn.ips == ["10.0.0.5", "fd00::5"])
    #expect(pn.primaryIP == "10.0.0.5")
    #expect(pn.additionalIPs == ["fd00::5"])
    #expect(throws: LiftoffError.self) {
      try CNIResult(json: ["ips": [["address": "not-an-ip"]]], source: "test")
    }
  }

  @Test func embeddedDefaultNetworkHasNoMasqueradeUnlessAsked() throws {
    let list = try DefaultNetwork().configList()
    #expect(list.name == "liftoff")
    #expect(list.plugins.map(\.type) == ["bridge", "portmap", "loopback"])
    #expect(list.plugins[0].fields["bridge"] == "liftoff0")
    #expect(list.plugins[0].fields["ipMasq"] == false)
    #expect(list.plugins[0].ipamType == "host-local")
    #expect(list.plugins[1].capabilities == ["portMappings"])
    let masq = try DefaultNetwork(ipMasq: true).configList()
    #expect(masq.plugins[0].fields["ipMasq"] == true)
    #expect(throws: LiftoffError.self) { try DefaultNetwork(subnet: "10.88.0.0").configList() }
    #expect(throws: LiftoffError.self) { try DefaultNetwork(bridge: "a-very-long-bridge-name").configList() }
  }

  @Test func podCIDRReplacesTheDefaultSubnet() throws {
    let m = CNIManager(settings: CNISettings(confDir: "/nonexistent/\(TestSupport.suffix())"))
    try m.setPodCIDR("10.244.3.0/24")
    let list = try #require(try m.currentConfig())
    #expect(list.plugins[0].fields["ipam"]?["ranges"] == [[["subnet": "10.244.3.0/24"]]])
    #expect(throws: LiftoffError.self) { try m.setPodCIDR("banana") }
  }
}
