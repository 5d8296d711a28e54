import LiftoffCore
import Testing

@Suite struct AppResourcesTests {
  @Test func mergeKeepsWhatIsNotGivenAndSwapsQuotaKinds() {
    let old = AppResources(memoryBytes: 64 << 20, cpuMillis: 500, pidsMax: 10, hugepageLimits: [.init(pageSize: "2MB", limitBytes: 1)])
    let m = old.merged(with: AppResources(cpuQuotaUs: 20_000, hugepageLimits: [.init(pageSize: "2MB", limitBytes: 2)]))
    #expect(m.memoryBytes == 64 << 20 && m.pidsMax == 10)
    #expect(m.cpuMillis == nil && m.effectiveCPUQuotaUs == 20_000 && m.effectiveCPUPeriodUs == 100_000)
    #expect(m.hugepageLimits == [.init(pageSize: "2MB", limitBytes: 2)])
    let back = m.merged(with: AppResources(cpuMillis: 250))
    #expect(back.cpuQuotaUs == nil && back.effectiveCPUQuotaUs == 25_000)
    #expect(AppResources(cpuMillis: 500, cpuPeriodUs: 10_000).effectiveCPUQuotaUs == 5_000)
  }

  @Test func validateNamesTheField() {
    func message(_ r: AppResources) -> String {
      do {
        try r.validate(in: "app x")
        return ""
      } catch { return error.message }
    }
    #expect(message(AppResources(memoryBytes: 1 << 20)).contains("4 MiB"))
    #expect(message(AppResources(memorySwapBytes: 1 << 30)).contains("needs a memory limit"))
    #expect(message(AppResources(memoryBytes: 1 << 30, memorySwapBytes: 1 << 29)).contains("below the memory limit"))
    #expect(message(AppResources(cpuPeriodUs: 10)).contains("cpu period"))
    #expect(message(AppResources(cpuQuotaUs: 5)).contains("cpu quota"))
    #expect(message(AppResources(cpusetCpus: "1-0")).contains("cpuset cpus"))
    #expect(message(AppResources(cpusetMems: "a")).contains("cpuset mems"))
    #expect(message(AppResources(hugepageLimits: [.init(pageSize: "2M", limitBytes: 1)])).contains("hugepage size 2M"))
    #expect(message(AppResources(memoryBytes: 1 << 30, cpuShares: 2, memorySwapBytes: -1, cpusetCpus: "0-1,3")) == "")
  }

  @Test func jsonRoundTrip() throws {
    let r = AppResources(
      memoryBytes: 1 << 30, cpuMillis: nil, pidsMax: 5, cpuShares: 100, cpuPeriodUs: 1000, cpuQuotaUs: -1,
      memorySwapBytes: 2 << 30, cpusetCpus: "0", cpusetMems: "0", hugepageLimits: [.init(pageSize: "1GB", limitBytes: 1 << 30)])
    let back = try AppResources(json: try JSON.parse(r.json.serialized()), in: "test")
    #expect(back == r)
    #expect(try AppResources(json: try JSON.parse("{}"), in: "test") == AppResources())
  }
}
